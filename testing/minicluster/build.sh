#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager 1.20.2 from Debian's source package into a
# cache directory, for the end-to-end test tier (see HARNESS.md beside this file).
#
#   TUNEOP_CACHE   cache root (default: $HOME/.cache/tuneop)
#
# Idempotent: exits 0 at once when both binaries are already cached. Installs its apt
# dependencies when they are missing (needs root or sudo). Takes ~6 minutes on 2 cores.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"
PREFIX="$CACHE/k8s-$K8S_VERSION"
BIN="$PREFIX/bin"
BINARIES=(kube-apiserver kube-controller-manager)
APT_DEPS=(etcd-server golang-go rsync openssl dpkg-dev golang-github-modern-go-reflect2-dev)
SRC_LIST=/etc/apt/sources.list.d/tuneop-src.sources
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

say() { printf '[build.sh] %s\n' "$*"; }

cached() {
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$BIN/$b" ]] || return 1
    done
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "need root to run: $*" >&2
        exit 1
    fi
}

missing_packages() {
    local p
    for p in "${APT_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || printf '%s\n' "$p"
    done
}

has_deb_src() {
    grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/
}

add_deb_src() {
    # A deb-src twin of the main bookworm archive entry of /etc/apt/sources.list.d/debian.sources.
    say "adding Debian source entry $SRC_LIST"
    local uri signed
    uri=$(awk '/^URIs:/ && $2 ~ /debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources \
        2>/dev/null || true)
    signed=/usr/share/keyrings/debian-archive-keyring.gpg
    as_root tee "$SRC_LIST" >/dev/null <<EOF
Types: deb-src
URIs: ${uri:-http://deb.debian.org/debian}
Suites: bookworm
Components: main
Signed-By: $signed
EOF
}

if cached; then
    say "cached: ${BINARIES[*]} in $BIN"
    exit 0
fi

updated=0
mapfile -t missing < <(missing_packages)
if ! has_deb_src; then
    add_deb_src
    as_root apt-get update -q
    updated=1
fi
if ((${#missing[@]})); then
    say "installing apt packages: ${missing[*]}"
    ((updated)) || as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

mkdir -p "$PREFIX"
SCRATCH=$(mktemp -d "$PREFIX/build.XXXXXX")
trap 'say "removing scratch dir $SCRATCH"; chmod -R u+w "$SCRATCH" 2>/dev/null; rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH"

say "downloading Debian source package kubernetes into $SCRATCH"
apt-get source --download-only -q kubernetes
dsc=$(ls ./kubernetes_*.dsc | head -n1)
say "extracting $dsc"
dpkg-source --no-check -x "$dsc" src >/dev/null
rm -f ./kubernetes_*.tar.* ./kubernetes_*.debian.* ./kubernetes_*.dsc
cd src

# The vendored reflect2 v1.0.1 corrupts memory under Go >= 1.18 ("fatal error: fault" on the
# first custom resource); Debian's 1.0.2 works.
say "replacing vendor/github.com/modern-go/reflect2 with $REFLECT2_SRC"
rm -rf vendor/github.com/modern-go/reflect2
mkdir -p vendor/github.com/modern-go/reflect2
cp -rL "$REFLECT2_SRC"/. vendor/github.com/modern-go/reflect2/
find vendor/github.com/modern-go/reflect2 -name '*_test.go' -delete

export GOPATH="$PWD/.go" GOCACHE="$SCRATCH/gocache" CGO_ENABLED=0
export KUBE_GIT_VERSION="v$K8S_VERSION" KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes

say "building ${BINARIES[*]} with $(go version) (takes minutes)"
start=$(date +%s)
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"
say "built in $(($(date +%s) - start))s"

mkdir -p "$BIN"
for b in "${BINARIES[@]}"; do
    out=$(find _output -type f -name "$b" -perm -u+x | head -n1)
    [[ -n "$out" ]] || { say "build produced no $b" >&2; exit 1; }
    install -m 0755 "$out" "$BIN/$b.tmp"
    mv -f "$BIN/$b.tmp" "$BIN/$b"
done
"$BIN/kube-apiserver" --version
say "installed into $BIN"
