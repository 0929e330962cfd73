#!/usr/bin/env bash
# Builds (once, into a cache outside the repo) and starts/stops a real Kubernetes control plane:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler built from the Go module
# proxy, run by kwokctl's binary runtime with kwok fake nodes. No containers, no downloads
# except Go modules.
#
#   tools/kube/cluster.sh build     build whatever is missing in the cache
#   tools/kube/cluster.sh up        build if needed, start the cluster, print its kubeconfig path
#   tools/kube/cluster.sh down      stop the cluster and delete its state
#   tools/kube/cluster.sh run -- C  up, run command C with GUARDIAN_KUBECONFIG set, then down (always)
#   tools/kube/cluster.sh rss       resident memory of the running components (MiB)
#   tools/kube/cluster.sh env       print the cache paths as shell assignments
#
# Environment: GUARDIAN_KUBE_CACHE (default $HOME/.cache/guardian-kube/<versions>),
# GUARDIAN_KUBE_CLUSTER (cluster name, default guardian-it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

key="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_argo-${ARGO_ROLLOUTS_VERSION}"
cache="${GUARDIAN_KUBE_CACHE:-${HOME}/.cache/guardian-kube/${key}}"
bin="$cache/bin"
cluster="${GUARDIAN_KUBE_CLUSTER:-guardian-it}"
# kwokctl keeps its clusters under $KWOK_WORKDIR; keep them inside the cache, never in $HOME/.kwok.
export KWOK_WORKDIR="$cache/kwok"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { echo "[kube] $*" >&2; }

build_kwok() {
  [[ -x "$bin/kwokctl" && -x "$bin/kwok" ]] && return
  log "go install sigs.k8s.io/kwok/cmd/{kwok,kwokctl}@${KWOK_VERSION}"
  GOBIN="$bin" nice go install -trimpath -ldflags '-s -w' \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwokctl@${KWOK_VERSION}"
}

