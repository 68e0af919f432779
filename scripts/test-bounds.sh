#!/usr/bin/env bash
# The unit and component tiers on the lowest and on the newest versions of tuneop's
# dependencies that pyproject.toml allows (it declares ranges: tuneop installs into other
# people's environments). Two venvs under .venv-bounds/:
#   lowest: pip install -c constraints-lowest.txt (each direct dependency at its lower bound)
#   newest: pip install --upgrade --upgrade-strategy eager (the newest each range allows)
# The main run (scripts/test.sh) uses the tested versions of constraints.txt. .ci/run calls
# this after it.
#   ./scripts/test-bounds.sh [lowest|newest]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# What the summary line names: tuneop's direct dependencies.
DIRECT='^(cmaes|jsonschema|kopf|kubernetes|optuna|plotly|prometheus.client|pydantic|pyyaml|redis|referencing|rich|scipy)=='

bounds() {
  local name=$1 venv=.venv-bounds/$1
  shift
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" \
    -e ./runner_image -e ./testing -e '.[dev]'
  echo "== $name versions: $("$venv/bin/pip" freeze --disable-pip-version-check \
    | grep -iE "$DIRECT" | tr '\n' ' ')"
  echo "== pytest tests/unit tests/component on the $name versions"
  "$venv/bin/python" -m pytest tests/unit tests/component -q -p no:randomly
}

for which in "${@:-lowest newest}"; do
  for name in $which; do
    case $name in
      lowest) bounds lowest -c constraints-lowest.txt ;;
      newest) bounds newest --upgrade --upgrade-strategy eager ;;
      *) echo "test-bounds.sh: lowest or newest, not $name" >&2; exit 2 ;;
    esac
  done
done
