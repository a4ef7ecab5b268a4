#!/usr/bin/env bash
# Installs, from Debian, what the local cluster and the tests need when it is missing:
# openssl (PKI), curl (readiness), iproute2 (network namespaces), the reference CNI plugins
# (bridge, loopback, host-local) that the e2e tests chain with pinpool, ping for the
# e2e connectivity checks.
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
if [ ${#need[@]} -gt 0 ]; then
  echo "[deps] installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
