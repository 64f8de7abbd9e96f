#!/usr/bin/env bash
# Builds flight_summary.c into flight_summary.wasm, a component of the trigger-plugin world, and
# prints the component's path. Needs clang with wasm-ld, wasi-libc and the wasm32 compiler
# runtime (Debian: clang lld wasi-libc libclang-rt-dev-wasm32, which scripts/setup.sh installs)
# and cargo. The first build installs wit-bindgen and wasm-tools from crates.io into
# target/plugin-c/tools and writes the WASI adapter into target/plugin-c; later builds reuse them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$repo/target/plugin-c"
tools="$work/tools"
# wit-bindgen-cli 0.61 is the wit-bindgen of the Rust guests; wasm-tools 1.258 makes components
# with wit-component 0.258, the one those guests are built with.
wit_bindgen_version=0.61.1
wasm_tools_version=1.258.3

# Installs crate@version (with only the given features) into $tools unless it is there already.
# A debug build: it compiles in a third of the time of a release build, and the tools only
# handle files of a few kilobytes.
install() {
  local command="$1" crate="$2" version="$3" features="$4"
  if [ "$("$tools/bin/$command" --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    echo "setup: installing $crate $version into $tools" >&2
    CARGO_PROFILE_DEV_DEBUG=0 cargo install --quiet --locked --debug --force --root "$tools" \
      --no-default-features --features "$features" "$crate@$version" >&2
  fi
}
install wit-bindgen wit-bindgen-cli "$wit_bindgen_version" c
install wasm-tools wasm-tools "$wasm_tools_version" component

# The WASI 0.1 reactor adapter of the host's wasmtime: wasi-libc calls WASI 0.1
# (wasi_snapshot_preview1), which a component reaches through WASI 0.2 by way of this adapter.
adapter="$work/wasi_snapshot_preview1.reactor.wasm"
if [ ! -s "$adapter" ] || [ "$adapter" -ot "$here/adapter/Cargo.toml" ]; then
  cargo run --quiet --locked --manifest-path "$here/adapter/Cargo.toml" \
    --target-dir "$work/adapter-build" -- "$adapter" >&2
fi

# C bindings of the world (trigger_plugin.h and .c, and an object file that carries the world's
# WIT into the module), then the core module (a reactor: no main, only the exports), then the
# component, its WASI 0.1 imports adapted to WASI 0.2.
bindings="$work/bindings"
rm -rf "$bindings"
"$tools/bin/wit-bindgen" c --world trigger-plugin --out-dir "$bindings" "$repo/wit" >/dev/null
"${WASI_CLANG:-clang}" --target=wasm32-wasi ${WASI_SYSROOT:+--sysroot="$WASI_SYSROOT"} \
  -mexec-model=reactor -O2 -Wall -Wextra -Werror -s -I "$bindings" "$here/flight_summary.c" \
  "$bindings/trigger_plugin.c" "$bindings/trigger_plugin_component_type.o" \
  -o "$work/flight_summary.core.wasm"
"$tools/bin/wasm-tools" component new "$work/flight_summary.core.wasm" \
  --adapt wasi_snapshot_preview1="$adapter" -o "$here/flight_summary.wasm"
echo "$here/flight_summary.wasm"
