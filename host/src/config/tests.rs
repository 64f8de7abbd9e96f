use std::collections::HashMap;
use std::fs;

use super::*;

/// A sandbox with its own system file, home and environment.
struct Sandbox {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    config_file: Option<PathBuf>,
    cli: CliOverrides,
    program: Program,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            env: HashMap::new(),
            config_file: None,
            cli: CliOverrides::default(),
            program: Program::Aviso,
        }
    }

    fn system_file(&self) -> PathBuf {
        self.dir.path().join("etc/aviso/config.yaml")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn write(&self, path: &Path, text: &str) -> PathBuf {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        path.to_path_buf()
    }

    fn load(&self) -> Result<Settings, ConfigError> {
        let env = self.env.clone();
        let sources = ConfigSources {
            system_file: self.system_file(),
            home_dir: Some(self.home()),
            config_file: self.config_file.clone(),
            env: Box::new(move |name| env.get(name).cloned()),
            cli: self.cli.clone(),
            program: self.program,
        };
        Settings::load(&sources).map(|(settings, _)| settings)
    }
}

#[test]
fn defaults_match_pyaviso() {
    let s = Sandbox::new().load().unwrap();
    let n = &s.notification_engine;
    assert_eq!(n.engine.host, "localhost");
    assert_eq!(n.engine.port, 2379);
    assert!(!n.engine.https);
    assert_eq!(n.engine.engine_type, EngineType::EtcdRest);
    assert_eq!(n.polling_interval, 30);
    assert_eq!(n.engine.timeout, Some(60));
    assert_eq!(n.service, "aviso/v1");
    assert!(n.catchup);
    assert_eq!(n.engine.automatic_retry_delay, Some(15));
    let c = &s.configuration_engine;
    assert_eq!(c.engine.host, "localhost");
    assert_eq!(c.engine.port, 2379);
    assert_eq!(c.engine.engine_type, EngineType::EtcdRest);
    assert_eq!(c.max_file_size, 500);
    assert_eq!(c.engine.timeout, Some(60));
    assert_eq!(s.auth_type, AuthType::None);
    assert_eq!(s.username, None);
    assert_eq!(s.username_file, None);
    assert_eq!(s.key_file, PathBuf::from("/etc/aviso/key"));
    assert_eq!(s.key_ttl, -1);
    assert_eq!(s.schema_parser, SchemaParserKind::Generic);
    assert!(!s.remote_schema && !s.debug && !s.quiet && !s.no_fail);
    assert_eq!(s.logging, None);
    assert_eq!(s.listeners, None);
    assert_eq!(s, Settings::defaults());
}

/// Each layer overrides the one before it, in pyaviso's order.
#[test]
fn each_layer_overrides_the_previous_one() {
    let mut sb = Sandbox::new();
    let port = |sb: &Sandbox| sb.load().unwrap().notification_engine.engine.port;
    assert_eq!(port(&sb), 2379);

    sb.write(
        &sb.system_file(),
        "notification_engine:\n  port: 1001\n  host: system-host\n",
    );
    assert_eq!(port(&sb), 1001);

    sb.write(
        &sb.home().join(".aviso/config.yaml"),
        "notification_engine:\n  port: 1002\n",
    );
    assert_eq!(port(&sb), 1002);
    // Sections merge key by key: the system file's host survives the home file.
    assert_eq!(
        sb.load().unwrap().notification_engine.engine.host,
        "system-host"
    );

    let env_file = sb.write(
        &sb.dir.path().join("env.yaml"),
        "notification_engine:\n  port: 1003\n",
    );
    sb.env
        .insert("AVISO_CONFIG".into(), env_file.display().to_string());
    assert_eq!(port(&sb), 1003);

    sb.config_file = Some(sb.write(
        &sb.dir.path().join("c.yaml"),
        "notification_engine: {port: 1004}\n",
    ));
    assert_eq!(port(&sb), 1004);

    sb.env
        .insert("AVISO_NOTIFICATION_PORT".into(), "1005".into());
    assert_eq!(port(&sb), 1005);

    sb.cli.port = Some(1006);
    assert_eq!(port(&sb), 1006);
}

