#!/usr/bin/env bash
# Build Kueue's controller manager from the Go module proxy into a cache directory, with
# Kueue's CRDs beside it, for the e2e tier's queueing test (see HARNESS.md).
#
#   build-kueue.sh [VERSION]   VERSION like 0.17.0 (default: $TUNEOP_KUEUE_VERSION, else
#                              KUEUE_VERSION of kueue.py beside this file)
#   TUNEOP_CACHE   cache root (default: $HOME/.cache/tuneop)
#
# sigs.k8s.io/kueue has no replace directives, so `go install module/cmd/kueue@vX.Y.Z` builds
# the release exactly as its go.mod pins it. Output: $TUNEOP_CACHE/kueue-X.Y.Z/bin/kueue and
# $TUNEOP_CACHE/kueue-X.Y.Z/crds/*.yaml (config/components/crd/bases of the same module).
# GOMODCACHE and GOCACHE are shared with build-kubernetes.sh ($TUNEOP_CACHE/go), so a
# rebuild is warm. Idempotent: exits 0 at once when the binary and the CRDs are cached.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_VERSION=$(sed -n 's/^KUEUE_VERSION = "\(.*\)"$/\1/p' "$HERE/kueue.py")
VERSION="${1:-${TUNEOP_KUEUE_VERSION:-$DEFAULT_VERSION}}"
VERSION="${VERSION#v}"
CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"
PREFIX="$CACHE/kueue-$VERSION"
MODULE="sigs.k8s.io/kueue"

say() { printf '[build-kueue.sh] %s\n' "$*"; }

if [[ -x "$PREFIX/bin/kueue" && -f "$PREFIX/crds/.ready" ]]; then
    say "cached: kueue $VERSION in $PREFIX"
    exit 0
fi

[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { say "bad version '$VERSION'" >&2; exit 2; }
command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { say "no go on PATH (need Go >= the release's go directive)" >&2; exit 1; }

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$PREFIX/bin" "$PREFIX/crds"

start=$(date +%s)
say "fetching $MODULE v$VERSION"
dir=$(go mod download -json "$MODULE@v$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -n "$dir" && -d "$dir" ]] || { say "could not download $MODULE@v$VERSION" >&2; exit 1; }

if [[ ! -f "$PREFIX/crds/.ready" ]]; then
    install -m 0644 "$dir"/config/components/crd/bases/*.yaml "$PREFIX/crds/"
    touch "$PREFIX/crds/.ready"
    say "CRDs: $(find "$PREFIX/crds" -name '*.yaml' | wc -l) files in $PREFIX/crds"
fi

if [[ ! -x "$PREFIX/bin/kueue" ]]; then
    say "building $MODULE/cmd/kueue v$VERSION with $(go version) (minutes when cold)"
    ldflags="-s -w -X $MODULE/pkg/version.GitVersion=v$VERSION"
    ldflags+=" -X $MODULE/pkg/version.GitCommit=module-proxy-v$VERSION"
    GOBIN="$PREFIX/bin.tmp" go install -trimpath -ldflags "$ldflags" "$MODULE/cmd/kueue@v$VERSION"
    mv -f "$PREFIX/bin.tmp/kueue" "$PREFIX/bin/kueue"
    rmdir "$PREFIX/bin.tmp" 2>/dev/null || true
fi
say "built in $(($(date +%s) - start))s; installed into $PREFIX"
