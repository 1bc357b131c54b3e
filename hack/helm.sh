#!/usr/bin/env bash
# Prints the path of a helm binary, building it once from the Go module proxy into the cache
# (outside the clone): ~/.cache/engram/helm-<version>/bin/helm. Run: bash hack/helm.sh
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-4.3.2} # newest helm.sh/helm/v4 on proxy.golang.org when pinned
ENGRAM_CACHE=${ENGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram}
dir=$ENGRAM_CACHE/helm-v$HELM_VERSION
bin=$dir/bin/helm
if [[ ! -x $bin ]]; then
  command -v go >/dev/null || {
    echo "hack/helm.sh: go not found: install Go >= 1.26 (helm v$HELM_VERSION is built from the Go module proxy)" >&2
    exit 1
  }
  echo "hack/helm.sh: building helm v$HELM_VERSION from the Go module proxy (a few minutes, once)" >&2
  mkdir -p "$dir"
  # A lock: two clones building at once would race on the same directory.
  exec 9>"$dir/.lock"
  flock 9
  if [[ ! -x $bin ]]; then
    rm -rf "$dir/bin.tmp"
    (cd /tmp && CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOBIN=$dir/bin.tmp \
      go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION") >&2
    rm -rf "$dir/bin" && mv "$dir/bin.tmp" "$dir/bin"
  fi
fi
echo "$bin"
