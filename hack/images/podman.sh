#!/usr/bin/env bash
# podman on the images' own store with the flags this sandbox needs (hack/images/lib.sh), e.g.
#   bash hack/images/podman.sh image ls
#   bash hack/images/podman.sh run --rm --read-only localhost/engram-runtime:0.1.0 env
# `run` and `create` also get --network host and rlimits the runtime can set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:-} in
  run | create) sub=$1; shift; exec "${PODMAN[@]}" "$sub" "${RUN_FLAGS[@]}" "$@" ;;
  *) exec "${PODMAN[@]}" "$@" ;;
esac
