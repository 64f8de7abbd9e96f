#!/usr/bin/env bash
# Benchmark: `aviso key` as a whole process (start, configuration, schema, key), ours and
# pyaviso 1.0.1's, measured with hyperfine in the same run. Prints a Markdown table row per
# program (median, mean, min, max in ms); docs/benchmarks.md records the results.
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
  --export-json "$home/ours.json" "./target/release/aviso key $params" >&2
hyperfine --style none --warmup 3 --runs "${PY_RUNS:-20}" -N \
  --export-json "$home/pyaviso.json" "$pyaviso key $params" >&2

echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%d)"
echo "| program | runs | median ms | mean ms | min ms | max ms |"
echo "|---|---:|---:|---:|---:|---:|"
for name in ours pyaviso; do
  python3 - "$name" "$home/$name.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[2]))["results"][0]
label = {"ours": "aviso (Rust)", "pyaviso": "pyaviso 1.0.1"}[sys.argv[1]]
ms = lambda s: f"{s * 1000:.2f}"
print(f"| {label} | {len(result['times'])} | {ms(result['median'])} | {ms(result['mean'])} | {ms(result['min'])} | {ms(result['max'])} |")
PY
done
