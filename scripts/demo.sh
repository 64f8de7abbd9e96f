#!/usr/bin/env bash
# Builds aviso and runs the user guide's example on the embedded store (no server needed): a
# listener with the echo trigger, then a notification, and the trigger's output.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked --bin aviso
aviso="$PWD/target/release/aviso"

# A private home, so the demo's store and listener positions stay out of yours.
demo="$(mktemp -d)"
trap 'kill "${listener:-}" 2>/dev/null || true; rm -rf "$demo"' EXIT
export HOME="$demo"
cat > "$demo/echo.yaml" <<'YAML'
listeners:
  - event: flight
    request:
      country: Italy
    triggers:
      - type: echo
YAML

echo "\$ aviso key event=flight,country=Italy,airport=fco,date=20210101,number=AZ203"
"$aviso" key event=flight,country=Italy,airport=fco,date=20210101,number=AZ203

echo "\$ aviso listen --test echo.yaml &"
"$aviso" listen --test "$demo/echo.yaml" 2> "$demo/listen.log" &
listener=$!
for _ in $(seq 1 600); do grep -q "Listening to" "$demo/listen.log" && break; sleep 0.1; done
cat "$demo/listen.log"

echo "\$ aviso notify --test event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=Landed"
"$aviso" notify --test event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=Landed
for _ in $(seq 1 600); do grep -q "all succeeded" "$demo/listen.log" && break; sleep 0.1; done

echo "\$ aviso value --test event=flight,country=Italy,airport=fco,date=20210101,number=AZ203"
"$aviso" value --test event=flight,country=Italy,airport=fco,date=20210101,number=AZ203
kill -TERM "$listener"
wait "$listener"
echo "listener log:"
cat "$demo/listen.log"
