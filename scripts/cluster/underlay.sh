#!/usr/bin/env bash
# The seed's underlay around the real node: a top-of-rack router in its own network
# namespace, linked to the node, and BGP between them as Calico's BGP mode runs it. BIRD 2 on
# the node (the daemon calico-node runs) learns each pod's host route from the kernel (the
# /32 or /128 that pinpool-routed puts on a pin* veth) and announces it; BIRD 2 in the router
# installs what it hears, and announces the client networks behind it back to the node. A
# client at 198.18.0.10 (fd99:18::10) in the router's namespace then reaches a pod at its
# fixed address, and the pod sees the client's own address (no NAT anywhere). The link and the
# client network lie in 198.18.0.0/15 (RFC 2544, for test networks) and ULA space; `up` refuses
# to start when this machine already uses them (its resolver, a host it names, a route).
#
#   underlay.sh up | down      (called by node.sh in the routed mode; needs root)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_PREFIX=underlay

ROUTER_NS=pinpool-router
UPLINK=uplink-tor # the node's end; the router's end is named uplink
NODE_AS=64512     # Calico's default node AS
ROUTER_AS=64500
NODE4=198.18.1.1 ROUTER4=198.18.1.254 NODE6=fd99:18:1::1 ROUTER6=fd99:18:1::254
CLIENT4=198.18.0.10 CLIENT_NET4=198.18.0.0/24 CLIENT6=fd99:18::10 CLIENT_NET6=fd99:18::/64
BIRD_DIR="$STATE_DIR/node/bird"
# Forwarding between the pods and the uplink even where another tool (Docker) set the FORWARD
# policy to DROP.
FWD_CHAIN=PINPOOL-LOCAL-FWD
# A pod sends only from its own addresses (Felix's anti-spoofing): a packet from a pin* veth
# whose source is not routed back through that veth is dropped (reverse-path check).
RPF_CHAIN=PINPOOL-LOCAL-RPF

node_conf() {
  cat <<CONF
log stderr all;
router id $NODE4;
protocol device { }
# The pods' host routes, one per address, learned from the kernel like calico-node's BIRD
# exports its workload routes; nothing else of the node's table is announced.
protocol kernel kernel4 {
  learn;
  ipv4 { import where net.len = 32 && ifname ~ "pin*"; export where source = RTS_BGP; };
}
protocol kernel kernel6 {
  learn;
  ipv6 { import where net.len = 128 && ifname ~ "pin*"; export where source = RTS_BGP; };
}
protocol bgp tor4 {
  local $NODE4 as $NODE_AS; neighbor $ROUTER4 as $ROUTER_AS;
  ipv4 { import all; export where proto = "kernel4"; };
}
protocol bgp tor6 {
  local $NODE6 as $NODE_AS; neighbor $ROUTER6 as $ROUTER_AS;
  ipv6 { import all; export where proto = "kernel6"; };
}
CONF
}

router_conf() {
  cat <<CONF
log stderr all;
router id $ROUTER4;
protocol device { }
# The client networks behind the router (their addresses are on its loopback).
protocol static clients4 { ipv4; route $CLIENT_NET4 blackhole; }
protocol static clients6 { ipv6; route $CLIENT_NET6 blackhole; }
protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; }
protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; }
protocol bgp node4 {
  local $ROUTER4 as $ROUTER_AS; neighbor $NODE4 as $NODE_AS;
  ipv4 { import all; export where proto = "clients4"; };
}
protocol bgp node6 {
  local $ROUTER6 as $ROUTER_AS; neighbor $NODE6 as $NODE_AS;
  ipv6 { import all; export where proto = "clients6"; };
}
CONF
}

