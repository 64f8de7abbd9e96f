#!/usr/bin/env bash
# The fault suite: the fault tests of host/tests/integration/delivery_faults.rs, run
# one at a time, each appending its measured row (fault, what was done, times, notifications
# sent, lost, delivered twice, time to recover). Prints the table and writes it, with the
# machine and date, into docs/reliability.md (between its "fault-results" markers).
#
#   bash bench/faults.sh            # everything (about 5 minutes on 2 cores, once built)
#   WRITE=0 bash bench/faults.sh    # print the table only
#
# The tests start their own etcd members on free loopback ports and stop them by PID; the same
# tests run (without writing rows) in the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >&2
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT

AVISO_FAULT_REPORT="$rows" cargo test --locked -p aviso --test integration -- \
    --test-threads=1 delivery_faults::fault_ delivery_faults::a_poison delivery_faults::a_silent \
    delivery_faults::a_frozen >&2

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
table="$(
    echo "Measured $(date -u +%Y-%m-%d) on $machine, aviso $(git describe --always --dirty) (test profile)."
    echo
    echo "| fault | what was done | times | sent | lost | delivered twice | time to recover |"
    echo "|---|---|---|---|---|---|---|"
    cat "$rows"
)"
echo "$table"

if [ "${WRITE:-1}" = 1 ]; then
    python3 - "$table" <<'EOF'
import re, sys
path = "docs/reliability.md"
text = open(path).read()
block = "<!-- fault-results -->\n" + sys.argv[1] + "\n<!-- /fault-results -->"
text = re.sub(r"<!-- fault-results -->.*?<!-- /fault-results -->", lambda _: block, text, flags=re.S)
open(path, "w").write(text)
EOF
    echo "written to docs/reliability.md" >&2
fi
