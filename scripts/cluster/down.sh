#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by their pid files) and removes their state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The real node first, while the API server can still delete its pods (so CNI DEL runs).
bash "$cluster_dir/node.sh" down || true
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  c=${COMPONENTS[$i]}
  pid=$(pid_of "$c" || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
done
rm -rf "$STATE_DIR" "$ETCD_DATA_DIR"
echo "[cluster] stopped" >&2
