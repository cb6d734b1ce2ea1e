#!/usr/bin/env bash
# Set up the environment (idempotent) and run the test suite on 2 workers.
# Extra arguments go to pytest (e.g. `bash scripts/run_tests.sh -k plugins`).
# Tests marked `realdata` run when the public datasets are found (HYBRIDREC_DATA_DIR, default
# ../shared/data beside the repository); otherwise they skip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
DATA="${HYBRIDREC_DATA_DIR:-$ROOT/../shared/data}"
if [ -d "$DATA" ]; then
    export HYBRIDREC_DATA_DIR="$(cd "$DATA" && pwd)"
else
    unset HYBRIDREC_DATA_DIR
fi
export HYBRIDREC_PROGRESS="${HYBRIDREC_PROGRESS:-0}"
exec "${HYBRIDREC_VENV:-$ROOT/.venv}/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
