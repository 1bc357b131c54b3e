#!/usr/bin/env bash
# `make images`: builds localhost/engram-operator and localhost/engram-runtime from the Dockerfiles
# with buildah on the local base (hack/images/base.sh), no Docker engine and no Docker Hub.
# An image is rebuilt only when its inputs change (Dockerfile, package files, sources, base): the
# hash of those is the image's dev.engram.inputs label. Layers live in the store under $IMAGES_CACHE.
#   build.sh [operator] [runtime] [runtime-gpu]     (default: operator runtime)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IMAGES_ROOT"

bash hack/images/prereqs.sh
images_lock
base=$(bash hack/images/base.sh)
base_id=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$base")
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*$/\1/p' package.json | head -n1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)
source_url=$(git remote get-url origin 2>/dev/null || true)
ort_version=$(node -p 'require("./package-lock.json").packages["node_modules/onnxruntime-node"].version')

# Behind a TLS-intercepting proxy (this sandbox), npm in the build needs the machine's CA bundle.
ca_args=()
ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [[ -n $ca && $ca != null && -f $ca ]]; then
  ca_args=(-v "$ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi

# The files a build reads (its context minus .dockerignore's exclusions), tracked or not.
context_files() { git ls-files -co --exclude-standard -- package.json package-lock.json .npmrc .dockerignore "$@" | grep -v '\.test\.ts$' | sort; }

# build <image> <Dockerfile> <extra hash input> <buildah args...> <context dirs...>
build() {
  local image=$1 dockerfile=$2 extra=$3
  shift 3
  local -a args=() dirs=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; dirs=("$@"); break; fi
    args+=("$1"); shift
  done
  local key
  key=$( (context_files "${dirs[@]}" | xargs sha256sum; sha256sum "$dockerfile"; echo "$base_id $revision $extra ${args[*]}") | sha256sum | cut -c1-16)
  local have
  have=$("${PODMAN[@]}" image inspect --format '{{index .Labels "dev.engram.inputs"}}' "$image" 2>/dev/null || true)
  if [[ $have == "$key" ]]; then
    log "$image is up to date (inputs $key)"
    return
  fi
  log "building $image (inputs $key)"
  local start=$SECONDS old
  old=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  "${BUILDAH[@]}" build --quiet "${BUILD_FLAGS[@]}" -f "$dockerfile" \
    --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" --build-arg "SOURCE=$source_url" \
    --label "dev.engram.inputs=$key" "${ca_args[@]}" "${args[@]}" -t "$image" . >/dev/null
  log "built $image in $((SECONDS - start)) s"
  # The superseded build goes (only it: the layer cache below it stays for the next build).
  [[ -z $old ]] || "${PODMAN[@]}" rmi "$old" >/dev/null 2>&1 || true
}

# The CUDA provider libraries of onnxruntime-node's own version, from PyPI's onnxruntime-gpu wheel
# (onnxruntime-node's installer fetches the same files from NuGet, which this machine cannot reach).
cuda_providers() {
  local dir=$IMAGES_CACHE/ort-cuda-$ort_version
  if [[ ! -f $dir/.complete ]]; then
    log "fetching onnxruntime-gpu==$ort_version from PyPI for the CUDA provider libraries"
    rm -rf "$dir" && mkdir -p "$dir/wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 "onnxruntime-gpu==$ort_version" -d "$dir/wheel" >&2
    python3 - "$dir" <<'PY'
import sys, zipfile, glob, os
d = sys.argv[1]
with zipfile.ZipFile(glob.glob(os.path.join(d, 'wheel', '*.whl'))[0]) as z:
    for name in ('libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'):
        with z.open(f'onnxruntime/capi/{name}') as src, open(os.path.join(d, name), 'wb') as dst:
            dst.write(src.read())
PY
    rm -rf "$dir/wheel"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

targets=("$@")
((${#targets[@]})) || targets=(operator runtime)
for t in "${targets[@]}"; do
  case $t in
    operator) build "$OPERATOR_IMAGE:$version" Dockerfile.operator "" -- operator runtime/contract tsconfig.json ;;
    # buildah 1.28 needs --skip-unused-stages=false for `FROM final-${VARIANT}` (see Dockerfile.runtime);
    # the unused GPU stages then build on the local base as no-ops.
    runtime) build "$RUNTIME_IMAGE:$version" Dockerfile.runtime "" --skip-unused-stages=false \
      --build-arg VARIANT=cpu --build-arg "CUDA_BASE_IMAGE=$base" -- runtime ;;
    runtime-gpu)
      cuda_base=${ENGRAM_CUDA_BASE_IMAGE:-docker.io/nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04}
      if ! skopeo inspect --retry-times 0 "docker://$cuda_base" >/dev/null 2>&1 && ! image_exists "$cuda_base"; then
        log "WARNING: $cuda_base is unreachable: building the GPU variant on $base instead (no CUDA libraries: it builds and refuses cuda with a clear error, it cannot run on a GPU)"
        cuda_base=$base
      fi
      providers=$(cuda_providers)
      build "$RUNTIME_IMAGE:$version-gpu" Dockerfile.runtime "$(cat "$providers"/*.so | sha256sum)" \
        --skip-unused-stages=false --build-arg VARIANT=gpu --build-arg "CUDA_BASE_IMAGE=$cuda_base" -v "$providers:/ort-cuda:ro" -- runtime
      ;;
    *) die "unknown image '$t': use operator, runtime or runtime-gpu" ;;
  esac
done
"${PODMAN[@]}" image ls --filter reference='localhost/engram-*' >&2