#[test]
fn environment_variables_set_their_settings() {
    let mut sb = Sandbox::new();
    for (var, value) in [
        ("AVISO_NOTIFICATION_HOST", "etcd.example"),
        ("AVISO_NOTIFICATION_HTTPS", "TRUE"),
        ("AVISO_NOTIFICATION_ENGINE", "ETCD_GRPC"),
        ("AVISO_POLLING_INTERVAL", "2"),
        ("AVISO_TIMEOUT", "null"),
        ("AVISO_NOTIFICATION_SERVICE", "svc/v2"),
        ("AVISO_NOTIFICATION_CATCHUP", "false"),
        ("AVISO_AUTOMATIC_RETRY_DELAY", "3"),
        ("AVISO_CONFIGURATION_HOST", "config.example"),
        ("AVISO_CONFIGURATION_PORT", "4001"),
        ("AVISO_MAX_FILE_SIZE", "100"),
        ("AVISO_AUTH_TYPE", "ecmwf"),
        ("AVISO_USERNAME", "alice"),
        ("AVISO_KEY_FILE", "/tmp/key"),
        ("AVISO_KEY_TTL", "30"),
        ("AVISO_SCHEMA_PARSER", "ecmwf"),
        ("AVISO_REMOTE_SCHEMA", "true"),
        ("AVISO_DEBUG", "True"),
        ("AVISO_QUIET", "true"),
        ("AVISO_NO_FAIL", "true"),
    ] {
        sb.env.insert(var.into(), value.into());
    }
    let s = sb.load().unwrap();
    let n = &s.notification_engine;
    assert_eq!(n.engine.host, "etcd.example");
    assert!(n.engine.https);
    assert_eq!(n.engine.engine_type, EngineType::EtcdGrpc);
    assert_eq!(n.polling_interval, 2);
    // AVISO_TIMEOUT and AVISO_AUTOMATIC_RETRY_DELAY set both engines; `null` means no timeout.
    assert_eq!(n.engine.timeout, None);
    assert_eq!(s.configuration_engine.engine.timeout, None);
    assert_eq!(n.engine.automatic_retry_delay, Some(3));
    assert_eq!(s.configuration_engine.engine.automatic_retry_delay, Some(3));
    assert_eq!(n.service, "svc/v2");
    assert!(!n.catchup);
    assert_eq!(s.configuration_engine.engine.host, "config.example");
    assert_eq!(s.configuration_engine.engine.port, 4001);
    assert_eq!(s.configuration_engine.max_file_size, 100);
    assert_eq!(s.auth_type, AuthType::Ecmwf);
    assert_eq!(s.username.as_deref(), Some("alice"));
    assert_eq!(s.key_file, PathBuf::from("/tmp/key"));
    assert_eq!(s.key_ttl, 30);
    assert_eq!(s.schema_parser, SchemaParserKind::Ecmwf);
    assert!(s.remote_schema && s.debug && s.quiet && s.no_fail);
}

#[test]
fn command_line_options_set_their_settings() {
    let mut sb = Sandbox::new();
    sb.cli = CliOverrides {
        host: Some("cli-host".into()),
        port: Some(7000),
        test: true,
        username: Some("bob".into()),
        key_file: Some("/k".into()),
        debug: true,
        quiet: true,
        no_fail: true,
        log: Some("/log.yaml".into()),
        catchup: false,
        now: true,
    };
    let s = sb.load().unwrap();
    assert_eq!(s.notification_engine.engine.host, "cli-host");
    assert_eq!(s.notification_engine.engine.port, 7000);
    assert_eq!(
        s.notification_engine.engine.engine_type,
        EngineType::FileBased
    );
    assert_eq!(s.username.as_deref(), Some("bob"));
    assert_eq!(s.key_file, PathBuf::from("/k"));
    assert!(s.debug && s.quiet && s.no_fail);
    assert!(
        !s.notification_engine.catchup,
        "--now switches catch-up off"
    );
    assert_eq!(s.logging, Some(LoggingSetting::File("/log.yaml".into())));

    // For aviso-config, -H/-P address the configuration engine.
    sb.program = Program::AvisoConfig;
    sb.cli.test = false;
    let s = sb.load().unwrap();
    assert_eq!(s.configuration_engine.engine.host, "cli-host");
    assert_eq!(s.configuration_engine.engine.port, 7000);
    assert_eq!(s.notification_engine.engine.port, 2379);
}

