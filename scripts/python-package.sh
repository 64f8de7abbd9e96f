#!/usr/bin/env bash
# Builds the Python package (python/, PyO3 and maturin) and installs it, as a user does with
# `pip install ./python`, into a private virtual environment with pytest; prints that
# environment's python. AVISO_PYTHON_PROFILE picks the Cargo profile (dev for the tests,
# release for the benchmarks; pip's own build is release).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${AVISO_PYTHON_PROFILE:-dev}"
# One environment per profile: the benchmarks' release build never replaces the tests' build.
name="python-api"
[ "$profile" = dev ] || name="python-api-$profile"
venv="$(dirname "$(bash scripts/venv-tool.sh "$name" maturin 'maturin>=1.7,<2' 'pytest>=8,<9')")/.."
venv="$(cd "$venv" && pwd)"
echo "setup: building the Python package (profile $profile) into $venv" >&2
# maturin is the build backend: from the environment itself, so pip fetches nothing more.
PATH="$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile $profile" \
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./python >&2
echo "$venv/bin/python"
