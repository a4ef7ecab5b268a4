#!/usr/bin/env bash
# Builds the Whereabouts CNI IPAM plugin (the peer bench:cni measures beside pinpool) from
# the Go module proxy into a cache folder outside the repository, keyed by its version and
# the Go version; a second run costs nothing. Prints the binary's path on its last line.
#
# Why a scratch module: whereabouts' go.mod has a `replace` (gogo/protobuf), and a
# dependency's replace lines are ignored, so `go install ...@v0.9.2` cannot work. We copy
# its replace lines into a module that requires it. Nothing of Whereabouts is committed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../cluster" && pwd)
# shellcheck source=../cluster/versions.sh
source "$here/versions.sh"
WHEREABOUTS_VERSION="${WHEREABOUTS_VERSION:-v0.9.2}" # the newest the proxy serves here
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

out="$PINPOOL_CACHE/whereabouts/$WHEREABOUTS_VERSION-$(go env GOVERSION)"
if [ -x "$out/whereabouts" ]; then echo "$out/whereabouts"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init local/pinpool-whereabouts >/dev/null 2>&1
module=github.com/k8snetworkplumbingwg/whereabouts
go mod download -json "$module@$WHEREABOUTS_VERSION" >download.json
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' download.json)
go mod edit -go="$(sed -n 's/^go //p' "$gomod")" -require="$module@$WHEREABOUTS_VERSION"
# Single-line replace directives only (v0.9.2 has one: gogo/protobuf).
sed -n 's/^replace \(.*\) => \(.*\) \(v[^ ]*\)$/\1=\2@\3/p' "$gomod" | while read -r r; do go mod edit -replace="$r"; done
printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd"\n' "$module" >tools.go
go mod tidy >&2
mkdir -p "$out.partial"
go build -trimpath -ldflags "-s -w" -o "$out.partial/whereabouts" "$module/cmd"
rm -rf "$out" && mv "$out.partial" "$out"
echo "$out/whereabouts"
