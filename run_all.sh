#!/usr/bin/env bash
# Run the whole study headlessly: every notebook in notebooks/ with papermill, parameters from a profile.
# The same as `ambig study ...` (ambig_lib.cli.study); `ambig study --help` lists the options.
#   ./run_all.sh                      # the offline default profile (no API key, no GPU)
#   ./run_all.sh --profile quick      # a fast smoke run
#   ./run_all.sh --only 02 04         # selected notebooks
#   ./run_all.sh --only 04 --set 04:ceilings=false --set seeds=[0]   # override parameters (YAML values)
# Executed notebooks and their HTML go to results/notebooks/; tables and figures to results/tables|figures/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/ensure_venv.sh
exec python -m ambig_lib study "$@"
