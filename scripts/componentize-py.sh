#!/usr/bin/env bash
# Installs componentize-py from PyPI into a private virtual environment (once) and prints the
# path of its command; it builds the Python example plugin.
set -euo pipefail
venv="${AVISO_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aviso-dev}/componentize-py"
if [ ! -x "$venv/bin/componentize-py" ]; then
  echo "setup: installing componentize-py into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'componentize-py==0.25.1' >&2
fi
echo "$venv/bin/componentize-py"
