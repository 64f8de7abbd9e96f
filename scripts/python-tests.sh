#!/usr/bin/env bash
# The Python package's tests (python/tests): builds and installs the package, then runs pytest
# with pyaviso 1.0.1 (PYAVISO_BIN, from scripts/pyaviso.sh) as the reference. Arguments go to
# pytest (for example -k interop).
set -euo pipefail
cd "$(dirname "$0")/.."
PYAVISO_BIN="${PYAVISO_BIN:-$(bash scripts/pyaviso.sh)}"
export PYAVISO_BIN
python="$(bash scripts/python-package.sh)"
# From the tests folder: the sources in python/aviso must not shadow the installed package.
cd python/tests
exec "$python" -m pytest -p no:cacheprovider "$@" .
