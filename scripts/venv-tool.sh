#!/usr/bin/env bash
# Installs a Python tool from PyPI into a private virtual environment (once) and prints the path
# of one of its commands: venv-tool.sh NAME COMMAND PIP-REQUIREMENT...
set -euo pipefail
name="$1" command="$2"
shift 2
venv="${AVISO_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aviso-dev}/$name"
if [ ! -x "$venv/bin/$command" ]; then
  echo "setup: installing $* into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
fi
echo "$venv/bin/$command"
