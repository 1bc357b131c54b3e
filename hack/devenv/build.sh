#!/usr/bin/env bash
# Builds or downloads every server of the local environment once, into the cache keyed by
# pinned versions (see lib.sh). On a warm machine each step is a file-exists check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need() { command -v "$1" >/dev/null || die "$1 not found: $2"; }

build_k8s() {
  local bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0
  for b in "${bins[@]}"; do [[ -x $K8S_BIN/$b ]] || missing=1; done
  ((missing)) || return 0
  need go "install Go >= 1.24 (the Go module proxy supplies Kubernetes)"
  log "building Kubernetes v$K8S_VERSION and etcd from the Go module proxy (10-25 min cold)"
  local tmp=$K8S_BIN.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$DEVENV_ROOT/hack/devenv/k8s" && CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off \
    go build -trimpath -o "$tmp/" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34" \
    ./cmd/...)
  rm -rf "$K8S_BIN" && mv "$tmp" "$K8S_BIN"
}

build_kwok() {
  [[ -x $KWOK_BIN/kwok && -f $KWOK_BIN/../stages.yaml ]] && return 0
  need go "install Go >= 1.26 (kwok v$KWOK_VERSION needs it)"
  log "building kwok v$KWOK_VERSION"
  mkdir -p "$KWOK_BIN"
  (cd /tmp && GOTOOLCHAIN=local GOWORK=off GOBIN=$KWOK_BIN go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION")
  # kwok ships its Stage objects as kustomize files; concatenate the ones we use.
  local src
  src=$(cd /tmp && GOWORK=off go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage
  {
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
      volume/fast/pvc-provision.yaml volume/fast/pv-bind.yaml volume/fast/pvc-delete.yaml volume/fast/pv-delete.yaml; do
      echo '---'
      cat "$src/$f"
    done
  } >"$KWOK_BIN/../stages.yaml.tmp"
  mv "$KWOK_BIN/../stages.yaml.tmp" "$KWOK_BIN/../stages.yaml"
}

build_kafka() {
  [[ -f $KAFKA_HOME/.complete ]] && return 0
  need mvn "apt-get install -y maven"
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME"
  mvn -B -q -f "$DEVENV_ROOT/hack/devenv/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/lib"
  touch "$KAFKA_HOME/.complete"
}

build_neo4j() {
  if [[ -f $NEO4J_HOME/.complete ]]; then
    # The launcher is ours: recompile when its source changed.
    [[ -d $NEO4J_CLASSES ]] && return 0
    javac -d "$NEO4J_CLASSES.tmp" -cp "$NEO4J_HOME/lib/*" "$NEO4J_SRC" && mv "$NEO4J_CLASSES.tmp" "$NEO4J_CLASSES"
    return 0
  fi
  need mvn "apt-get install -y maven"
  need javac "apt-get install -y openjdk-17-jdk-headless"
  log "resolving Neo4j $NEO4J_VERSION from Maven Central"
  rm -rf "$NEO4J_HOME"
  mvn -B -q -f "$DEVENV_ROOT/hack/devenv/neo4j/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$NEO4J_HOME/lib"
  javac -d "$NEO4J_CLASSES" -cp "$NEO4J_HOME/lib/*" "$NEO4J_SRC"
  touch "$NEO4J_HOME/.complete"
}


mkdir -p "$ENGRAM_CACHE"
# One build at a time per cache: a second environment (or test run) waits for the first build.
exec 9>"$ENGRAM_CACHE/.build.lock"
flock 9
build_k8s
build_kwok
build_kafka
build_neo4j
