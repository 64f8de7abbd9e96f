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
        .map(|t| t.kind.name())
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
            "Not able to load listener file {}, listener 1 (line 4): Trigger type sms not recognised (expected one of: echo, log, command, post, plugin)",
            bad.display()
        )
    );
}

/// Settings read from a system file, a home folder, `AVISO_CONFIG` and `-c`, as `aviso` does.
fn settings_layered(
    system: &str,
    home: Option<&str>,
    aviso_config: Option<&str>,
    dash_c: Option<&str>,
) -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    };
    let system_file = write("etc/config.yaml", system);
    if let Some(text) = home {
        write("home/.aviso/config.yaml", text);
    }
    let env_file = aviso_config.map(|text| write("env.yaml", text));
    let sources = ConfigSources {
        system_file,
        home_dir: Some(dir.path().join("home")),
        config_file: dash_c.map(|text| write("c.yaml", text)),
        env: Box::new(move |name| {
            (name == "AVISO_CONFIG")
                .then(|| env_file.as_ref().map(|p| p.display().to_string()))
                .flatten()
        }),
        cli: CliOverrides::default(),
        program: Program::Aviso,
    };
    Settings::load(&sources).unwrap().0
}

fn policy_of(settings: Settings) -> aviso::trigger::PluginPolicy {
    Aviso::with_schema(settings, Schema::default_schema())
        .plugin_policy()
        .unwrap()
}

#[test]
fn the_system_plugins_section_is_the_site_policy() {
    let site = "plugins:\n  allow:\n    http: ['https://hooks.example.com']\n    command: true\n  limits: {memory: 128, timeout: 30}\n  concurrent_calls: 16\n";
    let policy = policy_of(settings_layered(site, None, None, None));
    assert!(policy.command);
    assert_eq!(policy.max_memory_bytes, 128 << 20);
    assert_eq!(policy.concurrent_calls, Some(16));
    assert_eq!(
        policy.http.unwrap()[0].to_string(),
        "https://hooks.example.com:443"
    );

    let error = Aviso::with_schema(
        settings_layered("plugins:\n  allow: {sockets: true}\n", None, None, None),
        Schema::default_schema(),
    )
    .plugin_policy()
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "Invalid plugins section in the configuration: plugins.allow.sockets is not a capability (http, read, write, env, command)"
    );
}

#[test]
fn later_layers_may_narrow_the_site_policy_but_never_widen_it() {
    let site = "plugins:\n  allow:\n    http: ['https://hooks.example.com', 'https://other.example.com']\n    env: [HOME]\n  limits: {memory: 128, timeout: 30}\n";
    let widen = "plugins:\n  allow:\n    http: ['https://hooks.example.com', 'https://evil.example.com']\n    env: [HOME, AWS_SECRET_ACCESS_KEY]\n    command: true\n  limits: {memory: 1024, timeout: 3600}\n";
    let reset = "plugins: ~\n";
    let everything =
        "plugins:\n  allow: {http: '*', read: '*', write: '*', env: '*', command: true}\n";
    // Through every later layer: the home file, AVISO_CONFIG and -c.
    for layered in [
        settings_layered(site, Some(widen), None, None),
        settings_layered(site, None, Some(widen), None),
        settings_layered(site, None, None, Some(widen)),
        settings_layered(site, Some(reset), Some(everything), Some(widen)),
    ] {
        let policy = policy_of(layered);
        let http: Vec<String> = policy.http.unwrap().iter().map(|o| o.to_string()).collect();
        assert_eq!(
            http,
            ["https://hooks.example.com:443"],
            "kept only what both allow"
        );
        assert_eq!(policy.env, Some(vec!["HOME".to_string()]));
        assert!(!policy.command);
        assert_eq!(policy.max_memory_bytes, 128 << 20);
        assert_eq!(policy.max_timeout, std::time::Duration::from_secs(30));
    }
    // A later layer may narrow.
    let narrow = "plugins:\n  allow: {http: [], env: []}\n  limits: {memory: 16, timeout: 5}\n";
    let policy = policy_of(settings_layered(site, Some(narrow), None, None));
    assert_eq!(policy.http, Some(vec![]));
    assert_eq!(policy.env, Some(vec![]));
    assert_eq!(policy.max_memory_bytes, 16 << 20);
    assert_eq!(
        policy.default_memory_bytes,
        16 << 20,
        "defaults stay within the limits"
    );
    assert_eq!(policy.max_timeout, std::time::Duration::from_secs(5));
    // Without a site section, the built-in policy is the ceiling: no command capability.
    let policy = policy_of(settings_layered("", Some(everything), None, None));
    assert!(!policy.command);
}

#[test]
fn directory_grants_of_later_layers_stay_inside_the_site_roots() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("team")).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("etc-link")).unwrap();
    let site = format!("plugins:\n  allow:\n    read: ['{}']\n", data.display());
    let user = format!(
        "plugins:\n  allow:\n    read: ['{d}/team', '{d}/etc-link', '{d}/../..', '/etc']\n",
        d = data.display()
    );
    let policy = policy_of(settings_layered(&site, Some(&user), None, None));
    assert_eq!(policy.read, Some(vec![data.join("team")]));
}
