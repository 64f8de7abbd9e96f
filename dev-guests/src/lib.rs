//! The test and example guest components, built by this crate's build script: a development
//! dependency of `aviso`, so tests and examples have them and release builds do not build them.

/// The folder holding the built guests (`aviso_plugin_evil.wasm`, `flight_board.wasm`, ...),
/// next to the built-in plugins.
pub const WASM_DIR: &str = env!("AVISO_DEV_GUESTS_DIR");

/// The path of the guest component `name` (its file name without `.wasm`).
pub fn component(name: &str) -> String {
    format!("{WASM_DIR}/{name}.wasm")
}
