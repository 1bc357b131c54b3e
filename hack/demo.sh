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
  setsid node --max-semi-space-size=2 operator/main.ts run --namespaces "$ns" --leader-election-namespace engram-system \
    --managed-kafka-address "$KAFKA_BROKERS" --metrics-bind-address "127.0.0.1:$DEMO_PORT_BASE" \
    --health-probe-bind-address "127.0.0.1:$((DEMO_PORT_BASE + 1))" >"$LOGS/operator.log" 2>&1 </dev/null &
  echo $! >"$PIDS/operator.pid"
fi
until curl -sf "http://127.0.0.1:$((DEMO_PORT_BASE + 1))/readyz" >/dev/null; do
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
# The runtime: gateway -> ingest -> embed as local processes on the demo cluster's topics.
model_dir=$(bash hack/model/build-model.sh | tail -n 1)
demo=$STATE/demo
mkdir -p "$demo/tenant-keys"
if [[ ! -f $demo/acme.key ]]; then
  (umask 077 && openssl rand -hex 24 >"$demo/acme.key")
fi
node -e 'const c=require("node:crypto");const k=require("node:fs").readFileSync(process.argv[1],"utf8").trim();process.stdout.write("sha256:"+c.createHash("sha256").update(k).digest("hex")+"\n")' \
  "$demo/acme.key" >"$demo/tenant-keys/acme"
prefix=$(kubectl get -n "$ns" mc/demo -o jsonpath='{.status.topicPrefix}')
export ENGRAM_CLUSTER=demo ENGRAM_TOPIC_PREFIX=$prefix ENGRAM_KAFKA_BROKERS=$KAFKA_BROKERS
export ENGRAM_NEO4J_URI=$NEO4J_URI ENGRAM_NEO4J_USER=$NEO4J_USER ENGRAM_NEO4J_PASSWORD=$NEO4J_PASSWORD
export ENGRAM_REDIS_URL=$REDIS_URL ENGRAM_MODEL_DIR=$model_dir ENGRAM_TENANT_KEYS_DIR=$demo/tenant-keys
gateway_port=$((DEMO_PORT_BASE + 10))
export ENGRAM_HTTP_PORT=$gateway_port
port=$((gateway_port + 1))
for role in gateway ingest embed; do
  if ! running "runtime-$role"; then
    log "starting engram-runtime $role"
    ENGRAM_METRICS_PORT=$port setsid node runtime/main.ts "$role" >"$LOGS/runtime-$role.log" 2>&1 </dev/null &
    echo $! >"$PIDS/runtime-$role.pid"
  fi
  port=$((port + 1))
done
until curl -sf "http://127.0.0.1:$((gateway_port + 1))/readyz" >/dev/null; do
  running runtime-gateway || fail_with_log runtime-gateway "exited during start"
  sleep 0.5
done
echo
node hack/demo-pipeline.ts "http://127.0.0.1:$gateway_port" "$demo/acme.key" acme "$model_dir"
echo
log "demo up: gateway http://127.0.0.1:$gateway_port (tenant acme, key in $demo/acme.key), operator metrics http://127.0.0.1:$DEMO_PORT_BASE/metrics"
log "stop everything with: make devenv-down"