# An address this machine relies on inside the link or client networks would be routed to the
# router instead (a registry behind 198.18.0.x, say): what it names in /etc/hosts, the
# resolvers it asks, and any route into those networks (any table) other than the default.
in_use() {
  local used=() a net family
  for a in $(awk '!/^#/ && NF > 1 { print $1 }' /etc/hosts) $(awk '/^nameserver/ { print $2 }' /etc/resolv.conf /run/systemd/resolve/resolv.conf 2>/dev/null); do
    case "$a" in "${NODE4%.*}".* | "${CLIENT4%.*}".* | "${NODE6%::*}":* | "${CLIENT6%::*}":*) used+=("$a") ;; esac
  done
  for net in "${NODE4%.*}.0/24" "$CLIENT_NET4" "${NODE6%::*}::/64" "$CLIENT_NET6"; do
    [[ "$net" == *:* ]] && family=-6 || family=-4
    [ -z "$(ip "$family" route show table all root "$net" 2>/dev/null)" ] || used+=("a route in $net")
  done
  for a in "$ROUTER4" "$CLIENT4" "$ROUTER6" "$CLIENT6"; do
    [[ "$a" == *:* ]] && family=-6 || family=-4
    local via default
    via=$(ip "$family" -o route get "$a" 2>/dev/null | grep -o ' via [^ ]* dev [^ ]*' || true)
    default=$(ip "$family" -o route show default 2>/dev/null | grep -o ' via [^ ]* dev [^ ]*' | head -1 || true)
    if ip "$family" -o route get "$a" >/dev/null 2>&1 && [ "$via" != "$default" ]; then used+=("the route to $a ($(ip "$family" -o route get "$a" | head -c 80))"); fi
  done
  [ ${#used[@]} -eq 0 ] && return 1
  log "this machine already uses ${used[*]}: inside the router's networks (${NODE4%.*}.0/24, $CLIENT_NET4, ${NODE6%::*}::/64, $CLIENT_NET6); free them or change underlay.sh"
  return 0
}

established() { # birdc socket, protocol
  birdc -s "$1" show protocols "$2" 2>/dev/null | grep -q Established
}

up() {
  command -v bird >/dev/null || { log "BIRD 2 is missing (apt-get install bird2; scripts/cluster/deps.sh installs it)"; exit 1; }
  if [ -n "$(pid_of bird-node)" ] && [ -n "$(pid_of bird-router)" ]; then return 0; fi
  local started
  started=$(date +%s)
  down_quietly
  if in_use; then exit 1; fi
  ip netns add "$ROUTER_NS"
  ip link add "$UPLINK" type veth peer name uplink netns "$ROUTER_NS"
  ip addr add "$NODE4/24" dev "$UPLINK"
  ip addr add "$NODE6/64" dev "$UPLINK" nodad
  ip link set "$UPLINK" up
  ip -n "$ROUTER_NS" addr add "$ROUTER4/24" dev uplink
  ip -n "$ROUTER_NS" addr add "$ROUTER6/64" dev uplink nodad
  ip -n "$ROUTER_NS" addr add "$CLIENT4/32" dev lo
  ip -n "$ROUTER_NS" addr add "$CLIENT6/128" dev lo
  ip -n "$ROUTER_NS" link set lo up
  ip -n "$ROUTER_NS" link set uplink up
  for t in iptables ip6tables; do
    "$t" -N "$FWD_CHAIN" 2>/dev/null || "$t" -F "$FWD_CHAIN"
    "$t" -A "$FWD_CHAIN" -i pin+ -j ACCEPT
    "$t" -A "$FWD_CHAIN" -o pin+ -j ACCEPT
    "$t" -C FORWARD -j "$FWD_CHAIN" 2>/dev/null || "$t" -I FORWARD -j "$FWD_CHAIN"
    "$t" -t raw -N "$RPF_CHAIN" 2>/dev/null || "$t" -t raw -F "$RPF_CHAIN"
    "$t" -t raw -A "$RPF_CHAIN" -i pin+ -m rpfilter --invert -j DROP
    "$t" -t raw -C PREROUTING -j "$RPF_CHAIN" 2>/dev/null || "$t" -t raw -I PREROUTING -j "$RPF_CHAIN"
  done
  mkdir -p "$BIRD_DIR"
  node_conf >"$BIRD_DIR/node.conf"
  router_conf >"$BIRD_DIR/router.conf"
  start_component bird-node bird -f -c "$BIRD_DIR/node.conf" -s "$BIRD_DIR/node.ctl" -P "$BIRD_DIR/node.pid"
  start_component bird-router ip netns exec "$ROUTER_NS" bird -f -c "$BIRD_DIR/router.conf" -s "$BIRD_DIR/router.ctl" -P "$BIRD_DIR/router.pid"
  for p in tor4 tor6; do wait_for bird-node 60 established "$BIRD_DIR/node.ctl" "$p"; done
  log "router $ROUTER_NS ($ROUTER4, $ROUTER6; clients $CLIENT4, $CLIENT6) peers with the node (AS $NODE_AS) over BGP, in $(($(date +%s) - started))s"
}

down_quietly() {
  stop_component bird-node
  stop_component bird-router
  ip netns del "$ROUTER_NS" 2>/dev/null || true # takes the veth pair with it
  ip link del "$UPLINK" 2>/dev/null || true
  for t in iptables ip6tables; do
    "$t" -D FORWARD -j "$FWD_CHAIN" 2>/dev/null || true
    "$t" -F "$FWD_CHAIN" 2>/dev/null || true
    "$t" -X "$FWD_CHAIN" 2>/dev/null || true
    "$t" -t raw -D PREROUTING -j "$RPF_CHAIN" 2>/dev/null || true
    "$t" -t raw -F "$RPF_CHAIN" 2>/dev/null || true
    "$t" -t raw -X "$RPF_CHAIN" 2>/dev/null || true
  done
  # The routes BIRD installed went with it (it withdraws them on TERM) or with the uplink.
  rm -rf "$BIRD_DIR"
}

case "${1:-}" in
  up) up ;;
  down) down_quietly ;;
  *) echo "usage: underlay.sh up|down" >&2; exit 2 ;;
esac
