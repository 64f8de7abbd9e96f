#!/usr/bin/env bash
# The servers' example, from a fresh clone: builds aviso and aviso-rest, starts aviso-rest on
# the embedded store (examples/server/rest.yaml) and a listener beside it, submits a CloudEvent
# and a plain JSON notification over HTTP, shows what the listener received, one refusal and
# the server's metrics, and stops both. aviso-auth and aviso-admin need etcd; docs/server.md
# shows them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# AVISO=path/to/aviso AVISO_REST=path/to/aviso-rest run the example with those binaries.
if [ -z "${AVISO:-}" ] || [ -z "${AVISO_REST:-}" ]; then
    bash scripts/setup.sh
    cargo build --release --locked --bin aviso --bin aviso-rest
fi
aviso="${AVISO:-$PWD/target/release/aviso}"
rest="${AVISO_REST:-$PWD/target/release/aviso-rest}"
example="$PWD/examples/server"
rm -rf "$example/state"
log="$(mktemp)" listened="$(mktemp)"
trap 'kill "${server:-}" "${listener:-}" 2>/dev/null || true; rm -f "$log" "$listened"' EXIT
# Only this example's settings: no AVISO_* of the caller, no ~/.aviso-rest of the user.
unset "${!AVISO_@}"
export HOME="$example/state/home"
mkdir -p "$HOME"

echo "\$ aviso-rest --config examples/server/rest.yaml &"
"$rest" --config "$example/rest.yaml" 2> "$log" &
server=$!
url=http://127.0.0.1:8099
for _ in $(seq 1 300); do grep -q "listening on" "$log" && break; sleep 0.1; done
cat "$log"

echo "\$ aviso listen --test examples/server/landed.yaml &"
AVISO_STATE_DIR="$example/state" "$aviso" listen --test "$example/landed.yaml" > "$listened" 2>&1 &
listener=$!
for _ in $(seq 1 300); do grep -q "Listening to" "$listened" && break; sleep 0.1; done

post() {
    echo "\$ POST $url/api/v1/notification $*"
    python3 - "$url/api/v1/notification" "$@" <<'PY'
import json, sys, urllib.request, urllib.error
url, body = sys.argv[1], sys.argv[2]
headers = {"Content-Type": "application/json"}
for header in sys.argv[3:]:
    name, value = header.split(": ", 1)
    headers[name] = value
request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
try:
    with urllib.request.urlopen(request) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
PY
}
# A CloudEvent in structured mode, as a data provider sends it.
post '{"specversion": "1.0", "id": "1", "source": "/airport/fco", "type": "aviso", "data": {"event": "flight", "request": {"country": "Italy", "airport": "fco", "date": "20210101", "number": "AZ203"}, "payload": "Landed"}}'
# The same notification as plain JSON, another flight.
post '{"event": "flight", "request": {"country": "Italy", "airport": "fco", "date": "20210101", "number": "AZ207"}, "payload": "Landed late"}'
# A refusal names what is wrong.
post '{"specversion": "1.0", "source": "/airport/fco", "type": "aviso", "data": {"event": "flight"}}'

for _ in $(seq 1 300); do [ "$(grep -c '"payload"' "$listened")" -ge 2 ] && break; sleep 0.1; done
echo "--- what the listener received:"
grep -v "^$" "$listened"
echo "--- $url/metrics (notifications):"
python3 -c "import urllib.request; print(urllib.request.urlopen('$url/metrics').read().decode())" | grep "^aviso_rest_notifications"
kill -TERM "$listener" "$server"
wait "$server" 2>/dev/null || true
