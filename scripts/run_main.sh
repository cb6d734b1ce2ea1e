#!/usr/bin/env bash
# Set up the environment (idempotent) and run hybridrec's main Dagster job on the demo data.
# Extra arguments go to `python -m dagster_project`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${HYBRIDREC_VENV:-$ROOT/.venv}/bin/python" -m dagster_project "$@"
