#!/usr/bin/env bash
# Installs what building and testing Aviso needs, skipping what is already there:
# Debian packages (protobuf-compiler, etcd-server, openssl, python3-venv; busybox, whose sh the
# command trigger's tests run scripts under beside dash and bash; hyperfine for the benchmarks;
# clang, lld, wasi-libc and libclang-rt-dev-wasm32, which build the C example plugin) and the
# wasm32-wasip2 Rust target.
set -euo pipefail

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox)
# The C example plugin: clang for wasm32-wasi must compile and link a C program.
printf 'int main(void) { return 0; }\n' | clang --target=wasm32-wasi -x c - -o /dev/null \
  >/dev/null 2>&1 || need_apt+=(clang lld wasi-libc libclang-rt-dev-wasm32)
if [ "${AVISO_SETUP_BENCH:-0}" = 1 ]; then
  command -v hyperfine >/dev/null 2>&1 || need_apt+=(hyperfine)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target" >&2
    rustup target add wasm32-wasip2 >/dev/null
  fi
fi
