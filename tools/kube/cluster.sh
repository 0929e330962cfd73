#!/usr/bin/env bash
# Builds (once, into a cache outside the repo) and starts/stops a real Kubernetes control plane:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler built from the Go module
# proxy, run by kwokctl's binary runtime with kwok fake nodes, plus the Argo Rollouts controller
# (its CRDs applied, the controller built from the same module and run against the cluster).
# No containers, no downloads except Go modules.
#
#   tools/kube/cluster.sh build     build whatever is missing in the cache
#   tools/kube/cluster.sh up        build if needed, start the cluster, print its kubeconfig path
#   tools/kube/cluster.sh down      stop the cluster and delete its state
#   tools/kube/cluster.sh run -- C  up, run command C with GUARDIAN_KUBECONFIG set, then down (always)
#   tools/kube/cluster.sh rss       resident memory of the running components and controller (MiB)
#   tools/kube/cluster.sh env       print the cache paths as shell assignments
#
# Environment: GUARDIAN_KUBE_CACHE (default $HOME/.cache/guardian-kube/<versions>),
# GUARDIAN_KUBE_CLUSTER (cluster name, default guardian-it).
set -euo pipefail
# Failures inside $(...) (`GUARDIAN_KUBECONFIG="$(up)"`) must stop the script too.
shopt -s inherit_errexit
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

key="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_argo-${ARGO_ROLLOUTS_VERSION}"
cache="${GUARDIAN_KUBE_CACHE:-${HOME}/.cache/guardian-kube/${key}}"
bin="$cache/bin"
argo_crds="$cache/argo-rollouts-crds.yaml"
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

# The directory of the Argo Rollouts module in the Go module cache (downloaded if missing).
argo_module_dir() {
  local json dir
  json="$(cd "$cache" && go mod download -json "github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}")"
  dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$json")"
  if [[ -z "$dir" || ! -f "$dir/manifests/crds/kustomization.yaml" ]]; then
    echo "$json" >&2
    echo "cluster.sh: no manifests/crds in github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}" >&2
    return 1
  fi
  echo "$dir"
}

# Every CRD of manifests/crds (Rollout, Experiment, AnalysisRun, AnalysisTemplate,
# ClusterAnalysisTemplate), in one file: the controller's informers list all of them.
fetch_argo_crds() {
  [[ -f "$argo_crds" ]] && return
  log "go mod download github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION} (CRDs)"
  local dir f
  dir="$(argo_module_dir)"
  : >"$argo_crds.tmp"
  # The kustomization lists the CRD files, as the upstream install manifests take them.
  for f in $(sed -n 's/^- *\([a-z0-9-]*\.yaml\) *$/\1/p' "$dir/manifests/crds/kustomization.yaml"); do
    { echo "---"; cat "$dir/manifests/crds/$f"; } >>"$argo_crds.tmp"
  done
  if ! grep -q '^  name: rollouts.argoproj.io$' "$argo_crds.tmp"; then
    echo "cluster.sh: no Rollout CRD in $dir/manifests/crds" >&2
    return 1
  fi
  mv "$argo_crds.tmp" "$argo_crds"
}

build_rollouts_controller() {
  [[ -x "$bin/rollouts-controller" ]] && return
  local dir pkg=github.com/argoproj/argo-rollouts/utils/version
  dir="$(argo_module_dir)"
  log "go build github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}/cmd/rollouts-controller"
  # Built inside the downloaded module, so its own go.mod, go.sum and replace directives apply
  # exactly as upstream builds it (the module cache is read-only; go build only reads it). The
  # version variables are the ones its Makefile sets, so `--version` reports the release.
  (cd "$dir" && GOWORK=off nice go build -trimpath \
    -ldflags "-s -w -X $pkg.version=${ARGO_ROLLOUTS_VERSION#v} -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$bin/rollouts-controller.tmp" ./cmd/rollouts-controller)
  mv "$bin/rollouts-controller.tmp" "$bin/rollouts-controller"
}

build() {
  mkdir -p "$bin"
  local t0=$SECONDS
  build_kwok
  build_etcd
  fetch_argo_crds
  build_k8s
  build_rollouts_controller
  log "build complete in $((SECONDS - t0))s: $bin"
}

clusterdir="$KWOK_WORKDIR/clusters/$cluster"
kubeconfig="$cache/run/$cluster.kubeconfig"
controller_pidfile="$cache/run/$cluster.rollouts-controller.pid"
controller_log="$cache/run/$cluster.rollouts-controller.log"

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

# The pid of this cluster's Argo Rollouts controller if it runs (a pid file alone could name a
# process that reused the pid, so its command line must name this cluster's kubeconfig).
controller_pid() {
  local pid
  [[ -f "$controller_pidfile" ]] || return 0
  pid="$(<"$controller_pidfile")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "rollouts-controller --kubeconfig $kubeconfig "; then
    echo "$pid"
  fi
}

