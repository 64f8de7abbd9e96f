//! `aviso-c-plugin-adapter OUT`: writes wasmtime's WASI 0.1 reactor adapter (for a component
//! without `main`, like a plugin) to OUT.

fn main() {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: aviso-c-plugin-adapter OUT");
        std::process::exit(2);
    };
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    if let Err(error) = std::fs::write(&out, adapter) {
        eprintln!("cannot write {}: {error}", out.display());
        std::process::exit(1);
    }
}
