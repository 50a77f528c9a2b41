#!/usr/bin/env bash
# Run the test suite (lint + pytest, slow tests excluded). Extra arguments go to pytest,
# e.g. ./run_tests.sh -m slow  or  ./run_tests.sh tests/test_data.py
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/ensure_venv.sh
echo "[tests] ruff check" >&2
ruff check ambig_lib tests scripts
if [ "$#" -eq 0 ]; then set -- -m "not slow"; fi
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "[tests] no tests were collected" >&2; fi
exit "$status"
