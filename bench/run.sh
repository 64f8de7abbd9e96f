#!/usr/bin/env bash
# The benchmark suite: ours and pyaviso 1.0.1 (from PyPI) in the same run, on the same private
# etcd on loopback. Prints one table and writes it, with the machine, versions and date, into
# docs/benchmarks.md (between its "bench-results" markers).
#
#   bash bench/run.sh            # everything (about 20 minutes on 2 cores)
#   QUICK=1 bash bench/run.sh    # smaller counts and shorter idle windows, to try it out
#   WRITE=0 bash bench/run.sh    # print the table only
#
# Every loop is bounded; every process it starts (etcd, listeners) is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

quick="${QUICK:-0}"
pick() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }

AVISO_SETUP_BENCH=1 bash scripts/setup.sh
cargo build --release --locked --bin aviso --example store_bench --example plugin_dispatch \
  --example serve_bench --bin aviso-rest --bin aviso-auth --example server_bench >&2
pyaviso="$(bash scripts/pyaviso.sh)"
python="$(dirname "$pyaviso")/python"
# Our Python package (python/), built as pip builds it (release), in a venv of its own: it runs
# bench/pyaviso_bench.py unchanged, as `import pyaviso`.
ours_python="$(AVISO_PYTHON_PROFILE=release bash scripts/python-package.sh)"
bash examples/plugin-python/build.sh >&2

# Before HOME moves to the work folder (rustup finds its toolchains through HOME).
versions="aviso $(git describe --always --dirty) (rustc $(rustc --version | awk '{print $2}'), wasmtime 48.0.8), pyaviso 1.0.1 ($("$python" --version)), etcd $(etcd --version | head -1 | awk '{print $3}')"
machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${etcd_pid:-}" ] && kill "$etcd_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
source bench/etcd.sh
start_etcd "$work"

# Compiled plugins stay in the user's cache between runs; everything else lives in $work.
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}"
export HOME="$work/home" AVISO_NOTIFICATION_HOST=127.0.0.1 AVISO_NOTIFICATION_PORT="$etcd_port" \
  PYTHONUNBUFFERED=1
mkdir -p "$HOME/.aviso/service_configuration"
cp bench/scale_schema.json "$HOME/.aviso/service_configuration/event_listener_schema.json"
unset SSL_CERT_FILE REQUESTS_CA_BUNDLE

ours="$repo/target/release/aviso"
bench="$repo/target/release/examples/store_bench"
dispatch="$repo/target/release/examples/plugin_dispatch"
results="$work/results.txt"
record() { echo "$*" >> "$results"; echo "  $*" >&2; }
step() { echo "== $*" >&2; }
fresh_home() { rm -rf "$HOME/.aviso/cursors" "$HOME/.aviso/etcd"; }
flight="event=flight,country=Italy,airport=fco,date=20210101,number=AZ203"

# Median milliseconds of a command over RUNS runs (hyperfine).
median_ms() {
  local runs="$1" warmup="$2"; shift 2
  hyperfine --style none -N --warmup "$warmup" --runs "$runs" --export-json "$work/h.json" "$*" >&2
  python3 -c "import json; print(f\"{json.load(open('$work/h.json'))['results'][0]['median']*1000:.2f}\")"
}

step "process start: aviso key"
record key_ms "$(median_ms "$(pick 300 50)" 20 "$ours key $flight")" \
  "$(median_ms "$(pick 20 5)" 3 "$pyaviso key $flight")"

step "CLI notify, per call"
record cli_notify_ms "$(median_ms "$(pick 100 30)" 5 "$ours notify $flight,payload=x")" \
  "$(median_ms "$(pick 15 5)" 2 "$pyaviso notify $flight,payload=x")"

step "library notify throughput"
record lib_sequential "$($bench throughput "$(pick 3000 500)" | awk '{print $4}')" \
  "$("$python" bench/pyaviso_bench.py throughput "$(pick 300 100)" 1 2>/dev/null | awk '{print $4}')"
