#!/usr/bin/env bash
# Benchmark: trigger plugin dispatch rate on one core (fresh sandbox per notification).
# Extra arguments are further plugin components to measure (e.g. the Python example).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --example plugin_dispatch >&2
echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%d); pinned to core 0"
taskset -c 0 ./target/release/examples/plugin_dispatch "${COUNT:-20000}" "$@"
