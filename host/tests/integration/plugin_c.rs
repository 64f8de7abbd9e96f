//! The C example plugin (`examples/plugin-c`, built with clang, wit-bindgen and wasm-tools by
//! `scripts/test.sh`, which sets `AVISO_C_PLUGIN`; without it these tests are skipped locally and
//! fail under CI): what `aviso plugin inspect` says it needs, a listener file using it run by
//! `aviso listen`, and single calls with `aviso plugin run`, as a user runs them. Its home
//! narrows the site policy to nothing, which the plugin does not need.

use crate::common;
use crate::common::flight_summary::{aviso, text};

use std::process::Output;

use serde_json::Value;

/// A site policy layer that grants plugins nothing: no origin, directory or variable.
const NOTHING: &str = "plugins:\n  allow:\n    http: []\n    read: []\n    write: []\n    env: []\n    command: false\n";

/// A home whose `~/.aviso/config.yaml` narrows the site policy to nothing.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aviso")).unwrap();
    std::fs::write(home.path().join(".aviso/config.yaml"), NOTHING).unwrap();
    home
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn the_c_example_imports_only_what_every_plugin_gets() {
    let Some(plugin) = c_example() else { return };
    let home = home();
    let out = aviso(home.path(), &["plugin", "inspect", "--json", &plugin]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(report["world"], "trigger-plugin");
    assert_eq!(report["policy"]["allowed"], true, "{report:#}");
    assert_eq!(
        report["exports"],
        serde_json::json!([{"name": "aviso:plugin/trigger@0.1.0", "functions": ["validate", "run"]}])
    );
    // The log, the WIT types, and the WASI basics and files (which see only granted
    // directories) that WASI 0.1 becomes through the adapter: nothing a listener must grant.
    let imports = report["imports"].as_array().unwrap();
    for import in imports {
        assert!(
            ["log", "types", "basics", "files"].contains(&import["kind"].as_str().unwrap()),
            "{import}"
        );
    }
    assert!(
        imports
            .iter()
            .any(|import| import["name"] == "aviso:plugin/log@0.1.0"),
        "{report:#}"
    );
    assert_eq!(
        report["capabilities"],
        serde_json::json!({"http": false, "command": false, "files": true, "environment": false})
    );
}

#[test]
fn the_c_example_prints_a_line_per_notification_and_checks_its_configuration() {
    let Some(plugin) = c_example() else { return };
    let home = home();
    let home = home.path();
    common::flight_summary::prints_a_line_per_notification_and_checks_its_configuration(
        home, &plugin,
    );
}

#[test]
fn the_c_example_reads_escaped_settings_and_refuses_what_is_no_flight() {
    let Some(plugin) = c_example() else { return };
    let home = home();
    let run = |args: &[&str]| {
        let mut all = vec![
            "plugin",
            "run",
            "--json",
            plugin.as_str(),
            "--event",
            "flight",
        ];
        all.extend(args);
        aviso(home.path(), &all)
    };

    // The host hands the configuration over as JSON text, with quotes, backslashes and control
    // characters escaped: the plugin prints the prefix as it was written.
    let out = run(&[
        "--config",
        r#"{"prefix": "Arrivée\t\"Ω\" \\ 🛬"}"#,
        "--notification",
        "number=AZ203,airport=FCO",
        "--payload",
        "Landed",
        "--key",
        "/tmp/aviso/flight/20210101/italy/FCO/AZ203",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(report["outcome"]["status"], "ok", "{report:#}");
    assert_eq!(
        report["stdout"],
        "Arrivée\t\"Ω\" \\ 🛬: flight AZ203 at FCO: Landed\n"
    );
    assert_eq!(
        report["log"],
        serde_json::json!([{"call": "run", "level": "info", "message": "summarised /tmp/aviso/flight/20210101/italy/FCO/AZ203"}])
    );

    // Without settings, nor airport, nor payload: the defaults.
    let out = run(&["--notification", "number=AZ203"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        json(&out)["stdout"],
        "Notification: flight AZ203 at ?: (no payload)\n"
    );

    // A notification without a flight number fails the call, and prints nothing.
    let out = run(&["--notification", "airport=FCO"]);
    assert_eq!(out.status.code(), Some(255));
    let report = json(&out);
    assert_eq!(
        report["outcome"],
        serde_json::json!({"status": "error", "kind": "failed", "message": "this plugin expects flight notifications (no 'number')"})
    );
    assert_eq!(report["stdout"], "");
}

/// The C example plugin built by `scripts/test.sh` (`AVISO_C_PLUGIN`); without it the tests are
/// skipped locally and fail under CI.
fn c_example() -> Option<String> {
    match std::env::var("AVISO_C_PLUGIN") {
        Ok(path) => Some(path),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AVISO_C_PLUGIN must be set under CI")
        }
        Err(_) => {
            eprintln!("AVISO_C_PLUGIN not set: skipping the C plugin test");
            None
        }
    }
}
