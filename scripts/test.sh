#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# pyaviso 1.0.1 from PyPI, the reference implementation the interoperability tests compare with.
PYAVISO_BIN="$(bash scripts/pyaviso.sh)"
export PYAVISO_BIN

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
# One closing line for the whole run, summing every test binary's result line.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
