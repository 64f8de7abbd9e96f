//! Python-compatible text, byte for byte: what pyaviso writes through Python's own formatting
//! (`str.format` and format specs, `repr`, `json.dumps`, `strftime`/`strptime`, `int()` and
//! `float()` of text), reproduced once for the host and for the plugin SDK.
//!
//! The reference is **CPython 3.11** on Linux (glibc, C locale), whose Unicode database is
//! **Unicode 14.0.0** ([`unicodectype::UNICODE_VERSION`]). Each module follows one CPython
//! source file (named in its documentation) step by step, including its error messages, and
//! `tests/python.rs` compares every module with that Python on many generated inputs.
//!
//! Everything builds for `wasm32-wasip2`. The `time` feature (on by default) adds [`strftime`]
//! and [`strptime`] on chrono's dates; the SDK leaves it out.

#![deny(missing_docs)]

pub mod float_parse;
pub mod float_repr;
pub mod format;
pub mod int_parse;
pub mod json;
pub mod repr;
#[cfg(feature = "time")]
mod sre;
pub mod str_format;
#[cfg(feature = "time")]
pub mod strftime;
#[cfg(feature = "time")]
pub mod strptime;
pub mod unicodectype;
