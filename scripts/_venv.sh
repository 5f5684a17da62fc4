# Sourced by scripts/* with a profile: `source _venv.sh run` makes sure the venv holds
# what running needs (`pip install -e .`); `source _venv.sh dev` adds the dev extras
# (pytest, hypothesis, ruff, mypy, import-linter: scripts/test, scripts/check, .ci/run).
# A dev install serves `run` too. Re-installs when pyproject.toml is newer than the
# profile's stamp. Does not change the caller's working directory (so
# `./scripts/run prune --archive ./out` means ./out).
# ORDERS_VENV=/path picks another venv; PYTHON=/path/to/python3.11 picks the interpreter.
set -euo pipefail
PROFILE="${1:-dev}"
case "$PROFILE" in
  run) SPEC="" ;;
  dev) SPEC="[dev]" ;;
  *) echo "scripts/_venv.sh: unknown profile '$PROFILE' (run or dev)" >&2; exit 2 ;;
esac
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
# one stamp per profile; the dev stamp counts for run (dev installs everything run needs)
STAMP="$VENV/.orders-installed-$PROFILE"
DEV_STAMP="$VENV/.orders-installed-dev"
fresh() { [ -f "$1" ] && ! [ "$ROOT/pyproject.toml" -nt "$1" ]; }
if ! fresh "$STAMP" && ! fresh "$DEV_STAMP"; then
  what="orders"; [ "$PROFILE" = dev ] && what="orders and its dev tools"
  echo "orders: installing $what into $VENV (once)" >&2
  if ! "$VENV/bin/python" -m pip install -q -e "$ROOT$SPEC" >&2; then
    echo "orders: error: pip install failed (network or package index?); see above" >&2
    exit 1
  fi
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
