#!/usr/bin/env bash
# Benchmark: `aviso key` as a whole process (start, configuration, schema, key), ours and
# pyaviso 1.0.1's, measured with hyperfine in the same run. Prints a Markdown table row per
# program; docs/benchmarks.md records the results.
set -euo pipefail
cd "$(dirname "$0")/.."

AVISO_SETUP_BENCH=1 bash scripts/setup.sh
cargo build --release --locked --bin aviso >&2
pyaviso="$(bash scripts/pyaviso.sh)"

home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
params="event=flight,country=Italy,airport=fco,date=20210101,number=AZ203"
export HOME="$home"

hyperfine --style none --warmup 20 --runs "${RUNS:-300}" -N \
  --export-markdown "$home/ours.md" "./target/release/aviso key $params" >&2
hyperfine --style none --warmup 3 --runs "${PY_RUNS:-20}" -N \
  --export-markdown "$home/pyaviso.md" "$pyaviso key $params" >&2
echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%d)"
cat "$home/ours.md"
tail -n 1 "$home/pyaviso.md"