#[test]
fn bad_values_name_the_setting_and_their_origin() {
    let mut sb = Sandbox::new();
    sb.env
        .insert("AVISO_NOTIFICATION_PORT".into(), "abc".into());
    let err = sb.load().unwrap_err().to_string();
    assert_eq!(
        err,
        "Invalid value 'abc' for setting notification_engine.port (from environment variable AVISO_NOTIFICATION_PORT): expected a port number between 1 and 65535"
    );

    let mut sb = Sandbox::new();
    let file = sb.write(
        &sb.dir.path().join("c.yaml"),
        "notification_engine:\n  type: redis\n",
    );
    sb.config_file = Some(file.clone());
    let err = sb.load().unwrap_err().to_string();
    assert!(
        err.contains("'redis' for setting notification_engine.type"),
        "{err}"
    );
    assert!(
        err.contains(&format!("configuration file {}", file.display())),
        "{err}"
    );
    assert!(err.contains("etcd_rest, etcd_grpc, file_based"), "{err}");

    let sb = Sandbox::new();
    sb.write(&sb.home().join(".aviso/config.yaml"), "debug: maybe\n");
    let err = sb.load().unwrap_err().to_string();
    assert!(err.contains("'maybe' for setting debug"), "{err}");

    let mut sb = Sandbox::new();
    sb.env.insert("AVISO_AUTH_TYPE".into(), "kerberos".into());
    assert!(
        sb.load()
            .unwrap_err()
            .to_string()
            .contains("none, etcd, ecmwf, openid, plain")
    );

    let mut sb = Sandbox::new();
    sb.env
        .insert("AVISO_CONFIGURATION_ENGINE".into(), "file_based".into());
    assert!(
        sb.load()
            .unwrap_err()
            .to_string()
            .contains("File_based engine not available as configuration engine")
    );
}

#[test]
fn missing_or_malformed_files_are_errors_but_optional_ones_are_not() {
    let mut sb = Sandbox::new();
    sb.config_file = Some(sb.dir.path().join("nope.yaml"));
    let err = sb.load().unwrap_err().to_string();
    assert!(
        err.starts_with("Not able to load configuration file"),
        "{err}"
    );
    assert!(err.contains("nope.yaml"), "{err}");

    let sb = Sandbox::new();
    sb.write(&sb.system_file(), "notification_engine: [1, 2\n");
    let err = sb.load().unwrap_err().to_string();
    assert!(err.contains("etc/aviso/config.yaml"), "{err}");

    let sb = Sandbox::new();
    sb.write(&sb.system_file(), "- a\n- b\n");
    assert!(
        sb.load()
            .unwrap_err()
            .to_string()
            .contains("expected a mapping of settings")
    );
}

#[test]
fn home_is_expanded_in_paths_and_listeners_are_kept() {
    let sb = Sandbox::new();
    sb.write(
        &sb.home().join(".aviso/config.yaml"),
        "key_file: ~/key\nusername_file: ~/user\nlisteners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n",
    );
    let s = sb.load().unwrap();
    assert_eq!(s.key_file, sb.home().join("key"));
    assert_eq!(s.username_file, Some(sb.home().join("user")));
    let listeners = s.listeners.unwrap();
    assert!(matches!(listeners, YamlValue::Seq(ref items) if items.len() == 1));
}

#[test]
fn logging_precedence_cli_over_env_over_file_section() {
    let mut sb = Sandbox::new();
    sb.write(
        &sb.home().join(".aviso/config.yaml"),
        "logging:\n  version: 1\n  root: {level: DEBUG}\n",
    );
    assert!(matches!(
        sb.load().unwrap().logging,
        Some(LoggingSetting::Inline(_))
    ));
    sb.env.insert("AVISO_LOG".into(), "/env-log.yaml".into());
    assert_eq!(
        sb.load().unwrap().logging,
        Some(LoggingSetting::File("/env-log.yaml".into()))
    );
    sb.cli.log = Some("/cli-log.yaml".into());
    assert_eq!(
        sb.load().unwrap().logging,
        Some(LoggingSetting::File("/cli-log.yaml".into()))
    );
}

