#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by their pid files) and removes their state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The real node first, while the API server can still delete its pods (so CNI DEL runs).
bash "$cluster_dir/node.sh" down || true
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_component "${COMPONENTS[$i]}"; done
rm -rf "$STATE_DIR" "$ETCD_DATA_DIR"
echo "[cluster] stopped" >&2
