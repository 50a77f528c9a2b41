#!/usr/bin/env bash
# Create or reuse .venv at the repository root and install the project into it.
# Sourced by run_all.sh and run_tests.sh; idempotent (re-installs only when pyproject.toml changed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
STAMP="$VENV/.ambig_install_stamp"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[setup] installing ambig_lib and its dependencies (first run compiles llama-cpp-python: ~5 min)" >&2
  set +e
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]" 2>&1 \
    | grep -v -e "is ignored: it is neither a file nor a directory" >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then echo "[setup] pip install failed (exit $status)" >&2; exit 1; fi
  "$VENV/bin/python" -c "import ambig_lib, torch, transformers, llama_cpp"
  echo "$WANT" > "$STAMP"
fi
# The project's Jupyter kernel, registered inside the venv once (JupyterLab: ./run_all.sh --lab).
if [ ! -f "$VENV/share/jupyter/kernels/ambig_lib/kernel.json" ]; then
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name ambig_lib --display-name "Python (ambig_lib)" >/dev/null
fi
export PATH="$VENV/bin:$PATH"
# Offline machines: fall back to the shared data mirror next to the checkout when none is configured.
if [ -z "${AMBIG_DATA_MIRROR:-}" ] && [ -d "$ROOT/../shared/mirror" ]; then
  export AMBIG_DATA_MIRROR="$(cd "$ROOT/../shared/mirror" && pwd)"
  echo "[setup] AMBIG_DATA_MIRROR not set; using $AMBIG_DATA_MIRROR" >&2
fi
