#!/usr/bin/env bash
# `make demo`: the whole product on this machine in one command (hack/demo.ts: step by step, each
# failure names its step and its log under .devenv/logs/<namespace>/). `make demo-down` undoes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec node hack/demo.ts "$@"
