//! The end-to-end tests, one binary with a module per area (one link of wasmtime instead of one
//! per area). Each area's module says what it covers; `common` holds what they share (a real
//! etcd, listener processes, test plugins). `tls.rs` stays a binary of its own: it changes the
//! process environment.

mod common;

mod aviso_config;
mod cli;
mod concurrent_notify;
mod delivery_faults;
mod embedded_store;
mod etcd_rest;
mod examples;
mod listeners;
mod plugin_c;
mod plugin_cli;
mod plugin_examples;
mod plugin_js;
mod pyaviso_key;
mod pyaviso_usage;
mod remote_schema;
mod sandbox;
mod serve;
mod sns;
mod triggers;
