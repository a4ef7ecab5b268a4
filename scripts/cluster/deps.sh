#!/usr/bin/env bash
# Installs, from Debian, what the local cluster and the tests need when it is missing:
# openssl (PKI), curl (readiness), iproute2 (network namespaces), the reference CNI plugins
# (bridge, loopback, host-local) that the e2e tests chain with pinpool, ping for the
# e2e connectivity checks, gcc and a static busybox (the pause binary, and the shell and httpd
# of the images scripts/images builds), Prometheus and promtool (the alert-rule tests, the
# demo's and the e2e tests' Prometheus), BIRD 2 (BGP between the real node and the router
# outside it, scripts/cluster/underlay.sh).
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v gcc >/dev/null || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev) # the static pause binary
# Debian's plain busybox is dynamically linked and cannot run alone in an image.
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
command -v iptables >/dev/null || need+=(iptables) # the real node routes the API server's Service (node.sh)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
{ [ -x /usr/bin/prometheus ] && command -v promtool >/dev/null; } || need+=(prometheus)
# BIRD 1.x (Debian's bird) cannot read BIRD 2's configuration.
{ bird --version 2>&1 | grep -q 'BIRD version 2' && command -v birdc >/dev/null; } || need+=(bird2)
if [ ${#need[@]} -gt 0 ]; then
  echo "[deps] installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# Debian's prometheus and bird2 packages start their own daemons (Prometheus on :9090, BIRD
# with /etc/bird) where the init system lets them. pinpool runs both itself with its own
# configs (scripts/monitoring/prometheus.ts, scripts/cluster/underlay.sh), so the packages'
# services are stopped and kept off.
for service in prometheus bird; do
  [[ " ${need[*]} " == *" $service"* ]] || continue
  systemctl disable --now "$service" >/dev/null 2>&1 || true
  [ ! -x "/etc/init.d/$service" ] || "/etc/init.d/$service" stop >/dev/null 2>&1 || true
done
