#!/usr/bin/env bash
# A real node for the local cluster: containerd + runc (Debian's, unpacked into the cache,
# never installed) and a kubelet built from k8s.io/kubernetes like the control plane,
# registered to the local API server. Pods get their network from Debian's `bridge` plugin
# with pinpool as IPAM (the plugin at /opt/cni/bin/pinpool, the agent at
# /run/pinpool/agent.sock: where pinpool's DaemonSet installs them).
#
#   node.sh up        start containerd + kubelet (idempotent), import the project's images
#   node.sh down      delete the node's pods through the API (so CNI DEL runs), stop both,
#                     and undo every change to the host (mounts, netns, bridge, cgroups,
#                     sysctls, iptables, paths)
#   node.sh restart-kubelet | stop-kubelet | start-kubelet   (fault tests)
#
# Needs root on Linux. Facts behind each setting: ../shared/reference/real-node*.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_DIR="$STATE_DIR/node"
SOCK="$NODE_DIR/containerd/containerd.sock"
BRIDGE=pinpool0
# The one Service the node's host-network pods need without kube-proxy: the API server's.
NAT_CHAIN=PINPOOL-LOCAL-SVC
KUBERNETES_SERVICE_IP=10.0.0.1
# Host state the kubelet or the bridge plugin change; restored by `down`.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/lib/cni /run/pinpool /run/containerd /opt/cni /opt/cni/bin/pinpool /opt/containerd)
log() { echo "[node $(date +%H:%M:%S)] $*" >&2; }
kubectl_() { "$(testbin)/kubectl" --kubeconfig="$KUBECONFIG_PATH" "$@"; }

