//! The JavaScript example plugin (`examples/plugin-js`, built with jco and ComponentizeJS by
//! `scripts/test.sh`, which sets `AVISO_JS_PLUGIN`; without it the test is skipped locally and
//! fails under CI), used from a listener file by `aviso listen` as a user runs it.

use crate::common;

#[test]
fn the_javascript_example_prints_a_line_per_notification_and_checks_its_configuration() {
    let Some(plugin) = js_example() else { return };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    common::flight_summary::prints_a_line_per_notification_and_checks_its_configuration(
        home, &plugin,
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
