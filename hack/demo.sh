#!/usr/bin/env bash
# The demo: brings up the local environment, installs the CRDs, runs the operator (in the
# background, logs in .devenv/logs/operator.log) and applies the minimal MemoryCluster sample,
# then shows what the operator built. `make devenv-down` stops everything, the operator too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/devenv/lib.sh"
cd "$DEVENV_ROOT"
bash hack/devenv/up.sh
source "$STATE/env"
export PATH="$DEVENV_ROOT/node_modules/.bin:$PATH"
ns=engram-demo

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
kubectl create namespace engram-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

if ! running operator; then
  log "starting the operator (out of cluster; managed Kafka is reached at $KAFKA_BROKERS)"
  setsid node operator/main.ts run --namespaces "$ns" --leader-election-namespace engram-system \
    --managed-kafka-address "$KAFKA_BROKERS" --metrics-bind-address 127.0.0.1:18080 \
    --health-probe-bind-address 127.0.0.1:18081 >"$LOGS/operator.log" 2>&1 </dev/null &
  echo $! >"$PIDS/operator.pid"
fi
until curl -sf http://127.0.0.1:18081/readyz >/dev/null; do
  running operator || fail_with_log operator "exited during start"
  sleep 0.5
done

log "kubectl apply -f config/samples/memorycluster-minimal.yaml"
kubectl apply -n "$ns" -f config/samples/memorycluster-minimal.yaml
kubectl wait -n "$ns" --for=condition=Ready --timeout=120s mc/demo
echo
kubectl get -n "$ns" memoryclusters
echo
kubectl get -n "$ns" statefulsets,services,pods,pdb,networkpolicies
echo
echo "topics on the broker:"
kubectl get -n "$ns" mc/demo -o jsonpath='{range .status.topics[*]}  {.name} ({.partitions} partitions){"\n"}{end}'
echo
log "demo up: operator metrics at http://127.0.0.1:18080/metrics; stop everything with make devenv-down"
