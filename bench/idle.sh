#!/usr/bin/env bash
# Benchmark: an idle `aviso listen` with 1 and 100 listeners on a local etcd, ours and pyaviso
# 1.0.1's: resident memory after start-up and CPU used over 30 s of no notifications.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bin aviso >&2
pyaviso="$(bash scripts/pyaviso.sh)"

work="$(mktemp -d)"
source bench/etcd.sh
start_etcd "$work"
port="$etcd_port"
trap 'kill "$etcd_pid" 2>/dev/null; rm -rf "$work"' EXIT
export HOME="$work" AVISO_NOTIFICATION_HOST=127.0.0.1 AVISO_NOTIFICATION_PORT="$port"

listeners() {
  echo "listeners:"
  for i in $(seq 1 "$1"); do
    printf '  - event: flight\n    request: {country: c%s}\n    triggers: [{type: echo}]\n' "$i"
  done
}
listeners 1 > "$work/one.yaml"
listeners 100 > "$work/hundred.yaml"

# Prints "RSS_MiB CPU_percent" for a command listening with FILE.
measure() {
  local file="$1"; shift
  "$@" listen "$file" > /dev/null 2> "$work/listen.log" &
  local pid=$!
  sleep 10
  local ticks; ticks=$(getconf CLK_TCK)
  local before; before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep 30
  local after; after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  # Resident memory of the process and its threads (pyaviso runs one thread per listener).
  local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "print(f'{$rss/1024:.1f} {($after-$before)/$ticks/30*100:.2f}')"
}

echo "machine: $(nproc) cores, $(uname -srm); $(date -u +%Y-%m-%d)"
echo "| listeners | aviso RSS MiB | aviso CPU % | pyaviso RSS MiB | pyaviso CPU % (polling 30 s) |"
echo "|---:|---:|---:|---:|---:|"
for name in one hundred; do
  read -r ours_rss ours_cpu < <(measure "$work/$name.yaml" ./target/release/aviso)
  read -r their_rss their_cpu < <(measure "$work/$name.yaml" "$pyaviso")
  count=$([ "$name" = one ] && echo 1 || echo 100)
  echo "| $count | $ours_rss | $ours_cpu | $their_rss | $their_cpu |"
done
