#!/usr/bin/env bash
# `make test`'s test run: every unit and integration test in node's runner, in two groups. Tests that
# stop or restart servers of the shared local environment (the control plane, the broker) run one
# at a time, last, and so do the tests that own the one APIService of external.metrics.k8s.io; all
# others run two files at a time. Prints one closing line: N passed, N failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# topic-ownership: next to tenantmemory.test.ts its clusters' topic calls time out (two runs of
# 2026-12-03); alone it takes ~15 s.
disruptive=(test/devenv/devenv.test.ts test/operator/memorycluster.test.ts test/operator/faults.test.ts
  test/operator/external-metrics.test.ts test/operator/workerpool-autoscaling.test.ts
  test/operator/topic-ownership.test.ts)
mapfile -t all < <(find operator runtime hack test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
shared=()
for f in "${all[@]}"; do
  [[ " ${disruptive[*]} " == *" $f "* ]] || shared+=("$f")
done

tap=$(mktemp -d)
trap 'rm -rf "$tap"' EXIT
run() {
  local name=$1 concurrency=$2
  shift 2
  node --test --test-concurrency="$concurrency" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap/$name.tap" "$@"
}
status=0
run shared "${TEST_CONCURRENCY:-2}" "${shared[@]}" || status=1
run disruptive 1 "${disruptive[@]}" || status=1

count() { cat "$tap"/*.tap | sed -n "s/^# $1 \([0-9]*\)$/\1/p" | awk '{s += $1} END {print s + 0}'; }
echo "$(count pass) passed, $(count fail) failed"
exit $status
