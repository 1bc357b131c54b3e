#!/usr/bin/env bash
# Checks (and as root installs) what building and running the images needs, in seconds, before
# any long build: Debian's buildah, podman, skopeo, umoci, mmdebstrap and runc (crun cannot run
# on hybrid cgroups), plus the registries a cold build downloads from (apt mirror, npm).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

problems=()
need=()
declare -A DEBIAN=([buildah]=buildah [podman]=podman [skopeo]=skopeo [umoci]=umoci [mmdebstrap]=mmdebstrap
  [runc]=runc [conmon]=conmon [newuidmap]=uidmap [flock]=util-linux)
for cmd in "${!DEBIAN[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("${DEBIAN[$cmd]}")
done
if ((${#need[@]})); then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        problems+=("apt-get could not install ${need[*]}: install them, then run this again")
    fi
  else
    problems+=("missing Debian packages: run  sudo apt-get install -y ${need[*]}")
  fi
fi
# The base rootfs is made with mmdebstrap in root mode and the builds run rootful.
[[ $(id -u) -eq 0 ]] || problems+=("building the images needs root (mmdebstrap root mode, rootful buildah): run as root")
[[ -n $NODE_VERSION ]] || problems+=("cannot read the node version from package.json devDependencies")

reachable() { curl -sS -o /dev/null --max-time 8 "$1" 2>/dev/null; }
if [[ ! -f $IMAGES_CACHE/rootfs/.complete-$DEBIAN_SUITE ]]; then
  reachable "$DEBIAN_MIRROR/dists/$DEBIAN_SUITE/Release" ||
    problems+=("cannot reach the Debian mirror $DEBIAN_MIRROR: the base rootfs is built from it (set ENGRAM_DEBIAN_MIRROR)")
fi
registry=$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)
reachable "$registry" || problems+=("cannot reach the npm registry $registry: the image builds run npm ci")

if ((${#problems[@]})); then
  log "ERROR: this machine lacks what the image builds need:"
  for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
  exit 1
fi
