//! The example plugins that print a one-line flight summary (JavaScript, C: the same behaviour
//! as the Python example), run the way a user runs them: `aviso` with a home of its own.

use std::path::Path;
use std::process::Output;

pub const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101";

/// `aviso ARGS` with its own home, and its compiled-code cache there.
pub fn aviso(home: &Path, args: &[&str]) -> Output {
    super::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .args(args)
        .output()
        .expect("aviso runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The listener file a user writes for the plugin, with its `config:` block.
pub fn listener_file(home: &Path, name: &str, plugin: &str, config: &str) -> String {
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

/// Notifies twice (with and without payload), replays both through the plugin from a listener
/// file, and checks what a user sees; then a configuration `validate` refuses.
pub fn prints_a_line_per_notification_and_checks_its_configuration(home: &Path, plugin: &str) {
    let plugin = plugin.to_string();
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
