//! The JavaScript example plugin (`examples/plugin-js`, built with jco and ComponentizeJS by
//! `scripts/test.sh`, which sets `AVISO_JS_PLUGIN`; without it the test is skipped locally and
//! fails under CI), used from a listener file by `aviso listen` as a user runs it.

use crate::common;

use std::path::Path;
use std::process::Output;

const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101";

/// `aviso ARGS` with its own home, and its compiled-code cache there.
fn aviso(home: &Path, args: &[&str]) -> Output {
    common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .args(args)
        .output()
        .expect("aviso runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The listener file a user writes for the plugin, with its `config:` block.
fn listener_file(home: &Path, name: &str, plugin: &str, config: &str) -> String {
    let path = home.join(name);
    std::fs::write(
        &path,
        format!(
            "listeners:\n  - event: flight\n    request:\n      country: italy\n    triggers:\n      - type: plugin\n        path: {plugin}\n        config: {config}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn the_javascript_example_prints_a_line_per_notification_and_checks_its_configuration() {
    let Some(plugin) = js_example() else { return };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    for notification in [
        format!("{FLIGHT},number=AZ203,payload=Landed"),
        format!("{FLIGHT},number=AZ204"),
    ] {
        let out = aviso(home, &["notify", "--test", &notification]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let to = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();

    // Replaying the two notifications runs the plugin once for each; it needs no grant.
    let listeners = listener_file(home, "flights.yaml", &plugin, "{prefix: Arrival}");
    let out = aviso(
        home,
        &[
            "listen",
            "--test",
            &listeners,
            "--from",
            "2000-01-01T00:00:00.0Z",
            "--to",
            &to,
        ],
    );
    let log = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(
        text(&out.stdout),
        "Arrival: flight AZ203 at FCO: Landed\nArrival: flight AZ204 at FCO: (no payload)\n"
    );
    // What it sent to the host's log, attributed to it.
    for number in ["AZ203", "AZ204"] {
        let line = format!("{plugin}: summarised /tmp/aviso/flight/20210101/italy/FCO/{number}\n");
        assert!(log.contains(&line), "{line:?} not in:\n{log}");
    }

    // A configuration its `validate` refuses stops the listener before it starts.
    let broken = listener_file(home, "broken.yaml", &plugin, "{prefix: 3}");
    let out = aviso(home, &["listen", "--test", &broken]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(text(&out.stdout), "");
    let error = text(&out.stderr);
    assert!(
        error.contains(&format!(
            "Trigger plugin ({plugin}) could not be created: prefix must be a string"
        )),
        "{error}"
    );
}

/// The JavaScript example plugin built by `scripts/test.sh` (`AVISO_JS_PLUGIN`); without it the
/// test is skipped locally and fails under CI.
fn js_example() -> Option<String> {
    match std::env::var("AVISO_JS_PLUGIN") {
        Ok(path) => Some(path),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AVISO_JS_PLUGIN must be set under CI")
        }
        Err(_) => {
            eprintln!("AVISO_JS_PLUGIN not set: skipping the JavaScript plugin test");
            None
        }
    }
}
