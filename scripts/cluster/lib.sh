# Shared settings of the local control plane, sourced by up.sh, down.sh and kubectl.
# shellcheck shell=bash
cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$cluster_dir/../.." && pwd)
# shellcheck source=versions.sh
source "$cluster_dir/versions.sh"

# Everything a running cluster owns: PKI, kubeconfig, logs, pid files (gitignored).
STATE_DIR="${PINPOOL_CLUSTER_DIR:-$repo_root/.cluster}"
KUBECONFIG_PATH="$STATE_DIR/kubeconfig"
# etcd's data lives on tmpfs: tests write a lot and need no durability.
ETCD_DATA_DIR="/dev/shm/pinpool-etcd-$(echo -n "$STATE_DIR" | sha256sum | cut -c1-12)"
# Non-default ports, so a developer's own cluster on 6443/2379 is left alone.
APISERVER_PORT="${PINPOOL_APISERVER_PORT:-16443}"
ETCD_CLIENT_PORT="${PINPOOL_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_CLIENT_PORT + 1))
# The real node (scripts/cluster/node.sh): PINPOOL_NODE=real (the default when running as
# root) starts containerd + a kubelet and the scheduler; PINPOOL_NODE=none leaves only the
# simulated nodes the tests start themselves.
REAL_NODE="${PINPOOL_REAL_NODE_NAME:-node1}"
if [ -z "${PINPOOL_NODE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then PINPOOL_NODE=real; else PINPOOL_NODE=none; fi
fi
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet bird-node bird-router pinpool-controller pinpool-controller-2 pinpool-agent prometheus)

testbin() { pinpool_testbin_dir; }

pid_of() {
  local f="$STATE_DIR/pids/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

apiserver_ready() {
  curl -fsS --max-time 3 --cacert "$STATE_DIR/pki/ca.crt" --cert "$STATE_DIR/pki/admin.crt" \
    --key "$STATE_DIR/pki/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok
}

print_logs() {
  for c in "${COMPONENTS[@]}"; do
    [ -f "$STATE_DIR/logs/$c.log" ] || continue
    echo "----- last lines of $STATE_DIR/logs/$c.log" >&2
    tail -n 40 "$STATE_DIR/logs/$c.log" >&2
  done
}

log() { echo "[${LOG_PREFIX:-cluster} $(date +%H:%M:%S)] $*" >&2; }

# Starts `command` in the background as component `name` (log in logs/<name>.log, pid in pids/<name>.pid).
start_component() { # name command args...
  local name=$1
  shift
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
  setsid nohup "$@" >"$STATE_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/pids/$name.pid"
}

# Stops component `name` (TERM, then KILL after 5 s) and forgets its pid.
stop_component() { # name
  local pid
  pid=$(pid_of "$1" || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE_DIR/pids/$1.pid"
}

# Waits until `command` succeeds while component `what` runs; prints the logs and exits 1 otherwise.
wait_for() { # component seconds command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -z "$(pid_of "$what")" ]; then
      log "$what exited before it was ready"
      print_logs
      exit 1
    fi
    sleep 0.5
  done
  log "$what did not become ready within ${seconds}s"
  print_logs
  exit 1
}

# The scheduler, which places pods on the real node (the simulated nodes bind their own).
start_scheduler() {
  start_component kube-scheduler "$(testbin)/kube-scheduler" --kubeconfig="$KUBECONFIG_PATH" --leader-elect=false --secure-port=0
}
