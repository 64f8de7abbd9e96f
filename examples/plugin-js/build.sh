#!/usr/bin/env bash
# Builds app.js into flight_summary.wasm with jco and ComponentizeJS (`npm run build`), and prints
# the component's path. The npm packages are installed from package-lock.json into node_modules
# here (`npm ci`), once: an install that matches the lock file is reused, so a rebuild needs no
# network. The component is rebuilt only when it is older than its sources.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "building the JavaScript example plugin needs Node.js (20 or later) and npm" >&2
  exit 1
fi
# A copy of the lock file node_modules was installed from.
installed=node_modules/.aviso-installed-from.json
if ! cmp -s package-lock.json "$installed" 2>/dev/null || [ ! -x node_modules/.bin/jco ]; then
  echo "setup: installing jco and ComponentizeJS into $(pwd)/node_modules" >&2
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$installed"
fi
out=flight_summary.wasm
stale=0
for source in app.js package.json package-lock.json ../../wit/plugin.wit build.sh; do
  [ "$out" -nt "$source" ] || stale=1
done
if [ "$stale" = 1 ]; then
  npm run --silent build >&2
fi
echo "$(pwd)/$out"
