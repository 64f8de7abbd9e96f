#!/usr/bin/env bash
# The trigger service example, from a fresh clone: builds aviso, checks and starts the service
# of examples/serve (two tenants, embedded store), sends two notifications, shows what each
# tenant received and what the management API says, and stops the service.
set -euo pipefail
cd "$(dirname "$0")/../.."

# AVISO=path/to/aviso runs the example with that binary instead of building one.
if [ -z "${AVISO:-}" ]; then
    bash scripts/setup.sh
    cargo build --release --locked --bin aviso
fi
aviso="${AVISO:-$PWD/target/release/aviso}"
example="$PWD/examples/serve"
rm -rf "$example/state"
log="$(mktemp)"
trap 'kill "${service:-}" 2>/dev/null || true; rm -f "$log"' EXIT

echo "\$ aviso serve --config examples/serve/serve.yaml --check"
"$aviso" serve --config "$example/serve.yaml" --check

echo "\$ aviso serve --config examples/serve/serve.yaml &"
"$aviso" serve --config "$example/serve.yaml" 2> "$log" &
service=$!
for _ in $(seq 1 600); do grep -q "Serving" "$log" && break; sleep 0.1; done
cat "$log"

# The embedded store of the service is in its state folder.
export AVISO_STATE_DIR="$example/state"
for flight in country=Italy,airport=fco,number=AZ203 country=Germany,airport=fra,number=LH400; do
    echo "\$ aviso notify --test event=flight,date=20210101,$flight"
    "$aviso" notify --test "event=flight,date=20210101,$flight"
done
for _ in $(seq 1 600); do
    [ "$(grep -c "Notification received" "$example/state/tenants/beta/logs/europe.log" 2>/dev/null)" = 2 ] && break
    sleep 0.1
done
for tenant in alpha beta; do
    echo "--- what tenant $tenant received:"
    cat "$example/state/tenants/$tenant/logs/"*.log
done

api="$(sed -n 's/^Management API on //p' "$log")"
if command -v curl > /dev/null; then
    echo "\$ curl -H 'Authorization: Bearer admin-example-token' $api/v1/tenants"
    curl -s -H "Authorization: Bearer admin-example-token" "$api/v1/tenants"; echo
    echo "\$ curl -H 'Authorization: Bearer alpha-example-token' $api/v1/tenants/beta"
    curl -s -H "Authorization: Bearer alpha-example-token" "$api/v1/tenants/beta"; echo
fi
kill -TERM "$service"
wait "$service"
tail -n 3 "$log"
