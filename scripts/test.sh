#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# pyaviso 1.0.1 from PyPI, the reference implementation the interoperability tests compare with.
PYAVISO_BIN="$(bash scripts/pyaviso.sh)"
export PYAVISO_BIN
# moto's AWS emulator, for the SNS tests.
MOTO_SERVER="$(bash scripts/moto.sh)"
export MOTO_SERVER
# The Python example plugin, built with componentize-py.
AVISO_PYTHON_PLUGIN="$(bash examples/plugin-python/build.sh)"
export AVISO_PYTHON_PLUGIN
# The JavaScript example plugin, built with jco and ComponentizeJS (npm packages installed into
# examples/plugin-js/node_modules).
AVISO_JS_PLUGIN="$(bash examples/plugin-js/build.sh)"
export AVISO_JS_PLUGIN
# The C example plugin, built with clang for wasm32-wasi, wit-bindgen and wasm-tools (installed
# from crates.io into target/plugin-c the first time).
AVISO_C_PLUGIN="$(bash examples/plugin-c/build.sh)"
export AVISO_C_PLUGIN

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
(cd plugins && cargo fmt --all -- --check)
(cd sdk && cargo fmt -- --check)
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd plugins && cargo clippy --locked --target wasm32-wasip2 --target-dir ../target/wasm-plugins --workspace -- -D warnings)
# The SDK is a path dependency of the plugins, not a member: linted for the guest and, with its
# unit tests, for the host.
(cd plugins && cargo clippy --locked --target wasm32-wasip2 --target-dir ../target/wasm-plugins -p aviso-sdk -- -D warnings)
(cd plugins && cargo clippy --locked --target-dir ../target/plugin-tests -p aviso-sdk --all-targets -- -D warnings)
echo "== cargo test" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
# The SDK and the command trigger's script translation have unit tests of their own (host target).
(cd plugins && cargo test --locked --target-dir ../target/plugin-tests -p aviso-sdk -p aviso-plugin-command-bridge -p aviso-plugin-post) 2>&1 | tee -a "$log"
# The Python package (python/): built and installed as `pip install ./python` does, then its
# tests with pyaviso 1.0.1 beside it.
echo "== Python package" >&2
bash scripts/python-tests.sh -q 2>&1 | tee -a "$log"
# One closing line for the whole run, summing every test binary's result line and pytest's.
awk '/^test result:/ { passed += $4; failed += $6 }
     /^[0-9]+ (passed|failed)/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) passed += $(i-1); if ($i ~ /^failed/) failed += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
