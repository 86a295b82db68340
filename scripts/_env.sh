# Sourced by scripts/test, scripts/lint and scripts/bench: work from the repository root, import
# this checkout's code, and take tools from .venv/bin when it exists, else from PATH.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# The path of a tool: .venv/bin/<name> if present, else <name> on PATH, else a clear error.
tool() {
  if [ -x "$ROOT/.venv/bin/$1" ]; then
    echo "$ROOT/.venv/bin/$1"
  elif command -v "$1" >/dev/null; then
    command -v "$1"
  else
    echo "$1 is not installed; run: .venv/bin/pip install -e \".[test]\"" >&2
    return 1
  fi
}
