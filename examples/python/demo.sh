#!/usr/bin/env bash
# The Python API's example, from a fresh clone: builds the package (python/) into a private
# virtual environment, then runs the seed's Python examples as written on the embedded store:
# listen_number.py calls a Python function with each flight to Italy, notify.py sends one, and
# Ctrl-C stops the listener. docs/python.md describes the package.
set -euo pipefail
cd "$(dirname "$0")/../.."

# AVISO_PYTHON=path/to/python runs the example with an interpreter that has the package.
if [ -z "${AVISO_PYTHON:-}" ]; then
    bash scripts/setup.sh
    AVISO_PYTHON="$(bash scripts/python-package.sh)"
fi
python="$AVISO_PYTHON"
example="$PWD/examples/python"
home="$(mktemp -d -t aviso-python-demo.XXXXXX)"
listened="$(mktemp)"
trap 'kill "${listener:-}" 2>/dev/null || true; rm -rf "$home" "$listened"' EXIT
# Only this example's settings: no AVISO_* of the caller, the embedded store in a new home.
unset "${!AVISO_@}"
export HOME="$home" PYTHONUNBUFFERED=1
mkdir -p "$HOME/.aviso"
printf 'notification_engine:\n  type: file_based\n' > "$HOME/.aviso/config.yaml"

# Job control on: otherwise bash starts background commands with Ctrl-C (SIGINT) ignored.
set -m
echo "\$ python examples/python/listen_number.py &"
"$python" "$example/listen_number.py" > "$listened" 2>&1 &
listener=$!
for _ in $(seq 1 600); do
    grep -q "Listening to" "$listened" && break
    kill -0 "$listener" 2>/dev/null || { cat "$listened"; exit 1; }
    sleep 0.1
done
cat "$listened"

echo "\$ python examples/python/notify.py"
"$python" "$example/notify.py"
for _ in $(seq 1 600); do grep -q "received" "$listened" && break; sleep 0.1; done

echo "\$ kill -INT %1     # Ctrl-C"
kill -INT "$listener"
wait "$listener" || true
listener=""
echo "--- what the listener printed:"
cat "$listened"