# Debian's containerd 1.6 and runc, unpacked (dpkg-deb -x) into the cache, keyed by version.
runtime_dir() {
  local c r dir
  c=$(apt-cache policy containerd | sed -n 's/^ *Candidate: //p')
  r=$(apt-cache policy runc | sed -n 's/^ *Candidate: //p')
  [ -n "$c" ] && [ -n "$r" ] || { apt-get update -qq >&2; c=$(apt-cache policy containerd | sed -n 's/^ *Candidate: //p'); r=$(apt-cache policy runc | sed -n 's/^ *Candidate: //p'); }
  dir="$PINPOOL_CACHE/node/debian-containerd-${c//[:~+]/_}-runc-${r//[:~+]/_}"
  if [ ! -f "$dir/.complete" ]; then
    log "unpacking Debian containerd $c and runc $r into $dir"
    local tmp
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt fetches as _apt
    (cd "$tmp" && apt-get download -qq "containerd=$c" "runc=$r" >&2)
    rm -rf "$dir" && mkdir -p "$dir"
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
    rm -rf "$tmp"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

node_ip() { ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'; }

start_bg() { # name command...
  local name=$1
  shift
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
  setsid nohup "$@" >"$STATE_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/pids/$name.pid"
}

wait_until() { # what seconds command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  log "$what not ready within ${seconds}s; last log lines:"
  for c in containerd kubelet; do [ -f "$STATE_DIR/logs/$c.log" ] && tail -n 30 "$STATE_DIR/logs/$c.log" >&2; done
  return 1
}

write_configs() {
  local rt=$1 ip=$2
  mkdir -p "$NODE_DIR"/{containerd,net.d,cni-bin,kubelet,pod-logs,volume-plugins,pki}
  # containerd 1.6 takes one CNI bin dir: Debian's plugins and pinpool's (where the
  # DaemonSet's init container puts it) are linked into it.
  ln -sf /usr/lib/cni/* "$NODE_DIR/cni-bin/"
  ln -sf /opt/cni/bin/pinpool "$NODE_DIR/cni-bin/pinpool"
  cat >"$NODE_DIR/containerd/config.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd/lib"
state = "$NODE_DIR/containerd/run"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.2"
  tolerate_missing_hugepages_controller = true
  disable_hugetlb_controller = true
  # This VM lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$rt/usr/sbin/runc"
        Root = "$NODE_DIR/containerd/run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$NODE_DIR/cni-bin"
    conf_dir = "$NODE_DIR/net.d"
    max_conf_num = 1
TOML
  # Debian's bridge with pinpool as IPAM; ipMasq off: pods reach each other and the host,
  # and the CNI adds no iptables rules.
  cat >"$NODE_DIR/net.d/10-pinpool.conflist" <<JSON
{"cniVersion":"1.0.0","name":"pinpool","plugins":[{"type":"bridge","bridge":"$BRIDGE","isGateway":true,"ipMasq":false,"hairpinMode":true,"ipam":{"type":"pinpool"}}]}
JSON
  cat >"$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false          # this VM runs cgroup v1
cgroupDriver: cgroupfs       # containerd 1.6 cannot tell the kubelet its driver
containerRuntimeEndpoint: unix://$SOCK
oomScoreAdj: 0               # no CAP_SYS_RESOURCE
maxOpenFiles: 20000
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $STATE_DIR/pki/ca.crt}}
authorization: {mode: Webhook}
readOnlyPort: 0
podLogsDir: $NODE_DIR/pod-logs
volumePluginDir: $NODE_DIR/volume-plugins
makeIPTablesUtilChains: false
maxPods: 250
# No registry to pull from again: never collect an image.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
YAML
  (
    cd "$NODE_DIR/pki"
    openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr -subj "/O=system:nodes/CN=system:node:$REAL_NODE" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >kubelet.ext
    openssl x509 -req -in kubelet.csr -CA "$STATE_DIR/pki/ca.crt" -CAkey "$STATE_DIR/pki/ca.key" -CAserial "$NODE_DIR/pki/ca.srl" -CAcreateserial \
      -days 3650 -out kubelet.crt -extfile kubelet.ext 2>/dev/null
    chmod 600 kubelet.key
  )
  cat >"$NODE_DIR/kubelet.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{ name: local, cluster: { server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$STATE_DIR/pki/ca.crt" } }]
users: [{ name: kubelet, user: { client-certificate: "$NODE_DIR/pki/kubelet.crt", client-key: "$NODE_DIR/pki/kubelet.key" } }]
contexts: [{ name: local, context: { cluster: local, user: kubelet } }]
current-context: local
YAML
}

start_kubelet() {
  start_bg kubelet "$(bash "$cluster_dir/build.sh" node)/kubelet" --config "$NODE_DIR/kubelet.yaml" \
    --kubeconfig "$NODE_DIR/kubelet.kubeconfig" --hostname-override "$REAL_NODE" --node-ip "$(node_ip)" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" --v=1
  wait_until "kubelet" 60 kubectl_ wait --for condition=Ready --timeout=1s "node/$REAL_NODE"
}

stop_kubelet() {
  local pid
  pid=$(pid_of kubelet || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

up() {
  [ "$(id -u)" = 0 ] || { log "a real node needs root (it runs containerd and the kubelet); set PINPOOL_NODE=none to skip it"; exit 1; }
  if [ -n "$(pid_of containerd)" ] && [ -n "$(pid_of kubelet)" ] && kubectl_ wait --for condition=Ready --timeout=1s "node/$REAL_NODE" >/dev/null 2>&1; then
    return 0
  fi
  local rt started ip
  started=$(date +%s)
  rt=$(runtime_dir)
  ip=$(node_ip)
  [ -n "$ip" ] || { log "no global IPv4 address on this machine: the kubelet needs a non-loopback --node-ip"; exit 1; }
  mkdir -p "$NODE_DIR"
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$NODE_DIR/sysctl.saved"
  for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] || echo "$p"; done >"$NODE_DIR/paths.created"
  write_configs "$rt" "$ip"
  start_bg containerd env PATH="$rt/usr/bin:$rt/usr/sbin:$PATH" "$rt/usr/bin/containerd" --config "$NODE_DIR/containerd/config.toml"
  wait_until containerd 30 test -S "$SOCK"
  bash "$cluster_dir/images.sh" import "$SOCK" >/dev/null
  # Without kube-proxy no ClusterIP answers; host-network pods (pinpool's controller and
  # agent) reach the API server through the `kubernetes` Service, so route that one.
  iptables -t nat -N "$NAT_CHAIN" 2>/dev/null || iptables -t nat -F "$NAT_CHAIN"
  iptables -t nat -A "$NAT_CHAIN" -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$APISERVER_PORT"
  iptables -t nat -C OUTPUT -j "$NAT_CHAIN" 2>/dev/null || iptables -t nat -A OUTPUT -j "$NAT_CHAIN"
  kubectl_ create clusterrolebinding "pinpool-local-node-$REAL_NODE" --clusterrole=system:node --user="system:node:$REAL_NODE" >/dev/null 2>&1 || true
  start_kubelet
  # The API server taints a new node not-ready; only the node-lifecycle controller (off
  # here: the simulated nodes send no heartbeats) would lift it.
  kubectl_ taint node "$REAL_NODE" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  log "node $REAL_NODE ($ip) Ready in $(($(date +%s) - started))s: containerd $(basename "$rt"), kubelet $K8S_VERSION"
}

# Every sandbox's CNI DEL runs only when the kubelet stops it: delete the node's pods first.
drain_pods() {
  kubectl_ get node "$REAL_NODE" >/dev/null 2>&1 || return 0
  kubectl_ cordon "$REAL_NODE" >/dev/null 2>&1 || true
  local ns
  for ns in $(kubectl_ get pods -A --field-selector "spec.nodeName=$REAL_NODE" -o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}' 2>/dev/null | sort -u); do
    [ "$ns" = pinpool-system ] && continue # the agent answers the others' DELs
    kubectl_ delete pods -n "$ns" --field-selector "spec.nodeName=$REAL_NODE" --wait=false >/dev/null 2>&1 || true
  done
  for _ in $(seq 120); do
    [ -z "$(kubectl_ get pods -A --field-selector "spec.nodeName=$REAL_NODE" -o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}' 2>/dev/null | grep -vx pinpool-system)" ] && break
    sleep 0.5
  done
}

down() {
  [ -d "$NODE_DIR" ] || return 0
  local rt
  rt=$(runtime_dir)
  if [ -n "$(pid_of kubelet)" ] && apiserver_ready; then drain_pods; fi
  stop_kubelet
  kubectl_ delete node "$REAL_NODE" --wait=false >/dev/null 2>&1 || true
  kubectl_ delete clusterrolebinding "pinpool-local-node-$REAL_NODE" >/dev/null 2>&1 || true
  if [ -S "$SOCK" ]; then
    local ctr_=("$rt/usr/bin/ctr" --address "$SOCK" -n k8s.io)
    for t in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do "${ctr_[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do "${ctr_[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  local pid
  pid=$(pid_of containerd || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Shims and containers outlive containerd.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true
  # Mounts under the node's folders (overlay rootfs, shm, secret tmpfs, the rshared root dir), deepest first.
  awk -v d="$NODE_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for n in /run/netns/cni-*; do [ -e "$n" ] && { umount "$n" 2>/dev/null || true; rm -f "$n"; }; done
  ip link del "$BRIDGE" 2>/dev/null || true
  find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null || true
  iptables -t nat -D OUTPUT -j "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -F "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -X "$NAT_CHAIN" 2>/dev/null || true
  [ -f "$NODE_DIR/sysctl.saved" ] && while read -r kv; do sysctl -qw "$kv" >/dev/null || true; done <"$NODE_DIR/sysctl.saved"
  [ -f "$NODE_DIR/paths.created" ] && while read -r p; do [ -n "$p" ] && rm -rf "$p"; done <"$NODE_DIR/paths.created"
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  rm -rf "$NODE_DIR"
  rm -f "$STATE_DIR/pids/containerd.pid" "$STATE_DIR/pids/kubelet.pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  stop-kubelet) stop_kubelet ;;
  start-kubelet) start_kubelet ;;
  restart-kubelet) stop_kubelet && start_kubelet ;;
  *) echo "usage: node.sh up|down|stop-kubelet|start-kubelet|restart-kubelet" >&2; exit 2 ;;
esac
