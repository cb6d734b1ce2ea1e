#!/usr/bin/env bash
# Create (if missing) .venv with Python 3.11 and install hybridrec with the tested versions.
# Idempotent: a stamp records the hash of pyproject.toml + constraints.txt, so a second run with
# nothing changed installs nothing. Source it or run it; it never touches a global Python.
#
# Environment:
#   PYTHON                     interpreter used to create .venv (default: python3.11)
#   HYBRIDREC_VENV             virtualenv folder (default: .venv in the repository root)
#   HYBRIDREC_TORCH_INDEX_URL  install torch from this index first, e.g.
#                              https://download.pytorch.org/whl/cpu (small CPU build) or .../cu128;
#                              unset: pip's configured indexes decide (see constraints.txt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="${HYBRIDREC_VENV:-$ROOT/.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null || { echo "setup_env: $PYTHON not found (set PYTHON=...)" >&2; exit 1; }
    echo "setup_env: creating $VENV with $PYTHON" >&2
    "$PYTHON" -m venv "$VENV"
fi

STAMP="$VENV/.hybridrec-setup-stamp"
WANT="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "import hybridrec_core" 2>/dev/null; then
    echo "setup_env: $VENV is up to date" >&2
    exit 0
fi

start=$(date +%s)
if [ -n "${HYBRIDREC_TORCH_INDEX_URL:-}" ]; then
    "$VENV/bin/python" -m pip install -q -c constraints.txt --index-url "$HYBRIDREC_TORCH_INDEX_URL" torch
fi
"$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[dev]'
echo "$WANT" > "$STAMP"
echo "setup_env: installed in $(( $(date +%s) - start )) s" >&2
