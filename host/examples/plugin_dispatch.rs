//! Benchmark: notifications per second through trigger plugins, one at a time on one thread
//! (each call instantiates the component in a fresh sandbox, calls it, and drops it).
//!
//! `cargo run --release --example plugin_dispatch [-- COUNT [PLUGIN.wasm ...]]`; `bench/run.sh`
//! runs it pinned to one core.

use std::time::Instant;

use aviso::listener::TriggerSpec;
use aviso::notification::{Notification, ParameterUse, parse_parameters};
use aviso::plugin::ComponentCache;
use aviso::schema::Schema;
use aviso::trigger::{OutputSink, PluginPolicy, TriggerRuntime};

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map(|c| c.parse().expect("COUNT is a number"))
        .unwrap_or(20_000);
    let mut plugins: Vec<String> = args.collect();
    if plugins.is_empty() {
        plugins.push(format!(
            "{}/aviso_plugin_noop.wasm",
            env!("AVISO_WASM_PLUGINS_DIR")
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let triggers = TriggerRuntime::new(ComponentCache::standard(), PluginPolicy::default())
            .expect("the engine starts")
            .with_output(OutputSink::buffer());
        let parameters = parse_parameters(
            "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=Landed",
        )
        .unwrap();
        let notification = Notification::from_parameters(
            &parameters,
            &Schema::default_schema(),
            ParameterUse::Notify,
        )
        .unwrap();
        let mut cases: Vec<(String, Vec<TriggerSpec>)> =
            vec![("echo (built-in)".into(), specs("{type: echo}"))];
        for plugin in &plugins {
            cases.push((
                plugin.rsplit('/').next().unwrap_or(plugin).to_string(),
                specs(&format!("{{type: plugin, path: '{plugin}'}}")),
            ));
        }
        println!("| trigger | notifications | seconds | notifications/s | µs each |");
        println!("|---|---:|---:|---:|---:|");
        for (name, spec) in cases {
            let set = triggers.load(&spec).await.unwrap_or_else(|e| panic!("{e}"));
            // Warm up the instance pool.
            for _ in 0..100 {
                set.run(&notification, "/k", 1).await;
            }
            let rounds = if name.ends_with(".wasm") && name.contains("py") {
                count / 20
            } else {
                count
            };
            let start = Instant::now();
            for i in 0..rounds {
                let outcome = set.run(&notification, "/k", i as u64).await;
                assert!(outcome.all_succeeded(), "{outcome:?}");
            }
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "| {name} | {rounds} | {seconds:.3} | {:.0} | {:.1} |",
                rounds as f64 / seconds,
                seconds * 1e6 / rounds as f64
            );
        }
    });
}

fn specs(trigger: &str) -> Vec<TriggerSpec> {
    let yaml =
        format!("listeners:\n  - event: flight\n    request: {{}}\n    triggers: [{trigger}]\n");
    let document = aviso::yaml::parse(&yaml).unwrap();
    let set = aviso::listener::parse_listeners(
        &document,
        "bench",
        &Schema::default_schema(),
        "etcd_rest",
    )
    .unwrap();
    set.listeners[0].triggers.clone()
}
