#!/usr/bin/env bash
# Benchmarks of notify and delivery on a local etcd, ours and pyaviso 1.0.1's in the same run:
# library notify throughput, CLI notify per call, notify->trigger latency. Starts its own etcd on
# a free loopback port and stops it by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
AVISO_SETUP_BENCH=1 bash scripts/setup.sh
cargo build --release --locked --bin aviso --example store_bench >&2
pyaviso="$(bash scripts/pyaviso.sh)"
python="$(dirname "$pyaviso")/python"

work="$(mktemp -d)"
source bench/etcd.sh
start_etcd "$work"
port="$etcd_port"
trap 'kill "$etcd_pid" 2>/dev/null; rm -rf "$work"' EXIT
export HOME="$work" AVISO_NOTIFICATION_HOST=127.0.0.1 AVISO_NOTIFICATION_PORT="$port" PYTHONUNBUFFERED=1
bench=./target/release/examples/store_bench

echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%d); etcd $(etcd --version | head -1 | awk '{print $3}')"
echo "| measure | aviso (Rust) | pyaviso 1.0.1 |"
echo "|---|---:|---:|"
ours=$($bench throughput "${COUNT:-3000}" | awk '{print $4}')
theirs=$("$python" bench/pyaviso_bench.py throughput 300 | awk '{print $4}')
echo "| library notify one after the other, notifications/s | $ours | $theirs |"
ours=$($bench throughput "${COUNT:-20000}" 64 | awk '{print $4}')
echo "| library notify, 64 at a time (etcd_rest), notifications/s | $ours | |"
ours=$(AVISO_NOTIFICATION_ENGINE=etcd_grpc $bench throughput "${COUNT:-20000}" 64 | awk '{print $4}')
echo "| library notify, 64 at a time (etcd_grpc), notifications/s | $ours | |"
for engine in etcd_rest etcd_grpc; do
  read -r _ n seconds rate < <(AVISO_NOTIFICATION_ENGINE=$engine $bench catchup "${CATCHUP:-100000}")
  echo "| catch-up of $n missed notifications through a Rust plugin ($engine), s (notifications/s) | $seconds ($rate) | |"
done

hyperfine --style none -N --warmup 5 --runs 100 --export-json "$work/ours.json" \
  "./target/release/aviso notify event=flight,country=Italy,airport=fco,date=20210101,number=CLI,payload=x" >&2
hyperfine --style none -N --warmup 2 --runs 15 --export-json "$work/theirs.json" \
  "$pyaviso notify event=flight,country=Italy,airport=fco,date=20210101,number=CLI,payload=x" >&2
median() { python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['results'][0]['median']*1000:.1f}\")" "$1"; }
echo "| CLI notify, median ms per call | $(median "$work/ours.json") | $(median "$work/theirs.json") |"

read -r _ n p50 p95 p99 max < <($bench latency 1000 5)
echo "| notify→trigger latency (ours: watch; 1000 notifications), p50/p95/p99/max ms | $p50 / $p95 / $p99 / $max | |"
read -r _ n p50 p95 p99 max < <(AVISO_POLLING_INTERVAL=1 "$python" bench/pyaviso_bench.py latency 200 20 10)
echo "| notify→trigger latency, pyaviso polling_interval 1 s (200), p50/p95/p99/max ms | | $p50 / $p95 / $p99 / $max |"
if [ "${WITH_DEFAULT_POLLING:-1}" = 1 ]; then
  read -r _ n p50 p95 p99 max < <("$python" bench/pyaviso_bench.py latency 60 500 40)
  echo "| notify→trigger latency, pyaviso default polling 30 s (60), p50/p95/p99/max ms | | $p50 / $p95 / $p99 / $max |"
fi
