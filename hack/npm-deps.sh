#!/usr/bin/env bash
# Installs npm dependencies (the lock file pins them) only when package-lock.json changed since the last install (a stamp in
# node_modules), so `make` targets stay fast on a warm clone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.engram-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x node_modules/.bin/node ]]; then
  exit 0
fi
echo "[deps] npm ci (exactly package-lock.json)" >&2
# The lock file lists every platform's optional packages (biome's binaries), so npm ci neither
# fails nor rewrites it: a fresh clone stays clean.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