record lib_concurrent "$($bench throughput "$(pick 20000 3000)" 64 | awk '{print $4}')" \
  "$("$python" bench/pyaviso_bench.py throughput "$(pick 1000 200)" 8 2>/dev/null | awk '{print $4}')"
record lib_concurrent_grpc "$(AVISO_NOTIFICATION_ENGINE=etcd_grpc $bench throughput "$(pick 20000 3000)" 64 | awk '{print $4}')"

step "Python API: bench/pyaviso_bench.py under our package"
record python_sequential "$("$ours_python" bench/pyaviso_bench.py throughput "$(pick 3000 500)" 1 2>/dev/null | awk '{print $4}')"
record python_threads "$("$ours_python" bench/pyaviso_bench.py throughput "$(pick 20000 3000)" 8 2>/dev/null | awk '{print $4}')"

step "notify -> trigger latency"
count=$(pick 1000 200)
record latency_ours "$($bench latency "$count" 5 | cut -d' ' -f2-)"
record latency_ours_grpc "$(AVISO_NOTIFICATION_ENGINE=etcd_grpc $bench latency "$count" 5 | cut -d' ' -f2-)"
for polling in 0 1 30; do
  gap=$([ "$polling" = 30 ] && echo 30 || echo 20)
  record "latency_pyaviso_$polling" "$(AVISO_POLLING_INTERVAL=$polling "$python" bench/pyaviso_bench.py \
    latency "$count" "$gap" "$((polling + 10))" 2>/dev/null | cut -d' ' -f2-)"
done

step "notify -> trigger latency next to hostile neighbours"
# A listener with a plugin trigger, alone and then beside plugins that loop, allocate, flood
# and trap and commands that hold sandboxes (store_bench latency ... neighbours).
record latency_plugin_alone "$($bench latency "$count" 5 plugin | grep -o "latency [0-9].*" | cut -d' ' -f2-)"
record latency_plugin_neighbours "$($bench latency "$count" 5 neighbours 2>/dev/null | grep -o "latency [0-9].*" | cut -d' ' -f2-)"

step "catch-up of missed notifications"
for n in 5000 $(pick 100000 20000); do
  fresh_home
  record "catchup_${n}_ours_plugin" "$($bench catchup "$n" plugin 2>/dev/null | cut -d' ' -f2-)"
  fresh_home
  record "catchup_${n}_ours_plugin_grpc" "$(AVISO_NOTIFICATION_ENGINE=etcd_grpc $bench catchup "$n" plugin 2>/dev/null | cut -d' ' -f2-)"
  fresh_home
  record "catchup_${n}_ours_function" "$($bench catchup "$n" function 2>/dev/null | cut -d' ' -f2-)"
  fresh_home
  AVISO_POLLING_INTERVAL=1 "$python" bench/pyaviso_bench.py prime > /dev/null 2>&1
  $bench throughput "$n" 64 > /dev/null
  record "catchup_${n}_pyaviso_function" "$(AVISO_POLLING_INTERVAL=1 "$python" bench/pyaviso_bench.py \
    catchup "$n" 600 2>/dev/null | cut -d' ' -f2-)"
  fresh_home
  "$ours_python" bench/pyaviso_bench.py prime > /dev/null 2>&1
  $bench throughput "$n" 64 > /dev/null
  record "catchup_${n}_ours_python" "$("$ours_python" bench/pyaviso_bench.py catchup "$n" 600 2>/dev/null | cut -d' ' -f2-)"
done
fresh_home
record catchup_onecore "$(taskset -c 0 $bench catchup "$(pick 100000 20000)" plugin 2>/dev/null | cut -d' ' -f2-)"

step "plugin dispatch on one core"
# Rows "| name | notifications | seconds | per second | µs |".
# The first run measures echo and the no-op test plugin, the second the Python example.
taskset -c 0 "$dispatch" "$(pick 40000 5000)" > "$work/dispatch.md" 2>/dev/null
taskset -c 0 "$dispatch" "$(pick 4000 500)" "$repo/examples/plugin-python/flight_summary.wasm" \
  >> "$work/dispatch.md" 2>/dev/null
