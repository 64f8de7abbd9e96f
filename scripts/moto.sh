#!/usr/bin/env bash
# Installs moto's AWS emulator from PyPI into a private virtual environment (once) and prints
# the path of its `moto_server` command; the SNS tests publish to it.
set -euo pipefail
venv="${AVISO_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aviso-dev}/moto"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "setup: installing moto into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' >&2
fi
echo "$venv/bin/moto_server"
