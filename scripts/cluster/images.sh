#!/usr/bin/env bash
# images.sh import <containerd socket>: builds the project's images (scripts/images/build.ts:
# the sandbox's pause, the app image, pinpool's own) as OCI archives and imports them into
# containerd's k8s.io namespace. No registry is needed: pods run them with IfNotPresent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "${1:-}" = import ] && [ -n "${2:-}" ] || { echo "usage: images.sh import <containerd socket>" >&2; exit 2; }
sock=$2
ctr=$(dirname "$(readlink -f "$(ls -d "$PINPOOL_CACHE"/node/debian-containerd-*/usr/bin/ctr | tail -1)")")/ctr
tars=()
if [ -f "$repo_root/scripts/images/build.ts" ]; then
  mapfile -t tars < <(cd "$repo_root" && npx tsx scripts/images/build.ts --paths)
fi
for t in "${tars[@]}" ${PINPOOL_EXTRA_IMAGES:-}; do
  "$ctr" --address "$sock" -n k8s.io images import "$t" >/dev/null
done
"$ctr" --address "$sock" -n k8s.io images ls -q
