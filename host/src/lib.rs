//! Aviso: notify time-critical events through a key-value store and run triggers when they
//! happen; wire-compatible with ECMWF's pyaviso 1.0.1.
//!
//! The library mirrors pyaviso's `NotificationManager` through [`Aviso`]; the `aviso` binary is
//! a thin layer over it.

pub mod cause;
pub mod cli;
pub mod client;
pub mod config;
pub mod delivery;
pub mod listener;
pub mod metrics;
pub mod notification;
pub mod plugin;
pub mod progress;
pub mod quota;
pub mod schema;
mod schema_loading;
pub mod serve;
pub mod service_config;
pub mod store;
mod suggest;
pub mod tls;
pub mod trigger;
pub mod yaml;

pub use client::{Aviso, AvisoError};
pub use schema_loading::SchemaLoadError;
