# Sourced by scripts/*: make sure the venv exists and holds the project (dev extras included).
# Re-installs when pyproject.toml is newer than the install stamp. Does not change the
# caller's working directory (so `./scripts/run prune --archive ./out` means ./out).
# ORDERS_VENV=/path picks another venv; PYTHON=/path/to/python3.11 picks the interpreter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ORDERS_VENV:-$ROOT/.venv}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  # pyenv shims exist for versions that are not active: try each, keep the first that runs
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      PY="$cand"; break
    fi
  done
fi
if [ ! -x "$VENV/bin/python" ]; then
  if [ -z "$PY" ]; then
    echo "orders: error: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
    exit 2
  fi
  echo "orders: creating $VENV with $("$PY" -c 'import sys; print(sys.executable)')" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.orders-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "orders: installing orders and its dev tools into $VENV (once)" >&2
  if ! "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" >&2; then
    echo "orders: error: pip install failed (network or package index?); see above" >&2
    exit 1
  fi
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
