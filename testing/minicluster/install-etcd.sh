#!/usr/bin/env bash
# Put an etcd new enough for a current kube-apiserver (>= 3.5.13) into the cache, for the
# end-to-end test tier (see HARNESS.md). Debian bookworm's etcd is 3.4; trixie's etcd-server
# .deb (3.5.x, a static Go binary) runs on bookworm. This downloads that .deb through apt with a
# private apt configuration (its own sources list, state and cache under the cache directory),
# so the system's sources, pins and installed packages are left untouched, and unpacks it with
# dpkg -x.
#
#   TUNEOP_CACHE   cache root (default: $HOME/.cache/tuneop)
#
# Prints nothing but a status line; the binary ends up at $TUNEOP_CACHE/etcd/bin/etcd (a
# symlink into $TUNEOP_CACHE/etcd-<version>/). Idempotent: exits 0 at once when cached.
set -euo pipefail

CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"
LINK="$CACHE/etcd"
SUITE="${TUNEOP_ETCD_SUITE:-trixie}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf '[install-etcd.sh] %s\n' "$*"; }

if [[ -x "$LINK/bin/etcd" ]]; then
    say "cached: $("$LINK/bin/etcd" --version | head -n1) in $LINK/bin"
    exit 0
fi

uri=$(awk '/^URIs:/ && $2 ~ /debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources \
    2>/dev/null || true)
uri="${uri:-http://deb.debian.org/debian}"

APTDIR="$CACHE/apt-$SUITE"
mkdir -p "$APTDIR"/{lists/partial,archives/partial,etc/preferences.d,etc/sources.list.d}
cat >"$APTDIR/etc/sources.list" <<EOF
deb [signed-by=$KEYRING] $uri $SUITE main
EOF
APT=(-o "Dir::Etc::sourcelist=$APTDIR/etc/sources.list"
    -o "Dir::Etc::sourceparts=$APTDIR/etc/sources.list.d"
    -o "Dir::Etc::preferencesparts=$APTDIR/etc/preferences.d"
    -o "Dir::State::lists=$APTDIR/lists"
    -o "Dir::Cache::archives=$APTDIR/archives"
    -o "Dir::Cache::pkgcache=$APTDIR/pkgcache.bin"
    -o "Dir::Cache::srcpkgcache=$APTDIR/srcpkgcache.bin"
    -o "APT::Architecture=$(dpkg --print-architecture)"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root")

say "fetching the $SUITE package index into $APTDIR (private apt state)"
apt-get "${APT[@]}" update -q >/dev/null
cd "$APTDIR/archives"
rm -f etcd-server_*.deb
apt-get "${APT[@]}" download -q etcd-server >/dev/null
deb=$(ls etcd-server_*.deb | head -n1)
version=$(dpkg-deb -f "$deb" Version)
say "downloaded $deb ($version)"

DEST="$CACHE/etcd-${version%%+*}"
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
dpkg -x "$deb" "$DEST.tmp/root"
mkdir -p "$DEST.tmp/bin"
for b in etcd etcdctl etcdutl; do
    for p in "$DEST.tmp/root/usr/bin/$b" "$DEST.tmp/root/usr/sbin/$b"; do
        [[ -x "$p" ]] && ln -sf "../root/${p#"$DEST.tmp/root/"}" "$DEST.tmp/bin/$b"
    done
done
[[ -e "$DEST.tmp/bin/etcd" ]] || { say "no etcd binary in $deb" >&2; exit 1; }
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
ln -sfn "$(basename "$DEST")" "$LINK"
say "installed: $("$LINK/bin/etcd" --version | head -n1) in $LINK/bin"
