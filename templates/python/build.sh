#!/usr/bin/env bash
# Builds app.py into {{crate}}.wasm with componentize-py: $COMPONENTIZE_PY, else componentize-py
# on the PATH, else one installed from PyPI into .venv here.
set -euo pipefail
cd "$(dirname "$0")"
tool="${COMPONENTIZE_PY:-}"
if [ -z "$tool" ]; then
  if command -v componentize-py >/dev/null; then
    tool=componentize-py
  else
    if [ ! -x .venv/bin/componentize-py ]; then
      echo "installing componentize-py into $(pwd)/.venv" >&2
      python3 -m venv .venv
      .venv/bin/pip install --quiet --disable-pip-version-check 'componentize-py==0.25.1' >&2
    fi
    tool=.venv/bin/componentize-py
  fi
fi
"$tool" -d wit -w trigger-plugin componentize app -o {{crate}}.wasm >&2
echo "$(pwd)/{{crate}}.wasm"
