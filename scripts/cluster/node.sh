#!/usr/bin/env bash
# A real node for the local cluster: containerd + runc (Debian's, unpacked into the cache,
# never installed) and a kubelet built from k8s.io/kubernetes like the control plane,
# registered to the local API server. Pods get their network from a main plugin with pinpool
# as IPAM (the plugin at /opt/cni/bin/pinpool, the agent at /run/pinpool/agent.sock: where
# pinpool's DaemonSet installs them). PINPOOL_NODE_NET chooses the data plane:
#   routed (default)  the seed's: Calico-style, pinpool-routed (src/cni/routed) puts each pod
#                     on its own veth with /32 and /128 host routes, any subnet per pod, and
#                     BGP announces them to a router outside the node (underlay.sh)
#   bridge            Debian's bridge plugin: one IPv4 subnet per node (the bridge has one
#                     gateway address), no router
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
NODE_NET="${PINPOOL_NODE_NET:-routed}"
case "$NODE_NET" in routed | bridge) ;; *) echo "node.sh: PINPOOL_NODE_NET=$NODE_NET; expected routed or bridge" >&2; exit 2 ;; esac
# The one Service the node's host-network pods need without kube-proxy: the API server's.
NAT_CHAIN=PINPOOL-LOCAL-SVC
KUBERNETES_SERVICE_IP=10.0.0.1
# Host state the kubelet or the bridge plugin change; restored by `down`.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv6.conf.all.forwarding)
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/lib/cni /run/pinpool /run/containerd /opt/cni /opt/cni/bin/pinpool /opt/containerd)
LOG_PREFIX=node
kubectl_() { "$(testbin)/kubectl" --kubeconfig="$KUBECONFIG_PATH" "$@"; }

candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -vx '(none)' || true; }

