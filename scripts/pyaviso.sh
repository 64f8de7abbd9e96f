#!/usr/bin/env bash
# Installs ECMWF's pyaviso 1.0.1 from PyPI into a private virtual environment (once) and prints
# the path of its `aviso` command. cloudevents is held below 2: pyaviso 1.0.1 breaks with 2.x.
set -euo pipefail
venv="${AVISO_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aviso-dev}/pyaviso-1.0.1"
if [ ! -x "$venv/bin/aviso" ]; then
  echo "setup: installing pyaviso 1.0.1 into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pyaviso==1.0.1' 'cloudevents<2' >&2
fi
echo "$venv/bin/aviso"
