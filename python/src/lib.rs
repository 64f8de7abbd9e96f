//! `aviso._native`: the Rust side of the `aviso` Python package, which gives pyaviso 1.x's API
//! (`NotificationManager`, `UserConfig`) on the aviso library. The Python modules next to it
//! (`python/aviso/`) keep pyaviso's names and signatures; this module does the work, with the
//! GIL released while Rust waits or works.

mod client;
mod configuration;
mod errors;
mod listening;

use pyo3::prelude::*;

/// One runtime for every client of the process: notifications are written and listeners run
/// on its threads, never on Python's.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("aviso")
            .enable_all()
            .build()
            .expect("a tokio runtime can be started")
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The library's messages go to Python's `logging` (logger `aviso` and its children), which
    // the program configures; levels are asked of Python once and remembered.
    let _ = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::LoggersAndLevels)?
        .filter_target("aviso".into(), log::LevelFilter::Trace)
        .install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<configuration::Configuration>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<listening::Listening>()?;
    m.add_function(wrap_pyfunction!(configuration::load_yaml, m)?)?;
    errors::register(m)?;
    Ok(())
}
