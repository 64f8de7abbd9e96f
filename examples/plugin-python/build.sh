#!/usr/bin/env bash
# Builds app.py into flight_summary.wasm with componentize-py (installed from PyPI if missing).
set -euo pipefail
cd "$(dirname "$0")"
componentize_py="$(bash ../../scripts/componentize-py.sh)"
"$componentize_py" -d ../../wit -w trigger-plugin componentize app -o flight_summary.wasm >&2
echo "$(pwd)/flight_summary.wasm"
