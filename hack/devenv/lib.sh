# Shared settings of the local environment: pinned versions, cache and state paths, ports.
# Sourced by up.sh, down.sh and build.sh; every value can be overridden from the environment.

DEVENV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export DEVENV_ROOT

# Pinned versions: the cache is keyed by them, so bumping one rebuilds only that part.
K8S_VERSION=1.34.4   # k8s.io/kubernetes on the Go module proxy (1.34.5+ lack staging modules there)
KWOK_VERSION=0.8.0
KAFKA_VERSION=3.9.0
NEO4J_VERSION=5.26.0

ENGRAM_CACHE=${ENGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram}
K8S_BIN=$ENGRAM_CACHE/k8s-v$K8S_VERSION/bin
KWOK_BIN=$ENGRAM_CACHE/kwok-v$KWOK_VERSION/bin
KAFKA_HOME=$ENGRAM_CACHE/kafka-$KAFKA_VERSION
NEO4J_HOME=$ENGRAM_CACHE/neo4j-$NEO4J_VERSION
NEO4J_SRC=$DEVENV_ROOT/hack/devenv/neo4j/src/Neo4jServer.java
NEO4J_CLASSES=$NEO4J_HOME/classes-$(sha256sum "$NEO4J_SRC" | cut -c1-12)

STATE=${DEVENV_STATE:-$DEVENV_ROOT/.devenv}
LOGS=$STATE/logs
PIDS=$STATE/pids
DATA=$STATE/data
PKI=$STATE/pki

# Fixed loopback ports, each overridable (ENGRAM_<NAME>_PORT). ENGRAM_PORT_OFFSET shifts every
# default at once, so a second environment (another clone, a cold-build measurement) runs beside.
# A running environment remembers its offset, so every later command (tests restarting a
# component, make devenv-down) finds the same ports without the variable set again.
if [[ -z ${ENGRAM_PORT_OFFSET:-} && -f $STATE/port-offset ]]; then ENGRAM_PORT_OFFSET=$(cat "$STATE/port-offset"); fi
OFFSET=${ENGRAM_PORT_OFFSET:-0}
ETCD_PORT=${ENGRAM_ETCD_PORT:-$((23790 + OFFSET))}
ETCD_PEER_PORT=${ENGRAM_ETCD_PEER_PORT:-$((23800 + OFFSET))}
APISERVER_PORT=${ENGRAM_APISERVER_PORT:-$((26443 + OFFSET))}
KCM_PORT=${ENGRAM_KCM_PORT:-$((26257 + OFFSET))}
SCHEDULER_PORT=${ENGRAM_SCHEDULER_PORT:-$((26259 + OFFSET))}
KWOK_PORT=${ENGRAM_KWOK_PORT:-$((26280 + OFFSET))}
KAFKA_PORT=${ENGRAM_KAFKA_PORT:-$((29092 + OFFSET))}
KAFKA_CONTROLLER_PORT=${ENGRAM_KAFKA_CONTROLLER_PORT:-$((29093 + OFFSET))}
NEO4J_PORT=${ENGRAM_NEO4J_PORT:-$((27687 + OFFSET))}
REDIS_PORT=${ENGRAM_REDIS_PORT:-$((26379 + OFFSET))}
# The demo's operator and runtime processes (metrics, health, gateway).
DEMO_PORT_BASE=${ENGRAM_DEMO_PORT_BASE:-$((18080 + OFFSET))}

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kafka neo4j redis)

log() { printf '[devenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# A component is running when its pid file names a live process.
running() {
  local pidfile=$PIDS/$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Print a failed component's log tail and stop.
fail_with_log() {
  local name=$1 why=$2
  log "ERROR: $name $why; last lines of $LOGS/$name.log:"
  tail -n 40 "$LOGS/$name.log" >&2 || true
  exit 1
}
