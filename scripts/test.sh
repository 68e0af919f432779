#!/usr/bin/env bash
# The project's test command: installs into .venv, then lints, type-checks,
# checks the import layers and runs every test tier.
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -m "not e2e"   pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
# dev: every extra but gp, and the tools; gp: PyTorch for optimizer.type gp, so its tests
# run (a large download the first time). constraints.txt: the versions the tests run on
# (pyproject.toml declares ranges; scripts/test-bounds.sh tries their ends).
pip install --quiet --disable-pip-version-check -c constraints.txt \
  -e ./runner_image -e ./testing -e '.[dev,gp]'
echo "== ruff"
ruff check operator runner_image testing tests bench
echo "== mypy (strict)"
mypy
echo "== import layers"
lint-imports
echo "== sizes and complexity (radon)"
python scripts/check_sizes.py
echo "== pytest"
python -m pytest "$@"