# A TCP port nothing listens on now (the controller's healthz and metrics listen on 0.0.0.0, so
# fixed ports could clash with another cluster or anything else on the machine). Node, because
# the tests that use the cluster need it anyway.
free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, () => { console.log(s.address().port); s.close(); })'
}

# healthz_ok <port>: the controller's /healthz answers 200.
healthz_ok() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://127.0.0.1:$1/healthz"
}

start_rollouts_controller() {
  local healthz metrics pid end
  healthz="$(free_port)"
  metrics="$(free_port)"
  while [[ "$metrics" == "$healthz" ]]; do metrics="$(free_port)"; done
  # No leader election (one instance; it would want a Lease in the argo-rollouts namespace).
  # setsid: its own session, so it outlives `up` and a terminal's Ctrl-C goes to run's trap.
  setsid "$bin/rollouts-controller" --kubeconfig "$kubeconfig" --leader-elect=false \
    --healthzPort "$healthz" --metricsPort "$metrics" --logformat text --loglevel info \
    </dev/null >"$controller_log" 2>&1 &
  pid=$!
  echo "$pid" >"$controller_pidfile"
  # /healthz answers as soon as the process listens, before its informer caches are synced; the
  # Rollout workers start after the sync, so that log line is when a Rollout gets reconciled.
  end=$((SECONDS + 60))
  until healthz_ok "$healthz" && grep -q 'Started rollout workers' "$controller_log"; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= end)); then
      tail -n 30 "$controller_log" >&2
      echo "cluster.sh: the Argo Rollouts controller did not start (log: $controller_log)" >&2
      return 1
    fi
    sleep 0.5
  done
  log "Argo Rollouts controller ${ARGO_ROLLOUTS_VERSION} ready (pid $pid, healthz :$healthz, metrics :$metrics, log $controller_log)"
}

stop_rollouts_controller() {
  local pid i
  pid="$(controller_pid)"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    # It drains its work queues and gives its HTTP servers up to 5 s; then it is killed.
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "Argo Rollouts controller stopped"
  fi
  rm -f "$controller_pidfile"
}

down() {
  # The controller first: once the API server is gone it would only log connection errors.
  stop_rollouts_controller
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
  log "starting cluster $cluster (kube ${KUBE_VERSION}, etcd ${ETCD_VERSION}, kwok ${KWOK_VERSION}, argo-rollouts ${ARGO_ROLLOUTS_VERSION})"
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
  kubectl apply --server-side -f "$argo_crds" >&2
  # `kubectl wait` fails at once while an object has no status yet, hence the retries.
  retry "the Argo Rollouts CRDs to be established" kubectl wait --for condition=established --timeout 10s crd --all
  retry "the fake nodes to be Ready" kubectl wait --for condition=Ready --timeout 10s node --all
  start_rollouts_controller
  log "cluster $cluster up in $((SECONDS - t0))s; kubeconfig $kubeconfig"
  echo "$kubeconfig"
}

# Resident memory (MiB) of the cluster's components and the Argo Rollouts controller now.
rss() {
  local total=0 pid kb
  for pid in $(component_pids) $(controller_pid); do
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
  # delete the cluster whatever happens (test failure, crash, Ctrl-C, SIGKILL of this script).
  shift
  [[ "${1:-}" == "--" ]] && shift
  child="" watcher="" childfile="$cache/run/$cluster.command.pid"
  trap '[[ -n "$watcher" ]] && kill "$watcher" 2>/dev/null; rm -f "$childfile"; down' EXIT
  # bash runs traps only between foreground commands, so the command runs in the background and
  # a signal stops it at once, then the EXIT trap takes the cluster down.
  trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 130' INT
  trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 143' TERM
  # SIGKILL runs no trap: a watcher in its own session stops the command and takes the cluster
  # (components and controller, all detached from this script) down once this script is gone.
  mkdir -p "$cache/run"
  rm -f "$childfile"
  # shellcheck disable=SC2016 # expanded by the watcher's bash
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
    [[ -f "$3" ]] && kill "$(<"$3")" 2>/dev/null
    exec "$2" down' watch-cluster $$ "$here/cluster.sh" "$childfile" \
    </dev/null >>"$cache/run/$cluster.watcher.log" 2>&1 &
  watcher=$!
  export GUARDIAN_KUBECONFIG GUARDIAN_KUBE_RSS_CMD="$here/cluster.sh rss"
  GUARDIAN_KUBECONFIG="$(up)"
  "$@" &
  child=$!
  echo "$child" >"$childfile"
  wait "$child"
  ;;
env)
  echo "GUARDIAN_KUBE_CACHE=$cache"
  echo "GUARDIAN_KUBE_BIN=$bin"
  echo "KWOK_WORKDIR=$KWOK_WORKDIR"
  echo "GUARDIAN_KUBECONFIG=$kubeconfig"
  echo "GUARDIAN_ROLLOUTS_CONTROLLER_LOG=$controller_log"
  ;;
*)
  echo "usage: $0 build|up|down|run -- <command>|rss|env" >&2
  exit 2
  ;;
esac
