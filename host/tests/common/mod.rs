//! Helpers shared by the end-to-end tests: notifications, trigger runtimes, a loopback HTTP
//! server.
#![allow(dead_code)]

pub mod certificates;
pub mod etcd;
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

/// The path of a test-only plugin built by host/build.rs.
pub fn test_plugin(name: &str) -> String {
    format!(
        "{}/aviso_plugin_{name}.wasm",
        env!("AVISO_WASM_PLUGINS_DIR")
    )
}
