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
echo "[deps] npm install (from package-lock.json)" >&2
# `npm ci` trips over the lock file's omitted foreign-platform optional deps (biome) with npm 11.
npm install --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