for name in echo noop flight_summary; do
  record "dispatch_$name" "$(awk -F'|' -v n="$name" '$2 ~ n {print $3, $4, $5; exit}' "$work/dispatch.md")"
done

step "idle listeners"
listeners_file() {
  echo "listeners:"
  for i in $(seq 1 "$1"); do
    printf '  - event: flight\n    request: {country: c%s}\n    triggers: [{type: echo}]\n' "$i"
  done
}
window=$(pick 30 5)
# Prints "RSS_MiB CPU_percent" of `PROGRAM listen FILE`, idle for $window seconds after 10 s.
idle() {
  "$1" listen "$2" > /dev/null 2> "$work/idle.log" &
  local pid=$!
  pids+=("$pid")
  sleep 10
  local ticks before after rss
  ticks=$(getconf CLK_TCK)
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$window"
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "print(f'{$rss/1024:.1f} {($after-$before)/$ticks/$window*100:.2f}')"
}
for n in 1 100; do
  listeners_file "$n" > "$work/idle-$n.yaml"
  record "idle_$n" "$(idle "$ours" "$work/idle-$n.yaml")" "$(idle "$pyaviso" "$work/idle-$n.yaml")"
done

step "scale: listeners and base keys"
for shape in "1 1" "10 1" "100 1" "1000 1" "100 100" "1000 100"; do
  set -- $shape
  fresh_home
  record "scale_$1_$2_ours" "$($bench scale "$1" "$2" "$(pick 500 100)" 2 "$(pick 5000 1000)" | cut -d' ' -f4-)"
  record "scale_$1_$2_pyaviso" "$(AVISO_POLLING_INTERVAL=1 timeout 400 "$python" bench/pyaviso_bench.py \
    scale "$1" "$2" "$(pick 100 30)" 10 "$(pick 500 100)" 8 60 2>/dev/null | cut -d' ' -f4-)"
done

step "aviso serve: idle tenants, a quiet tenant next to a hostile one, fan-out"
serve_bench="$repo/target/release/examples/serve_bench"
record serve_idle "$($serve_bench "$ours" idle 100 10 "$window" | cut -d' ' -f4-)"
count=$(pick 600 150)
record serve_latency_alone "$($serve_bench "$ours" latency "$count" 20 | cut -d' ' -f2-)"
record serve_latency_hostile "$($serve_bench "$ours" latency "$count" 20 hostile | cut -d' ' -f2-)"
record serve_fanout "$($serve_bench "$ours" fanout 100 10 | cut -d' ' -f2-)"

step "servers: aviso-rest notifications/s from 64 HTTP clients, aviso-auth's added latency"
server_bench="$repo/target/release/examples/server_bench"
count=$(pick 40000 5000)
for engine in etcd_grpc etcd_rest; do
  rest_port=$(free_port)
  AVISO_REST_PORT=$rest_port AVISO_NOTIFICATION_ENGINE=$engine "$repo/target/release/aviso-rest" 2>"$work/rest.log" &
  rest_pid=$!
  pids+=("$rest_pid")
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$rest_port/ready', timeout=1)" 2>/dev/null && break
    sleep 0.1
  done
  for bases in 1 100; do
    record "rest_${engine}_${bases}" "$($server_bench notify "http://127.0.0.1:$rest_port" "$count" 64 "$bases" | cut -d' ' -f2-)"
  done
  kill "$rest_pid"; wait "$rest_pid" 2>/dev/null || true
done
record auth_latency "$($server_bench auth "http://127.0.0.1:$etcd_port" "$repo/target/release/aviso-auth" "$(pick 5000 1000)" | cut -d' ' -f2-)"

python3 bench/report.py "$results" --date "$(date -u +%Y-%m-%d)" --machine "$machine" --versions "$versions" \
  --quick "$quick" $([ "${WRITE:-1}" = 1 ] && echo --write docs/benchmarks.md)
