#!/usr/bin/env bash
# Build Katib v0.19.0 for the side-by-side benchmark (bench/katib/README.md), from the Go
# module proxy and PyPI only, into a cache directory:
#
#   $TUNEOP_CACHE/katib-VERSION/bin/{katib-controller,katib-db-manager,file-metricscollector}
#   $TUNEOP_CACHE/katib-VERSION/crds/{experiment,suggestion,trial}.yaml
#   $TUNEOP_CACHE/katib-VERSION/src    -> the module's source in GOMODCACHE (read-only)
#   $TUNEOP_CACHE/katib-VERSION/venv   the suggestion services' Python (hyperopt's
#                                      requirements.txt of the module, and kubeflow-katib)
#
#   build.sh [VERSION]   default 0.19.0 ($TUNEOP_KATIB_VERSION)
#   TUNEOP_CACHE         cache root (default: $HOME/.cache/tuneop)
#   TUNEOP_KATIB_PYTHON  the interpreter for the venv (default python3.11: Katib's suggestion
#                        images are built FROM python:3.11-slim)
#
# The module's go.mod has no replace directives, but its three commands all live in
# directories named v1beta1, so `go install cmd@version` would name every binary v1beta1:
# instead each is built with `go build -o NAME` inside the downloaded module (its own go.mod
# and go.sum, read-only). GOMODCACHE and GOCACHE are shared with the other builds
# ($TUNEOP_CACHE/go). Go runs under `nice -n 15` (the machine is shared). Idempotent: each
# piece is skipped when present; delete it to rebuild.
set -euo pipefail

VERSION="${1:-${TUNEOP_KATIB_VERSION:-0.19.0}}"
VERSION="${VERSION#v}"
CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"
PREFIX="$CACHE/katib-$VERSION"
MODULE="github.com/kubeflow/katib"
PYTHON="${TUNEOP_KATIB_PYTHON:-python3.11}"

say() { printf '[katib/build.sh] %s\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { say "bad version '$VERSION'" >&2; exit 2; }
command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { say "no go on PATH (need Go >= the module's go directive)" >&2; exit 1; }

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$PREFIX/bin" "$PREFIX/crds"

dir=$(nice -n 15 go mod download -json "$MODULE@v$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -n "$dir" && -d "$dir" ]] || { say "could not download $MODULE@v$VERSION" >&2; exit 1; }
ln -sfn "$dir" "$PREFIX/src"

build() {  # build PACKAGE NAME
    local package="$1" name="$2" start
    if [[ -x "$PREFIX/bin/$name" ]]; then
        say "cached: $name"
        return
    fi
    start=$(date +%s)
    say "building $package with $(go env GOVERSION) (minutes when cold)"
    (cd "$dir" && nice -n 15 go build -trimpath -ldflags "-s -w" -o "$PREFIX/bin/$name.tmp" "./$package")
    mv -f "$PREFIX/bin/$name.tmp" "$PREFIX/bin/$name"
    say "built $name in $(($(date +%s) - start))s (load $(load))"
}
build cmd/katib-controller/v1beta1 katib-controller
build cmd/db-manager/v1beta1 katib-db-manager
build cmd/metricscollector/v1beta1/file-metricscollector file-metricscollector

if [[ ! -f "$PREFIX/crds/.ready" ]]; then
    install -m 0644 "$dir"/manifests/v1beta1/components/crd/{experiment,suggestion,trial}.yaml "$PREFIX/crds/"
    touch "$PREFIX/crds/.ready"
fi
say "CRDs in $PREFIX/crds"

if [[ ! -x "$PREFIX/venv/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || { say "no $PYTHON (set TUNEOP_KATIB_PYTHON)" >&2; exit 1; }
    rm -rf "$PREFIX/venv.tmp"
    "$PYTHON" -m venv "$PREFIX/venv.tmp"
    # The hyperopt suggestion service's own requirements (random and tpe are hyperopt's),
    # and the SDK for the Push collector.
    nice -n 15 "$PREFIX/venv.tmp/bin/pip" install -q \
        -r "$dir/cmd/suggestion/hyperopt/v1beta1/requirements.txt" "kubeflow-katib==$VERSION"
    mv "$PREFIX/venv.tmp" "$PREFIX/venv"
    # The venv's scripts name venv.tmp in their shebangs; the benchmark runs only `python`.
fi
say "ready: $PREFIX"