build_etcd() {
  [[ -x "$bin/etcd" ]] && return
  log "go build go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  (cd "$here/etcd" && nice go build -trimpath -ldflags '-s -w' -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

build_k8s() {
  local missing=0 c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do [[ -x "$bin/$c" ]] || missing=1; done
  ((missing)) || return 0
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ld="-s -w" k v
  # The same variables hack/lib/version.sh sets, so `--version` reports the real release.
  for kv in "gitVersion=${KUBE_VERSION}" "gitMajor=1" "gitMinor=${minor}" "gitTreeState=clean" \
    "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    k="${kv%%=*}" v="${kv#*=}"
    ld+=" -X k8s.io/client-go/pkg/version.${k}=${v} -X k8s.io/component-base/version.${k}=${v}"
  done
  log "go build k8s.io/kubernetes@${KUBE_VERSION} kube-apiserver kube-controller-manager kube-scheduler kubectl"
  (cd "$here/k8s" && nice go build -trimpath -ldflags "$ld" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

fetch_argo_crd() {
  [[ -f "$cache/argo-rollouts-crd.yaml" ]] && return
  log "go mod download github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}"
  local json dir
  json="$(cd "$cache" && go mod download -json "github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}")"
  dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$json")"
  if [[ -z "$dir" || ! -f "$dir/manifests/crds/rollout-crd.yaml" ]]; then
    echo "$json" >&2
    echo "cluster.sh: no Rollout CRD in github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}" >&2
    return 1
  fi
  cp "$dir/manifests/crds/rollout-crd.yaml" "$cache/argo-rollouts-crd.yaml.tmp"
  mv "$cache/argo-rollouts-crd.yaml.tmp" "$cache/argo-rollouts-crd.yaml"
}

build() {
  mkdir -p "$bin"
  local t0=$SECONDS
  build_kwok
  build_etcd
  fetch_argo_crd
  build_k8s
  log "build complete in $((SECONDS - t0))s: $bin"
}

clusterdir="$KWOK_WORKDIR/clusters/$cluster"
kubeconfig="$cache/run/$cluster.kubeconfig"

kwokctl() { PATH="$bin:$PATH" KWOK_KUBE_VERSION="$KUBE_VERSION" "$bin/kwokctl" --name "$cluster" "$@"; }
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

# Pids of the cluster's components, from kwokctl's pid files.
component_pids() {
  local f
  # The pid files have no trailing newline.
  for f in "$clusterdir"/pids/*.pid; do [[ -f "$f" ]] && echo "$(<"$f")"; done 2>/dev/null || true
}

# retry <what> <command...>: runs the command until it succeeds, for up to 60 s.
retry() {
  local what="$1" end=$((SECONDS + 60))
  shift
  # A deadline, not a count: one attempt may itself block for seconds (kubectl wait --timeout).
  while ((SECONDS < end)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "cluster.sh: timed out waiting for $what ($*)" >&2
  return 1
}

down() {
  [[ -d "$clusterdir" ]] || return 0
  local pids pid
  pids="$(component_pids)"
  kwokctl delete cluster --kubeconfig "$kubeconfig" >&2 || log "kwokctl delete cluster failed; stopping components by pid"
  # Whatever kwokctl did not stop (it failed, or a component ignored SIGTERM) is stopped by pid.
  for pid in $pids; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$clusterdir" "$kubeconfig"
  log "cluster $cluster deleted"
}

up() {
  build
  down # a cluster left over by a run that was killed
  mkdir -p "$cache/run"
  local t0=$SECONDS
  log "starting cluster $cluster (kube ${KUBE_VERSION}, etcd ${ETCD_VERSION}, kwok ${KWOK_VERSION})"
  # Every binary is a local file, so the binary runtime downloads nothing; kubectl is found on PATH.
  kwokctl create cluster --runtime binary \
    --etcd-binary "$bin/etcd" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    --config "$here/stages.yaml" \
    --kubeconfig "$kubeconfig" \
    --disable-qps-limits \
    --quiet-pull \
    --wait 90s >&2
  kwokctl scale node --replicas 2 >&2
  kubectl apply --server-side -f "$cache/argo-rollouts-crd.yaml" >&2
  # `kubectl wait` fails at once while an object has no status yet, hence the retries.
  retry "the Rollout CRD to be established" kubectl wait --for condition=established --timeout 10s crd/rollouts.argoproj.io
  retry "the fake nodes to be Ready" kubectl wait --for condition=Ready --timeout 10s node --all
  log "cluster $cluster up in $((SECONDS - t0))s; kubeconfig $kubeconfig"
  echo "$kubeconfig"
}

# Resident memory (MiB) of the cluster's components now.
rss() {
  local total=0 pid kb
  for pid in $(component_pids); do
    kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${kb:-0}))
  done
  echo "$((total / 1024))"
}

case "${1:-}" in
build) build ;;
up) up ;;
down) down ;;
rss) rss ;;
run)
  # run -- <command...>: start the cluster, run the command with GUARDIAN_KUBECONFIG set, and
  # delete the cluster whatever happens (test failure, crash, Ctrl-C).
  shift
  [[ "${1:-}" == "--" ]] && shift
  child=""
  trap down EXIT
  # bash runs traps only between foreground commands, so the command runs in the background and
  # a signal stops it at once, then the EXIT trap takes the cluster down.
  trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 130' INT
  trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 143' TERM
  export GUARDIAN_KUBECONFIG GUARDIAN_KUBE_RSS_CMD="$here/cluster.sh rss"
  GUARDIAN_KUBECONFIG="$(up)"
  "$@" &
  child=$!
  wait "$child"
  ;;
env)
  echo "GUARDIAN_KUBE_CACHE=$cache"
  echo "GUARDIAN_KUBE_BIN=$bin"
  echo "KWOK_WORKDIR=$KWOK_WORKDIR"
  echo "GUARDIAN_KUBECONFIG=$kubeconfig"
  ;;
*)
  echo "usage: $0 build|up|down|run -- <command>|rss|env" >&2
  exit 2
  ;;
esac