#[test]
fn durations_above_a_week_are_refused_and_sizes_saturate() {
    let mut sb = Sandbox::new();
    let file = sb.dir.path().join("c.yaml");
    sb.config_file = Some(file.clone());
    for (text, setting, value) in [
        (
            "notification_engine:\n  timeout: 604801\n",
            "notification_engine.timeout",
            "604801",
        ),
        (
            "configuration_engine:\n  automatic_retry_delay: 18446744073709551616\n",
            "configuration_engine.automatic_retry_delay",
            "18446744073709551616",
        ),
        (
            "notification_engine:\n  polling_interval: 1e20\n",
            "notification_engine.polling_interval",
            "1e20",
        ),
    ] {
        sb.write(&file, text);
        assert_eq!(
            sb.load().unwrap_err().to_string(),
            format!(
                "Invalid value '{value}' for setting {setting} (from configuration file {}): expected a whole number of seconds from 0 to 604800 (7 days), or null",
                file.display()
            )
        );
    }

    sb.write(
        &file,
        "notification_engine:\n  timeout: 604800\n  polling_interval: 604800\nconfiguration_engine:\n  max_file_size: 18446744073709551615\n",
    );
    let settings = sb.load().unwrap();
    assert_eq!(
        settings.notification_engine.engine.timeout,
        Some(MAX_CONFIGURED_SECONDS)
    );
    assert_eq!(
        settings.notification_engine.polling_interval,
        MAX_CONFIGURED_SECONDS
    );
    // A size only bounds what is pushed (never above 1 MiB), so a huge one is harmless.
    assert_eq!(settings.configuration_engine.max_file_size, u64::MAX);
}

#[test]
fn a_configuration_file_too_deep_or_with_an_alias_bomb_is_named_in_the_error() {
    let mut sb = Sandbox::new();
    let file = sb.dir.path().join("c.yaml");
    sb.config_file = Some(file.clone());
    sb.write(&file, &format!("listeners:\n{}x\n", "- ".repeat(10_000)));
    assert_eq!(
        sb.load().unwrap_err().to_string(),
        format!(
            "Not able to load configuration file {}: line 2: lists and mappings are nested more than 64 levels deep",
            file.display()
        )
    );
    let mut bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for level in 1..=8 {
        let items = vec![format!("*a{}", level - 1); 10].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    sb.write(
        &file,
        &format!("listeners:\n  {}", bomb.replace('\n', "\n  ")),
    );
    let err = sb.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Not able to load configuration file {}: line 6: aliases copy more than 100000 values into the document",
            file.display()
        )
    );
}

#[test]
fn user_paths_expand_home_and_environment_variables_as_the_shell_did() {
    let home = super::home_dir().expect("HOME is set for the tests");
    let expand = |text: &str| super::expand_user_path(text);
    assert_eq!(expand("~/aviso").unwrap(), home.join("aviso"));
    assert_eq!(expand("~").unwrap(), home);
    assert_eq!(expand("$HOME/aviso").unwrap(), home.join("aviso"));
    assert_eq!(expand("${HOME}/a$/b").unwrap(), home.join("a$/b"));
    // `~user` and a `~` inside are left as written.
    assert_eq!(
        expand("~other/x").unwrap(),
        std::path::PathBuf::from("~other/x")
    );
    assert_eq!(
        expand("/srv/a~b").unwrap(),
        std::path::PathBuf::from("/srv/a~b")
    );
    assert_eq!(
        expand("$AVISO_SURELY_NOT_SET_4711/x").unwrap_err(),
        "$AVISO_SURELY_NOT_SET_4711/x: the environment variable AVISO_SURELY_NOT_SET_4711 is not set"
    );
    assert!(expand("${HOME").unwrap_err().contains("without its"));
}
