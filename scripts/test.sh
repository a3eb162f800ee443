#!/usr/bin/env bash
# README's test command: set up a fresh machine, then run lint, layer contracts and the whole suite
# (unit tests and integration tests on a local Kubernetes cluster with a real node, Redis and
# PostgreSQL), all in the project's virtualenv `.venv`. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH"
python -m ruff check dagster_ext tests examples bench scripts || exit 1
lint-imports || exit 1
python -m mypy dagster_ext || exit 1
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
