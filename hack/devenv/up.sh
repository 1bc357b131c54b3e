#!/usr/bin/env bash
# Starts the local environment: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kwok (fake nodes and pods), an Apache Kafka broker (KRaft), Neo4j with Bolt, and Redis.
# Idempotent: a component already running is left alone. Writes .devenv/env (the contract
# other tools source) once everything answers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started_at=$(date +%s)
bash "$DEVENV_ROOT/hack/devenv/build.sh"
mkdir -p "$LOGS" "$PIDS" "$DATA" "$PKI"
echo "$OFFSET" >"$STATE/port-offset"

# start NAME PORT CMD...: refuses a busy port instead of reusing whatever listens there.
start() {
  local name=$1 port=$2
  shift 2
  if running "$name"; then
    log "$name already running (pid $(cat "$PIDS/$name.pid"))"
    return 0
  fi
  if [[ -n $port ]] && port_busy "$port"; then
    die "port $port for $name is busy (not ours): free it or set ENGRAM_$(echo "${name//-/_}" | tr a-z A-Z)_PORT"
  fi
  log "starting $name"
  # setsid: the component outlives this script and can be stopped as a process group.
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds, or fails with the log tail.
wait_for() {
  local name=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    running "$name" || fail_with_log "$name" "exited during start"
    ((SECONDS < deadline)) || fail_with_log "$name" "not ready after ${timeout}s"
    sleep 0.5
  done
}

# --- PKI: one throwaway CA, one admin/server certificate, one service-account key ---------
if [[ ! -f $PKI/admin.crt ]]; then
  log "creating certificates in $PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=engram-devenv-ca \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /O=system:masters/CN=admin \
    -keyout "$PKI/admin.key" -out "$PKI/admin.csr" 2>/dev/null
  cat >"$PKI/admin.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1
EOF
  openssl x509 -req -in "$PKI/admin.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/admin.ext" -out "$PKI/admin.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
# The aggregation layer's front proxy: its own CA (as kubeadm does) and the client certificate
# kube-apiserver presents to aggregated API servers (the operator's External Metrics API).
if [[ ! -f $PKI/front-proxy-client.crt ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=engram-devenv-front-proxy-ca \
    -keyout "$PKI/front-proxy-ca.key" -out "$PKI/front-proxy-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=front-proxy-client \
    -keyout "$PKI/front-proxy-client.key" -out "$PKI/front-proxy-client.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
    >"$PKI/front-proxy-client.ext"
  openssl x509 -req -in "$PKI/front-proxy-client.csr" -CA "$PKI/front-proxy-ca.crt" -CAkey "$PKI/front-proxy-ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/front-proxy-client.ext" -out "$PKI/front-proxy-client.crt" 2>/dev/null
fi
KUBECONFIG_FILE=$STATE/kubeconfig
b64() { base64 -w0 <"$1"; }
cat >"$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: engram-devenv
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: engram-devenv
  context: { cluster: engram-devenv, user: admin }
current-context: engram-devenv
EOF
mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
kc() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
https_ok() { curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$1"; }

# --- Kubernetes control plane -------------------------------------------------------------
start etcd "$ETCD_PORT" "$K8S_BIN/etcd" --name=n0 --data-dir="$DATA/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="n0=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync=true --quota-backend-bytes=4294967296
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$APISERVER_PORT" "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/admin.crt" --tls-private-key-file="$PKI/admin.key" --client-ca-file="$PKI/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=RBAC --allow-privileged=true \
  --disable-admission-plugins=ServiceAccount --cert-dir="$DATA/apiserver" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --audit-policy-file="$DEVENV_ROOT/hack/devenv/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" \
  --audit-log-maxsize=100 --audit-log-maxbackup=1
wait_for kube-apiserver 90 https_ok "https://127.0.0.1:$APISERVER_PORT/readyz"

# Every default controller runs, the HPA's with a 5 s sync for tests, all with the admin
# credentials (test/operator/external-metrics.test.ts checks the HPA ServiceAccount's RBAC by impersonation).
start kube-controller-manager "$KCM_PORT" "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$KUBECONFIG_FILE" --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --leader-elect=false --horizontal-pod-autoscaler-sync-period=5s --cert-dir="$DATA/kcm"
start kube-scheduler "$SCHEDULER_PORT" "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$KUBECONFIG_FILE" --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics --leader-elect=false
start kwok "" "$KWOK_BIN/kwok" --kubeconfig="$KUBECONFIG_FILE" --config="$KWOK_BIN/../stages.yaml" \
  --manage-all-nodes=true --cidr=10.244.0.0/16 --node-ip=127.0.0.1 --node-lease-duration-seconds=40

# --- Data servers (started while the control plane settles) --------------------------------
if [[ ! -f $DATA/kafka/server.properties ]]; then
  mkdir -p "$DATA/kafka"
  cat >"$DATA/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/kafka/logs
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
EOF
  cat >"$DATA/kafka/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
  java -cp "$KAFKA_HOME/lib/*" kafka.tools.StorageTool format -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" \
    -c "$DATA/kafka/server.properties" --ignore-formatted >"$LOGS/kafka-format.log" 2>&1 ||
    fail_with_log kafka-format "storage format failed"
fi
start kafka "$KAFKA_PORT" java -Xms256m -Xmx512m -XX:+UseG1GC -Dlog4j.configuration="file:$DATA/kafka/log4j.properties" \
  -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$DATA/kafka/server.properties"

if [[ ! -f $STATE/neo4j-password ]]; then
  (umask 077 && openssl rand -hex 16 >"$STATE/neo4j-password")
fi
NEO4J_PASSWORD=$(cat "$STATE/neo4j-password")
# The launcher reads the password from its file, so it shows in neither `ps` nor a log.
start neo4j "$NEO4J_PORT" java -Xms512m -Xmx1g \
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$NEO4J_HOME/lib/*:$NEO4J_CLASSES" \
  Neo4jServer "$DATA/neo4j" "$NEO4J_PORT" "$STATE/neo4j-password" 256m

start redis "$REDIS_PORT" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$DATA" --protected-mode yes

# --- Readiness --------------------------------------------------------------------------------
wait_for kube-controller-manager 60 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler 60 curl -skf "https://127.0.0.1:$SCHEDULER_PORT/healthz"
# Nodes kwok manages: two CPU nodes and one GPU node (tainted, as GPU pools usually are).
kc apply --server-side --field-manager=engram-devenv -f "$DEVENV_ROOT/hack/devenv/nodes.yaml" >"$LOGS/nodes.log" 2>&1 ||
  fail_with_log nodes "could not create the kwok nodes and storage class"
node_ready() { [[ $(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True) -ge 3 ]]; }
wait_for kwok 60 node_ready
wait_for redis 30 redis-cli -p "$REDIS_PORT" ping
wait_for kafka 120 grep -q 'Kafka Server started' "$LOGS/kafka.log"
wait_for neo4j 180 grep -q '^READY' "$LOGS/neo4j.log"

cat >"$STATE/env.tmp" <<EOF
# Written by hack/devenv/up.sh; source it to use the local environment.
export KUBECONFIG=$KUBECONFIG_FILE
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export NEO4J_URI=bolt://127.0.0.1:$NEO4J_PORT
export NEO4J_USER=neo4j
export NEO4J_PASSWORD=$NEO4J_PASSWORD
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export KUBECTL=$K8S_BIN/kubectl
export PATH=$K8S_BIN:\$PATH
export ENGRAM_DEVENV_STATE=$STATE
export KUBE_AUDIT_LOG=$LOGS/audit.log
EOF
mv "$STATE/env.tmp" "$STATE/env"
log "local environment up in $(($(date +%s) - started_at))s: source $STATE/env"
