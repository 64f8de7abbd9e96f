//! Listener definitions through the library API: the user guide's examples, several files, the
//! configuration's `listeners:` section, and refusal of a bad file before anything starts.

use std::path::{Path, PathBuf};

use aviso::config::{CliOverrides, ConfigSources, Program, Settings};
use aviso::schema::Schema;
use aviso::{Aviso, AvisoError};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(name: &str) -> PathBuf {
    repo().join("examples/listeners").join(name)
}

fn ecmwf_schema() -> Schema {
    let path = repo().join("tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    Schema::from_json(&std::fs::read_to_string(&path).unwrap(), "ecmwf").unwrap()
}

/// Settings read from a configuration file only (no system file, home or environment).
fn settings_from(config: Option<&Path>) -> Settings {
    let sources = ConfigSources {
        system_file: PathBuf::from("/nonexistent/aviso/config.yaml"),
        home_dir: None,
        config_file: config.map(Path::to_path_buf),
        env: Box::new(|_| None),
        cli: CliOverrides::default(),
        program: Program::Aviso,
    };
    Settings::load(&sources).unwrap().0
}

#[test]
fn every_user_guide_flight_example_loads() {
    let aviso = Aviso::with_schema(settings_from(None), Schema::default_schema());
    let names = [
        "all_keys.yaml",
        "command.yaml",
        "command_json.yaml",
        "command_jsonpath.yaml",
        "echo.yaml",
        "log.yaml",
        "multiple_listeners.yaml",
        "multiple_triggers.yaml",
        "post_aws.yaml",
        "post_aws_fifo.yaml",
        "post_http.yaml",
        "post_http_headers.yaml",
    ];
    let files: Vec<PathBuf> = names.iter().map(|n| example(n)).collect();
    let sets = aviso.load_listeners(&files).unwrap();
    assert_eq!(sets.len(), names.len(), "one listener set per file");
    let multiple = &sets[6];
    assert_eq!(multiple.listeners.len(), 3);
    assert!(
        multiple
            .listeners
            .iter()
            .all(|l| l.watch_keys == ["/tmp/aviso/flight/"])
    );
    let triggers: Vec<&str> = sets[7].listeners[0]
        .triggers
        .iter()
        .map(|t| t.kind.as_str())
        .collect();
    assert_eq!(triggers, ["echo", "log", "command"]);
    let echo = &sets[4].listeners[0];
    assert_eq!(echo.request["country"], ["italy", "france", "germany"]);
}

#[test]
fn the_mars_example_loads_with_the_ecmwf_schema() {
    let aviso = Aviso::with_schema(settings_from(None), ecmwf_schema());
    let sets = aviso
        .load_listeners(&[example("mars_command.yaml")])
        .unwrap();
    let mars = &sets[0].listeners[0];
    assert_eq!(mars.watch_keys, ["/ec/mars/"]);
    assert_eq!(mars.request["expver"], ["0001"]);
    assert_eq!(mars.request["step"], ["0", "1"]);
}

#[test]
fn listeners_come_from_the_configuration_when_no_file_is_given() {
    let settings = settings_from(Some(&repo().join("examples/config.yaml")));
    let aviso = Aviso::with_schema(settings, Schema::default_schema());
    let sets = aviso.load_listeners(&[]).unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].listeners[0].request["country"], ["italy"]);

    let without = Aviso::with_schema(settings_from(None), Schema::default_schema());
    let err = without.load_listeners(&[]).unwrap_err().to_string();
    assert!(
        err.contains("Event listeners definition cannot be empty"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "listeners:\n  - event: boat\n    request: {}\n    triggers: [{type: echo}]\n",
    )
    .unwrap();
    let aviso = Aviso::with_schema(settings_from(Some(&config)), Schema::default_schema());
    let err = aviso.load_listeners(&[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "Not able to load the 'listeners' of the configuration, listener 1: Wrong schema structure, boat could not be located"
    );
}

#[test]
fn one_bad_file_stops_everything_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: sms}]\n").unwrap();
    let aviso = Aviso::with_schema(settings_from(None), Schema::default_schema());
    let err = aviso
        .load_listeners(&[example("echo.yaml"), bad.clone()])
        .unwrap_err();
    assert!(matches!(err, AvisoError::Listener(_)));
    assert_eq!(
        err.to_string(),
        format!(
            "Not able to load listener file {}, listener 1: Trigger type sms not recognised",
            bad.display()
        )
    );
}

#[test]
fn the_plugins_section_is_the_site_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "plugins:\n  allow:\n    http: ['https://hooks.example.com']\n    command: true\n  limits: {memory: 128, timeout: 30}\n",
    )
    .unwrap();
    let aviso = Aviso::with_schema(settings_from(Some(&config)), Schema::default_schema());
    let policy = aviso.plugin_policy().unwrap();
    assert!(policy.command);
    assert_eq!(policy.max_memory_bytes, 128 << 20);
    assert_eq!(
        policy.http.unwrap()[0].to_string(),
        "https://hooks.example.com:443"
    );

    std::fs::write(&config, "plugins:\n  allow: {sockets: true}\n").unwrap();
    let aviso = Aviso::with_schema(settings_from(Some(&config)), Schema::default_schema());
    let error = aviso.plugin_policy().unwrap_err().to_string();
    assert_eq!(
        error,
        "Invalid plugins section in the configuration: plugins.allow.sockets is not a capability (http, read, write, env, command)"
    );
}
