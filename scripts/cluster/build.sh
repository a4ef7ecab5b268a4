#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (from the
# k8s.io/kubernetes Go module) and etcd (from go.etcd.io/etcd/server/v3) into a cache
# folder outside the repository, keyed by the pinned versions and the Go version, so a
# second run costs nothing. Prints the folder holding the binaries on its last line.
# `build.sh node` builds the kubelet the same way into its own cache folder (the real node).
#
# Why a scratch module: k8s.io/kubernetes' own go.mod replaces its staging modules
# (k8s.io/api, k8s.io/client-go, ...) with ./staging paths; a dependency's replace lines
# are ignored, so `go install k8s.io/kubernetes/cmd/...@v1.x` cannot work. We replace each
# staging module with its published v0.X.Y tag instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

# CGO off, as upstream builds these; -modcacherw so a later `rm -rf` of the cache works.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

target=${1:-control-plane}
case $target in
  control-plane) out=$(pinpool_testbin_dir) ;;
  node) out=$(pinpool_kubelet_dir) ;;
  *) echo "build.sh: unknown target '$target'; expected control-plane or node" >&2; exit 2 ;;
esac
if [ -f "$out/.complete" ]; then echo "$out"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/k8s" "$work/etcd" "$work/bin"
log() { echo "[build $(date +%H:%M:%S)] $*" >&2; }

# Prints the path of a module's go.mod in the module cache (downloading it).
module_gomod() {
  go mod download -json "$1" >"$work/download.json"
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$work/download.json"
}

log "kubernetes $K8S_VERSION: resolving modules"
cd "$work/k8s"
go mod init local/pinpool-testbin >/dev/null 2>&1
k8s_gomod=$(module_gomod "k8s.io/kubernetes@$K8S_VERSION")
go mod edit -go="$(sed -n 's/^go //p' "$k8s_gomod")" -require="k8s.io/kubernetes@$K8S_VERSION"
grep '^godebug ' "$k8s_gomod" >>go.mod || true
staging="v0.${K8S_VERSION#v1.}" # v1.37.2 -> v0.37.2
for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\1#p' "$k8s_gomod"); do
  go mod edit -replace="$m=$m@$staging"
done
if [ "$target" = node ]; then cmds=(kubelet); else cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl); fi
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for c in "${cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  printf ')\n'
} >tools.go
go mod tidy

minor=$(echo "$K8S_VERSION" | cut -d. -f2)
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags="$ldflags -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
log "kubernetes $K8S_VERSION: compiling (GO_BUILD_P=${GO_BUILD_P:-default})"
go build ${GO_BUILD_P:+-p "$GO_BUILD_P"} -trimpath -buildvcs=false -tags selinux,notest,grpcnotrace \
  -ldflags "$ldflags" -o "$work/bin/" "${cmds[@]/#/k8s.io/kubernetes/cmd/}"

if [ "$target" = control-plane ]; then
  log "etcd $ETCD_VERSION: resolving and compiling"
  cd "$work/etcd"
  go mod init local/pinpool-etcd >/dev/null 2>&1
  etcd_gomod=$(module_gomod "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  go mod edit -go="$(sed -n 's/^go //p' "$etcd_gomod")" -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
  go mod tidy
  go build -trimpath -buildvcs=false -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    -o "$work/bin/etcd" go.etcd.io/etcd/server/v3

  "$work/bin/etcd" --version >&2
fi
"$work/bin/${cmds[0]}" --version >&2
mkdir -p "$(dirname "$out")"
rm -rf "$out.partial"
cp -r "$work/bin" "$out.partial"
(cd "$out.partial" && sha256sum ./* >SHA256SUMS)
touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
log "done"
echo "$out"
