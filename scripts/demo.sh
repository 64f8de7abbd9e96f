#!/usr/bin/env bash
# Builds aviso and runs the user guide's example: the key of a flight notification.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked --bin aviso
set -x
./target/release/aviso key event=flight,country=Italy,airport=fco,date=20210101,number=AZ203
