# Sourced by the benchmarks: `start_etcd DIR` starts a private etcd on free loopback ports with
# its data in DIR, sets `etcd_port` and `etcd_pid`, and waits until it answers.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_etcd() {
  local dir="$1" peer
  etcd_port=$(free_port)
  peer=$(free_port)
  etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "default=http://127.0.0.1:$peer" > "$dir/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $etcd_port), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "etcd did not start" >&2
  return 1
}
