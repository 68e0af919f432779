#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kubectl of one Kubernetes release from the
# Go module proxy into a cache directory, for the end-to-end test tier (see HARNESS.md).
#
#   build-kubernetes.sh [VERSION]      VERSION like 1.37.2 (default: $TUNEOP_K8S_VERSION, else
#                                      DEFAULT_K8S_VERSION of controlplane.py beside this file)
#   TUNEOP_CACHE   cache root (default: $HOME/.cache/tuneop)
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod points the k8s.io/* staging modules at
# ./staging/...), so this writes a small wrapper module that requires k8s.io/kubernetes vX.Y.Z
# and replaces every staging module with its v0.Y.Z release, then builds the commands from it.
# Binaries land in $TUNEOP_CACHE/k8s-X.Y.Z/bin; GOMODCACHE and GOCACHE live in
# $TUNEOP_CACHE/go so a rebuild is warm. Idempotent: exits 0 at once when everything is cached.
# Cold: several minutes of downloads and ~15 minutes of compiling on 2 cores; warm: ~1 minute.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_VERSION=$(sed -n 's/^DEFAULT_K8S_VERSION = "\(.*\)"$/\1/p' "$HERE/controlplane.py")
VERSION="${1:-${TUNEOP_K8S_VERSION:-$DEFAULT_VERSION}}"
VERSION="${VERSION#v}"
CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"
PREFIX="$CACHE/k8s-$VERSION"
BIN="$PREFIX/bin"
BINARIES=(kube-apiserver kube-controller-manager kubectl)

say() { printf '[build-kubernetes.sh] %s\n' "$*"; }

cached() {
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$BIN/$b" ]] || return 1
    done
}

if cached; then
    say "cached: ${BINARIES[*]} $VERSION in $BIN"
    exit 0
fi

IFS=. read -r MAJOR MINOR PATCH <<<"$VERSION"
[[ -n "$MAJOR" && -n "$MINOR" && -n "$PATCH" ]] || { say "bad version '$VERSION'" >&2; exit 2; }
command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { say "no go on PATH (need Go >= the release's go directive)" >&2; exit 1; }

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mkdir -p "$GOMODCACHE" "$GOCACHE"

WRAP="$PREFIX/wrapper"
mkdir -p "$WRAP"
cd "$WRAP"

if [[ ! -s go.sum || ! -f .ready ]]; then
    say "fetching k8s.io/kubernetes v$VERSION go.mod"
    gomod=$(go mod download -json "k8s.io/kubernetes@v$VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [[ -n "$gomod" && -f "$gomod" ]] || { say "could not download k8s.io/kubernetes@v$VERSION" >&2; exit 1; }
    godirective=$(awk '$1 == "go" {print $2; exit}' "$gomod")
    mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod")
    say "release wants go $godirective; $(go version); ${#staging[@]} staging modules"
    {
        echo "module tuneop.local/k8sbuild"
        echo
        echo "go $godirective"
        echo
        echo "require k8s.io/kubernetes v$VERSION"
        echo
        echo "replace ("
        for m in "${staging[@]}"; do
            echo "	$m => $m v0.$MINOR.$PATCH"
        done
        echo ")"
    } >go.mod
    cat >tools.go <<'EOF'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
    say "resolving modules (downloads on a cold cache)"
    start=$(date +%s)
    # The release pins its dependencies in its own go.mod; MVS picks them up from there.
    if ! go mod tidy >tidy.log 2>&1; then
        tail -n 30 tidy.log >&2
        refused=$(grep -oE '[a-z0-9./-]+@v[0-9][^:]*: reading [^ ]+: 40[0-9]' tidy.log \
            | sed 's/: reading.*//' | sort -u | tr '\n' ' ')
        say "the Go module proxy refused: ${refused:-see above}; try another release" >&2
        exit 1
    fi
    say "modules resolved in $(($(date +%s) - start))s"
    touch .ready
fi

ldflags="-s -w"
for kv in "gitVersion=v$VERSION" "gitMajor=$MAJOR" "gitMinor=$MINOR" "gitTreeState=clean" \
    "gitCommit=module-proxy-v$VERSION" "buildDate=1970-01-01T00:00:00Z"; do
    ldflags+=" -X k8s.io/component-base/version.$kv"
    ldflags+=" -X k8s.io/client-go/pkg/version.$kv"
done

mkdir -p "$BIN"
say "building ${BINARIES[*]} v$VERSION with $(go version) (minutes when cold)"
start=$(date +%s)
for b in "${BINARIES[@]}"; do
    [[ -x "$BIN/$b" ]] && continue
    bstart=$(date +%s)
    go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv -f "$BIN/$b.tmp" "$BIN/$b"
    say "built $b in $(($(date +%s) - bstart))s"
done
say "built in $(($(date +%s) - start))s"
"$BIN/kube-apiserver" --version
"$BIN/kubectl" version --client 2>/dev/null | head -1 || true
say "installed into $BIN"
