#!/usr/bin/env bash
# Builds app.js into {{crate}}.wasm with jco and ComponentizeJS (`npm run build`) and prints its
# path. They are installed from package-lock.json into node_modules here (`npm ci`), once: an
# install that matches the lock file is reused.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "building a JavaScript plugin needs Node.js (20 or later) and npm" >&2
  exit 1
fi
installed=node_modules/.aviso-installed-from.json
if ! cmp -s package-lock.json "$installed" 2>/dev/null || [ ! -x node_modules/.bin/jco ]; then
  echo "installing jco and ComponentizeJS into $(pwd)/node_modules" >&2
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$installed"
fi
npm run --silent build >&2
echo "$(pwd)/{{crate}}.wasm"
