# Shared settings of the image builds (hack/images/*.sh): pinned versions, cache paths, and the
# podman/buildah flags that work in this sandbox. Every value can be overridden from the environment.
IMAGES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$IMAGES_ROOT/hack/devenv/lib.sh"
log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

DEBIAN_SUITE=${ENGRAM_DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${ENGRAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${ENGRAM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Node 24 LTS as package.json pins it; npm only for the build stage (`npm ci`).
NODE_VERSION=$(sed -n 's/^ *"node": *"\([0-9.]*\)".*$/\1/p' "$IMAGES_ROOT/package.json")
NPM_VERSION=11.21.2

# Everything built lives outside the clone: rootfs tarballs, containers storage, build contexts.
IMAGES_CACHE=${ENGRAM_IMAGES_CACHE:-$ENGRAM_CACHE/images}
IMAGES_STORAGE=$IMAGES_CACHE/storage
IMAGES_RUN=$IMAGES_CACHE/run
DEBIAN_IMAGE=localhost/engram-debian:$DEBIAN_SUITE
NODE_IMAGE=localhost/engram-node:$NODE_VERSION-$DEBIAN_SUITE
OPERATOR_IMAGE=localhost/engram-operator
RUNTIME_IMAGE=localhost/engram-runtime

# What works in this sandbox (a Firecracker VM, root without CAP_SYS_RESOURCE, hybrid cgroups v1+v2):
# - crun refuses hybrid cgroups ("drop all controllers from cgroupv2"): use runc;
# - the default rlimits (nofile 1048576, nproc) cannot be raised: pass the current hard nofile and
#   an nproc no higher than pid_max (runc is refused any nproc above it here, even a lowered one);
# - no systemd: cgroupfs cgroup manager, file events backend;
# - overlay storage works (vfs is not needed), in our own graph root under the cache;
# - --network=host for builds (npm registry) and runs (the local environment is on loopback).
# A separate storage root keeps these images out of any other podman user's store on the machine.
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
NPROC=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
[[ $NPROC == unlimited || $NPROC -gt $pid_max ]] && NPROC=$pid_max
STORAGE_FLAGS=(--root "$IMAGES_STORAGE" --runroot "$IMAGES_RUN" --storage-driver "${ENGRAM_STORAGE_DRIVER:-overlay}")
PODMAN=(podman "${STORAGE_FLAGS[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend file)
BUILDAH=(buildah "${STORAGE_FLAGS[@]}")
BUILD_FLAGS=(--runtime runc --force-rm --network host --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC" --layers)
RUN_FLAGS=(--network host --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

# One image build at a time on the machine (two clones share the store).
images_lock() {
  mkdir -p "$IMAGES_CACHE"
  exec 9>"$IMAGES_CACHE/.lock"
  flock 9
}

# Short content hash of files and strings: the cache key of a built image.
inputs_hash() { sha256sum "$@" | sha256sum | cut -c1-16; }

image_exists() { "${PODMAN[@]}" image exists "$1" 2>/dev/null; }
