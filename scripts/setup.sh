#!/usr/bin/env bash
# Sets up a fresh machine: Debian packages, npm dependencies, and the local control plane's
# binaries and the real node's kubelet (built once from the Go module proxy into
# ~/.cache/pinpool, then reused).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v go >/dev/null || { echo "setup: Go is required to build the control plane (apt-get install golang-go, or a newer Go)" >&2; exit 1; }
command -v node >/dev/null || { echo "setup: Node.js 20 is required" >&2; exit 1; }
bash scripts/cluster/deps.sh
npm ci --no-audit --no-fund
bash scripts/cluster/build.sh >/dev/null
# The real node's kubelet (root only: a non-root machine runs the simulated nodes alone).
if [ "$(id -u)" = 0 ]; then bash scripts/cluster/build.sh node >/dev/null; fi
echo "setup: done. Control-plane binaries: $(bash scripts/cluster/build.sh)"
