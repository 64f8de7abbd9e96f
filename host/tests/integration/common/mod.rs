//! Helpers shared by the end-to-end tests: notifications, trigger runtimes, a loopback HTTP
//! server.
#![allow(dead_code)]

pub mod certificates;
pub mod etcd;
pub mod flight_summary;
pub mod http_server;
pub mod listening;

use aviso::listener::TriggerSpec;
use aviso::notification::{Notification, ParameterUse, parse_parameters};
use aviso::plugin::ComponentCache;
use aviso::schema::Schema;
use aviso::trigger::{OutputSink, PluginPolicy, TriggerRuntime, TriggerSet};

/// The user guide's flight notification with `payload`.
pub fn flight(payload: Option<&str>) -> Notification {
    let mut text = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203".to_string();
    if let Some(payload) = payload {
        text.push_str(&format!(",payload={payload}"));
    }
    let parameters = parse_parameters(&text).unwrap();
    Notification::from_parameters(&parameters, &Schema::default_schema(), ParameterUse::Notify)
        .unwrap()
}

/// The flight notification with another flight number.
pub fn flight_number(number: &str) -> Notification {
    let text = format!("event=flight,country=Italy,airport=fco,date=20210101,number={number}");
    let parameters = parse_parameters(&text).unwrap();
    Notification::from_parameters(&parameters, &Schema::default_schema(), ParameterUse::Notify)
        .unwrap()
}

pub const FLIGHT_KEY: &str = "/tmp/aviso/flight/20210101/italy/FCO/AZ203";

/// A runtime whose plugin output is captured, with the given site policy.
pub fn runtime_with(policy: PluginPolicy) -> (TriggerRuntime, OutputSink) {
    let sink = OutputSink::buffer();
    let runtime = TriggerRuntime::new(ComponentCache::in_memory(), policy)
        .unwrap()
        .with_output(sink.clone());
    (runtime, sink)
}

pub fn runtime() -> (TriggerRuntime, OutputSink) {
    runtime_with(PluginPolicy::default())
}

/// Trigger specs from listener-file YAML (the `triggers:` list).
pub fn specs(yaml: &str) -> Vec<TriggerSpec> {
    let document =
        format!("listeners:\n  - event: flight\n    request: {{}}\n    triggers:\n{yaml}");
    let document = aviso::yaml::parse(&document).unwrap();
    let set =
        aviso::listener::parse_listeners(&document, "test", &Schema::default_schema(), "etcd_rest")
            .unwrap();
    set.listeners[0].triggers.clone()
}

pub async fn load(runtime: &TriggerRuntime, yaml: &str) -> TriggerSet {
    runtime
        .load(&specs(yaml))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// pyaviso 1.0.1's `aviso` (`PYAVISO_BIN`, set by `scripts/test.sh`; its `aviso-config` is
/// beside it). Without it the pyaviso half of a test is skipped locally, and fails under CI.
pub fn pyaviso() -> Option<std::path::PathBuf> {
    match std::env::var_os("PYAVISO_BIN") {
        Some(path) => Some(std::path::PathBuf::from(path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("PYAVISO_BIN must point to pyaviso's `aviso` under CI")
        }
        None => {
            eprintln!("PYAVISO_BIN not set: skipping the comparison with pyaviso");
            None
        }
    }
}

/// A command for `program` without the `AVISO_*` variables of whoever runs the tests.
pub fn clean_command(program: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for (name, _) in std::env::vars() {
        if name.starts_with("AVISO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// The path of a test-only plugin (built by dev-guests) or of a built-in one.
pub fn test_plugin(name: &str) -> String {
    aviso_dev_guests::component(&format!("aviso_plugin_{name}"))
}

/// Waits (at most `limit`) until `done`; `failure` says what was missing.
pub fn wait_until(
    limit: std::time::Duration,
    mut done: impl FnMut() -> bool,
    failure: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{}", failure());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