# Debian's containerd 1.6 and runc, unpacked (dpkg-deb -x) into the cache, keyed by version.
runtime_dir() {
  local c r dir tmp
  c=$(candidate containerd)
  r=$(candidate runc)
  [ -n "$c" ] && [ -n "$r" ] || { apt-get update -qq >&2; c=$(candidate containerd); r=$(candidate runc); }
  [ -n "$c" ] && [ -n "$r" ] || { log "apt knows no containerd or runc package; a real node needs Debian's (or PINPOOL_NODE=none)"; exit 1; }
  dir="$PINPOOL_CACHE/node/debian-containerd-${c//[:~+]/_}-runc-${r//[:~+]/_}"
  if [ ! -f "$dir/.complete" ]; then
    log "unpacking Debian containerd $c and runc $r into $dir"
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt fetches as _apt
    # Stale package lists name versions the mirror no longer has: refresh once and ask again.
    if ! (cd "$tmp" && apt-get download -qq "containerd=$c" "runc=$r" >&2); then
      apt-get update -qq >&2
      rm -rf "$tmp"
      runtime_dir
      return
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
    rm -rf "$tmp"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

node_ip() { ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'; }


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
  sandbox_image = "$PAUSE_IMAGE"
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
  write_network
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

# The node's network config (containerd reloads it when it changes). Routed: Calico's data
# plane with pinpool as IPAM, as the seed runs it. Bridge: Debian's bridge with pinpool as
# IPAM; ipMasq off: pods reach each other and the host, and the CNI adds no iptables rules.
write_network() {
  local main
  if [ "$NODE_NET" = routed ]; then
    (cd "$repo_root/src/cni" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$NODE_DIR/cni-bin/pinpool-routed" ./routed)
    main='"type":"pinpool-routed"'
  else
    main='"type":"bridge","bridge":"'"$BRIDGE"'","isGateway":true,"ipMasq":false,"hairpinMode":true'
  fi
  cat >"$NODE_DIR/net.d/10-pinpool.conflist" <<JSON
{"cniVersion":"1.0.0","name":"pinpool","plugins":[{$main,"ipam":{"type":"pinpool"}}]}
JSON
  echo "$NODE_NET" >"$NODE_DIR/net"
}

# The routed plane forwards between the pods' veths and the uplink, in both families.
start_network() {
  if [ "$NODE_NET" = routed ]; then
    local f
    # Interfaces that take router advertisements keep them while the node forwards IPv6.
    for f in /proc/sys/net/ipv6/conf/*/accept_ra; do
      case "$f" in */all/* | */default/* | */lo/*) continue ;; esac
      [ "$(cat "$f")" != 1 ] || echo 2 >"$f"
    done
    sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    bash "$cluster_dir/underlay.sh" up
  else
    bash "$cluster_dir/underlay.sh" down
  fi
}

# The routed plane's BGP speakers run (a dead BIRD leaves the router without the pods' routes).
network_running() {
  [ "$NODE_NET" = bridge ] || { [ -n "$(pid_of bird-node)" ] && [ -n "$(pid_of bird-router)" ]; }
}

# The kubelet answers its health check and has renewed its node's Lease since `since` (epoch
# seconds). The Node's Ready condition alone proves nothing here: without the node-lifecycle
# controller it stays True after the kubelet stops.
kubelet_ready() { # since
  curl -fsS --max-time 2 http://127.0.0.1:10248/healthz >/dev/null 2>&1 || return 1
  local renewed
  renewed=$(kubectl_ get lease -n kube-node-lease "$REAL_NODE" -o jsonpath='{.spec.renewTime}' 2>/dev/null) || return 1
  [ -n "$renewed" ] && [ "$(date -d "$renewed" +%s)" -ge "$1" ]
}

start_kubelet() {
  [ -z "$(pid_of kubelet)" ] || return 0
  local bin since
  bin=$(bash "$cluster_dir/build.sh" node)
  since=$(date +%s)
  start_component kubelet "$bin/kubelet" --config "$NODE_DIR/kubelet.yaml" \
    --kubeconfig "$NODE_DIR/kubelet.kubeconfig" --hostname-override "$REAL_NODE" --node-ip "$(node_ip)" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" --v=1
  wait_for kubelet 60 kubelet_ready "$since"
  wait_for kubelet 30 kubectl_ wait --for condition=Ready --timeout=1s "node/$REAL_NODE"
}

# Another kubelet on this machine would share its fixed paths and ports with ours.
foreign_kubelet() {
  local mine
  mine=$(pid_of kubelet || true)
  pgrep -x kubelet | grep -vx "${mine:-none}" >/dev/null
}

up() {
  [ "$(id -u)" = 0 ] || { log "a real node needs root (it runs containerd and the kubelet); set PINPOOL_NODE=none to skip it"; exit 1; }
  if [ -n "$(pid_of containerd)" ] && [ -n "$(pid_of kubelet)" ] && [ "$(cat "$NODE_DIR/net" 2>/dev/null)" = "$NODE_NET" ] && network_running &&
    kubectl_ wait --for condition=Ready --timeout=1s "node/$REAL_NODE" >/dev/null 2>&1; then
    return 0
  fi
  if foreign_kubelet; then log "another kubelet runs on this machine; stop it first (or PINPOOL_NODE=none)"; exit 1; fi
  local rt started ip f
  started=$(date +%s)
  rt=$(runtime_dir)
  ip=$(node_ip)
  [ -n "$ip" ] || { log "no global IPv4 address on this machine: the kubelet needs a non-loopback --node-ip"; exit 1; }
  mkdir -p "$NODE_DIR"
  echo "$rt" >"$NODE_DIR/runtime"
  # What the host was like before the first `up`: a second `up` must not record what the
  # first one changed.
  if [ ! -f "$NODE_DIR/sysctl.saved" ]; then
    {
      for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done
      # Forwarding makes an interface ignore router advertisements unless accept_ra is 2.
      for f in /proc/sys/net/ipv6/conf/*/accept_ra; do
        case "$f" in */all/* | */default/* | */lo/*) continue ;; esac
        echo "net/ipv6/conf/$(basename "$(dirname "$f")")/accept_ra=$(cat "$f")" # a name may hold dots (eth0.100)
      done
    } >"$NODE_DIR/sysctl.saved"
    for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] || echo "$p"; done >"$NODE_DIR/paths.created"
    ls /run/netns 2>/dev/null | grep '^cni-' >"$NODE_DIR/netns.before" || true
  fi
  write_configs "$rt" "$ip"
  if [ -z "$(pid_of containerd)" ]; then
    rm -f "$SOCK"
    start_component containerd env PATH="$rt/usr/bin:$rt/usr/sbin:$PATH" "$rt/usr/bin/containerd" --config "$NODE_DIR/containerd/config.toml"
  fi
  wait_for containerd 30 test -S "$SOCK"
  bash "$cluster_dir/images.sh" import "$SOCK" >/dev/null
  # Without kube-proxy no ClusterIP answers; host-network pods (pinpool's controller and
  # agent) reach the API server through the `kubernetes` Service, so route that one.
  iptables -t nat -N "$NAT_CHAIN" 2>/dev/null || iptables -t nat -F "$NAT_CHAIN"
  iptables -t nat -A "$NAT_CHAIN" -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$APISERVER_PORT"
  iptables -t nat -C OUTPUT -j "$NAT_CHAIN" 2>/dev/null || iptables -t nat -A OUTPUT -j "$NAT_CHAIN"
  kubectl_ create clusterrolebinding "pinpool-local-node-$REAL_NODE" --clusterrole=system:node --user="system:node:$REAL_NODE" >/dev/null 2>&1 || true
  start_network
  start_kubelet
  # The API server taints a new node not-ready; only the node-lifecycle controller (off
  # here: the simulated nodes send no heartbeats) would lift it.
  kubectl_ taint node "$REAL_NODE" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  log "node $REAL_NODE ($ip) Ready in $(($(date +%s) - started))s: containerd $(basename "$rt"), kubelet $K8S_VERSION, $NODE_NET data plane"
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
  rt=$(cat "$NODE_DIR/runtime" 2>/dev/null || true) # never fetch anything on the way down
  if [ -n "$(pid_of kubelet)" ] && apiserver_ready; then drain_pods; fi
  stop_component kubelet
  kubectl_ delete node "$REAL_NODE" --wait=false >/dev/null 2>&1 || true
  kubectl_ delete clusterrolebinding "pinpool-local-node-$REAL_NODE" >/dev/null 2>&1 || true
  if [ -S "$SOCK" ] && [ -x "$rt/usr/bin/ctr" ]; then
    local ctr_=("$rt/usr/bin/ctr" --address "$SOCK" -n k8s.io)
    for t in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do "${ctr_[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do "${ctr_[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  stop_component containerd
  # Shims and containers outlive containerd.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true
  # Mounts under the node's folders (overlay rootfs, shm, secret tmpfs, the rshared root dir), deepest first.
  awk -v d="$NODE_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # Sandboxes' network namespaces (containerd names them cni-<id>) that were not there before.
  for n in /run/netns/cni-*; do
    [ -e "$n" ] && ! grep -qx "$(basename "$n")" "$NODE_DIR/netns.before" 2>/dev/null || continue
    umount "$n" 2>/dev/null || true
    rm -f "$n"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  bash "$cluster_dir/underlay.sh" down
  # cgroup v1 (one hierarchy per controller) and v2 (one tree).
  find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null || true
  iptables -t nat -D OUTPUT -j "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -F "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -X "$NAT_CHAIN" 2>/dev/null || true
  [ -f "$NODE_DIR/sysctl.saved" ] && while read -r kv; do sysctl -qw "$kv" >/dev/null || true; done <"$NODE_DIR/sysctl.saved"
  [ -f "$NODE_DIR/paths.created" ] && while read -r p; do [ -n "$p" ] && rm -rf "$p"; done <"$NODE_DIR/paths.created"
  rm -rf "$NODE_DIR"
  rm -f "$STATE_DIR/pids/containerd.pid" "$STATE_DIR/pids/kubelet.pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  stop-kubelet) stop_component kubelet ;;
  start-kubelet) start_kubelet ;;
  restart-kubelet) stop_component kubelet && start_kubelet ;;
  *) echo "usage: node.sh up|down|stop-kubelet|start-kubelet|restart-kubelet" >&2; exit 2 ;;
esac
