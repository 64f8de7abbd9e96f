//! The `aviso` binary as a user runs it: output, messages and exit codes (reference §9, §13).

use crate::common;

use std::path::Path;
use std::process::Output;

const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203";

/// Runs `aviso` with a private home and no `AVISO_*` variables from the caller.
fn aviso(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    command.args(args).env("HOME", home);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("aviso runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn key_prints_the_user_guide_key() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(home.path(), &["key", FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/tmp/aviso/flight/20210101/italy/FCO/AZ203\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn version_and_help() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(home.path(), &["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("aviso, version {}\n", env!("CARGO_PKG_VERSION"))
    );

    let out = aviso(home.path(), &["-h"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("key"), "{}", stdout(&out));

    let out = aviso(home.path(), &["key", "-h"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for option in [
        "-c, --config",
        "-l, --log",
        "-d, --debug",
        "-q, --quiet",
        "--no-fail",
        "-u, --username",
        "-k, --key",
        "-H, --host",
        "-P, --port",
        "--test",
        "PARAMETERS",
    ] {
        assert!(help.contains(option), "help lacks {option}:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2_with_click_wording() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(home.path(), &["key"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Error: Missing argument 'PARAMETERS'."),
        "{}",
        stderr(&out)
    );

    let out = aviso(home.path(), &["key", "--foo", FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Error: No such option '--foo'."),
        "{}",
        stderr(&out)
    );

    let out = aviso(home.path(), &["key", "-P", "notaport", FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Error: Invalid value for '--port': 'notaport'"),
        "{}",
        stderr(&out)
    );

    let out = aviso(home.path(), &["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("Error: No such command 'frobnicate'.\n"),
        "{}",
        stderr(&out)
    );
    // pyaviso (Click) suggests the command meant.
    let out = aviso(home.path(), &["notfy", "event=flight"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("Error: No such command 'notfy'. Did you mean 'notify'?\n"),
        "{}",
        stderr(&out)
    );
    let out = aviso(home.path(), &["dead-letters", "lst"], &[]);
    assert!(
        stderr(&out).ends_with("Error: No such command 'lst'. Did you mean 'list'?\n"),
        "{}",
        stderr(&out)
    );
    // A one-letter option in the wrong case.
    let out = aviso(home.path(), &["value", "-p", "2379", "event=flight"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("Error: No such option '-p'. Did you mean '-P'?\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn errors_exit_255_with_pyaviso_messages() {
    let home = tempfile::tempdir().unwrap();
    for (parameters, message) in [
        (
            "event=flight,country=Italy,airport=fco,date=20210101",
            "Wrong parameters: number required",
        ),
        (
            &format!("{FLIGHT},payload=Landed") as &str,
            "Key payload is not allowed",
        ),
        (
            "country=Italy,airport=fco",
            "Invalid notification, 'event' could not be located",
        ),
        (
            "event=flight2,country=Italy",
            "Invalid notification, flight2 could not be located in the schema",
        ),
        (
            "event=flight",
            "Wrong structure for the notification string, it should be <key_name>=<key_value>,...",
        ),
        (
            "event=flight,country",
            "Wrong structure for the notification string, it should be <key_name>=<key_value>,...",
        ),
        (
            "event=flight,country=Italy,airport=fco,date=2021-01-01,number=AZ203",
            "Value 2021-01-01 is not valid for key date",
        ),
    ] {
        let out = aviso(home.path(), &["key", parameters], &[]);
        assert_eq!(out.status.code(), Some(255), "{parameters}");
        assert_eq!(stdout(&out), "", "{parameters}");
        assert!(
            stderr(&out).contains(message),
            "{parameters}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn no_fail_turns_errors_into_success() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(
        home.path(),
        &["key", "--no-fail", "event=flight,country=Italy"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Wrong parameters: date, airport, number required"),
        "{}",
        stderr(&out)
    );
    let out = aviso(
        home.path(),
        &["key", "event=flight,country=Italy"],
        &[("AVISO_NO_FAIL", "true")],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn configuration_errors_name_the_setting_and_origin() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(
        home.path(),
        &["key", FLIGHT],
        &[("AVISO_NOTIFICATION_ENGINE", "redis")],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("Invalid value 'redis' for setting notification_engine.type (from environment variable AVISO_NOTIFICATION_ENGINE)"),
        "{}",
        stderr(&out)
    );

    let out = aviso(
        home.path(),
        &["key", "-c", "/nonexistent/config.yaml", FLIGHT],
        &[],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/nonexistent/config.yaml"),
        "{}",
        stderr(&out)
    );

    std::fs::create_dir_all(home.path().join(".aviso")).unwrap();
    std::fs::write(
        home.path().join(".aviso/config.yaml"),
        "notification_engine:\n  port: many\n",
    )
    .unwrap();
    let out = aviso(home.path(), &["key", FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(255));
    let expected = format!(
        "Invalid value 'many' for setting notification_engine.port (from configuration file {})",
        home.path().join(".aviso/config.yaml").display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn unknown_settings_are_warned_about_and_quiet_hides_warnings() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("c.yaml");
    std::fs::write(&config, "notification_engine:\n  hots: x\n").unwrap();
    let config = config.to_str().unwrap();
    let out = aviso(home.path(), &["key", "-c", config, FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Unknown setting 'notification_engine.hots'"),
        "{}",
        stderr(&out)
    );
    let out = aviso(home.path(), &["key", "-q", "-c", config, FLIGHT], &[]);
    assert_eq!(stderr(&out), "");
}

#[test]
fn local_schema_from_home_is_used() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join(".aviso/service_configuration");
    std::fs::create_dir_all(&folder).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    std::fs::copy(schema, folder.join("event_listener_schema.json")).unwrap();
    let diss = "event=dissemination,destination=foo,target=E1,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101";
    let out = aviso(home.path(), &["key", diss], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "/ec/diss/FOO/date=20210101,target=E1,class=od,expver=0001,domain=g,time=00,stream=enfo,step=1\n"
    );
    // --test selects the schema's file_based endpoint.
    let out = aviso(home.path(), &["key", "--test", diss], &[]);
    assert_eq!(
        stdout(&out),
        "/tmp/aviso/diss/FOO/E1/od/0001/g/20210101/00/enfo/1\n"
    );

    std::fs::write(folder.join("event_listener_schema.json"), "{\"mars\": {}}").unwrap();
    let out = aviso(home.path(), &["key", diss], &[]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("event 'mars': 'request' could not be located"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_remote_schema_that_cannot_be_reached_and_was_never_copied_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = aviso(
        home.path(),
        &["key", FLIGHT],
        &[
            ("AVISO_REMOTE_SCHEMA", "true"),
            ("AVISO_CONFIGURATION_HOST", "127.0.0.1"),
            ("AVISO_CONFIGURATION_PORT", &closed_port),
            (
                "XDG_CACHE_HOME",
                &home.path().join("cache").display().to_string(),
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(255));
    let error = stderr(&out);
    assert!(
        error.contains("Cannot load the event listener schema from service aviso/v1")
            && error.contains(&format!("127.0.0.1:{closed_port}"))
            && error.contains("there is no local copy of it yet"),
        "{error}"
    );
}

/// Runs `aviso listen --test` on a listener file and returns its stderr, after checking that
/// aviso refused the file itself: exit status 255, not a signal (a stack overflow aborts) nor a
/// panic (101).
fn listen_refuses(home: &Path, name: &str, text: &str) -> String {
    let file = home.join(name);
    std::fs::write(&file, text).unwrap();
    let out = aviso(home, &["listen", "--test", file.to_str().unwrap()], &[]);
    let error = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(255),
        "{name}: {:?} {error}",
        out.status
    );
    assert!(!error.contains("panicked"), "{name}: {error}");
    error
}

#[test]
fn listener_files_that_would_exhaust_the_parser_are_refused_with_their_name() {
    let home = tempfile::tempdir().unwrap();

    // 20 KB of nesting used to overflow yaml-rust2's recursive loader and abort the process.
    let deep = format!("listeners:\n{}x\n", "- ".repeat(10_000));
    let error = listen_refuses(home.path(), "deep.yaml", &deep);
    let expected = format!(
        "Not able to load listener file {}: line 2: lists and mappings are nested more than 64 levels deep",
        home.path().join("deep.yaml").display()
    );
    assert!(error.contains(&expected), "{error}");

    // A few hundred bytes of nested aliases used to expand to gigabytes.
    let mut bomb = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n".to_string();
    for level in 1..=8 {
        let items = vec![format!("*a{}", level - 1); 10].join(",");
        bomb.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    bomb.push_str("listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n");
    let error = listen_refuses(home.path(), "bomb.yaml", &bomb);
    let expected = format!(
        "Not able to load listener file {}: line 5: aliases copy more than 100000 values into the document",
        home.path().join("bomb.yaml").display()
    );
    assert!(error.contains(&expected), "{error}");
}

#[test]
fn a_trigger_timeout_too_large_for_a_duration_is_an_error_not_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let listener = "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: echo\n        timeout: 1e20\n";
    let error = listen_refuses(home.path(), "timeout.yaml", listener);
    assert!(
        error.contains(
            "timeout must be a positive number of seconds up to 604800 (7 days), found 1e+20"
        ),
        "{error}"
    );
}

#[test]
fn a_missing_or_broken_logging_configuration_stops_the_command() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nowhere/logging.yaml");
    let missing = missing.to_str().unwrap();
    let out = aviso(home.path(), &["key", "-l", missing, FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(&format!(
            "Not able to read the logging configuration {missing}"
        )),
        "{}",
        stderr(&out)
    );
    let broken = home.path().join("broken.yaml");
    std::fs::write(&broken, "root: [level: INFO\n").unwrap();
    let out = aviso(
        home.path(),
        &["key", FLIGHT],
        &[("AVISO_LOG", broken.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.yaml"), "{}", stderr(&out));
    // A good one is used.
    let good = home.path().join("good.yaml");
    std::fs::write(&good, "version: 1\nroot:\n  level: WARNING\n").unwrap();
    let out = aviso(
        home.path(),
        &["key", "-l", good.to_str().unwrap(), FLIGHT],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/tmp/aviso/flight/20210101/italy/FCO/AZ203\n");
}

#[test]
fn debug_shows_avisos_messages_not_the_connection_traces_of_the_grpc_stack() {
    let etcd = common::etcd::Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let port = etcd.port.to_string();
    let grpc = [
        ("AVISO_NOTIFICATION_ENGINE", "etcd_grpc"),
        ("AVISO_NOTIFICATION_HOST", "127.0.0.1"),
        ("AVISO_NOTIFICATION_PORT", port.as_str()),
    ];
    let out = aviso(home.path(), &["value", "-d", FLIGHT], &grpc);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "None\n");
    let log = stderr(&out);
    assert!(
        log.contains("built-in schema"),
        "aviso's own messages: {log}"
    );
    assert!(!log.contains("client connection bound"), "{log}");
    // Whoever debugs the libraries asks for their traces.
    let mut asked = grpc.to_vec();
    asked.push(("RUST_LOG", "debug"));
    let out = aviso(home.path(), &["value", "-d", FLIGHT], &asked);
    assert!(
        stderr(&out).contains("client connection bound"),
        "{}",
        stderr(&out)
    );
}

/// Writes a listener file with one listener (flights to Italy, echo) into `home`; its path.
fn italy_echo_listener(home: &Path) -> String {
    let file = home.join("italy.yaml");
    std::fs::write(
        &file,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: echo\n",
    )
    .unwrap();
    file.display().to_string()
}

/// `aviso notify --test` of one flight on the embedded store of `home`.
fn notify_flight(home: &Path, number: &str, country: &str) {
    let parameters = format!(
        "event=flight,country={country},airport=fco,date=20210101,number={number},payload=x"
    );
    let out = aviso(home, &["notify", "--test", &parameters], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A listener file with one of each mistake newcomers make (newcomer trial N-3, N-12, N-27).
const MISTAKES: &str = "listeners:
  - event: flight
    request:
      contry: italy
    trigers: []
    triggers:
      - type: command
        command: echo ${request.nosuch}
        workdir: /tmp
      - type: post
        protocol: {type: cloudevents_http, url: 'http://127.0.0.1:1/', header: {A: b}}
  - event: flight
    request: {country: italy}
    triggers:
      - type: ehco
  - event: flight
    request: {country: italy}
    triggers:
      - type: log
        path: /nonexistent-aviso-dir/f.log
";

#[test]
fn listen_check_reports_every_problem_with_its_line_and_a_suggestion() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("mistakes.yaml");
    std::fs::write(&file, MISTAKES).unwrap();
    let out = aviso(
        home.path(),
        &["listen", "--check", file.to_str().unwrap()],
        &[],
    );
    assert_ne!(out.status.code(), Some(0));
    let report = stdout(&out);
    let source = format!("Not able to load listener file {}", file.display());
    for expected in [
        "listener 1 (line 4): Key contry is not allowed (did you mean 'country'?)",
        "listener 1 (line 5): 'trigers' is not a listener setting (did you mean 'triggers'?)",
        "listener 1 (line 9): trigger 1: 'workdir' is not a setting of command triggers (did you mean 'working_dir'?)",
        "listener 1 (line 11): trigger 2: 'header' is not a setting of a cloudevents_http protocol (did you mean 'headers'?)",
        "listener 2 (line 15): Trigger type ehco not recognised (did you mean 'echo'?)",
        "listener 3: trigger 1: Trigger log (/nonexistent-aviso-dir/f.log) could not be created: the directory /nonexistent-aviso-dir of the log file does not exist",
    ] {
        assert!(
            report.contains(&format!("{source}, {expected}")),
            "missing {expected:?} in:\n{report}"
        );
    }
    assert_eq!(report.lines().count(), 6, "{report}");
    assert!(
        stderr(&out).contains("6 problem(s) found"),
        "{}",
        stderr(&out)
    );

    // With the request fixed, the placeholder the event does not have is caught at load.
    std::fs::write(&file, MISTAKES.replace("contry", "country")).unwrap();
    let out = aviso(
        home.path(),
        &["listen", "--check", file.to_str().unwrap()],
        &[],
    );
    assert!(
        stdout(&out).contains(
            "trigger 1: ${request.nosuch} cannot be substituted: flight notifications have no 'nosuch'"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn listen_check_passes_a_good_file_saved_with_a_byte_order_mark() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("windows.yaml");
    std::fs::write(
        &file,
        "\u{feff}listeners:\r\n  - event: flight\r\n    request: {country: italy}\r\n    triggers:\r\n      - type: echo\r\n",
    )
    .unwrap();
    let out = aviso(
        home.path(),
        &["listen", "--check", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "OK: 1 listener(s), no problem found\n");

    let out = aviso(
        home.path(),
        &["listen", "--check", "--now", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn completions_and_manual_pages_come_from_the_command_definitions() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(home.path(), &["completions", "bash"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("complete -F"), "{script}");
    for word in ["listen", "notify", "dead-letters", "--catchup", "--check"] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    let out = aviso(
        home.path(),
        &["completions", "zsh", "--program", "aviso-config"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("#compdef aviso-config"),
        "{}",
        stdout(&out)
    );

    let out = aviso(home.path(), &["man"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH aviso"),
        "{page}"
    );
    assert!(page.contains("listen"), "{page}");
    let out = aviso(home.path(), &["man", "--program", "aviso-config"], &[]);
    assert!(stdout(&out).contains("aviso\\-config"), "{}", stdout(&out));

    // Every page the main page refers to, with --dir.
    let pages = home.path().join("man1");
    let out = aviso(home.path(), &["man", "--dir", pages.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let main_page = std::fs::read_to_string(pages.join("aviso.1")).unwrap();
    for sub in ["listen", "positions", "dead-letters"] {
        let roff = sub.replace('-', "\\-");
        assert!(
            main_page.contains(&format!("aviso\\-{roff}(1)")),
            "{main_page}"
        );
        let page = std::fs::read_to_string(pages.join(format!("aviso-{sub}.1"))).unwrap();
        assert!(
            page.contains(&format!("\\fBaviso {roff}\\fR")),
            "{sub}: {page}"
        );
    }
    assert!(pages.join("aviso-dead-letters-replay.1").exists());
    assert!(stdout(&out).lines().any(|l| l.ends_with("aviso-listen.1")));

    let out = aviso(home.path(), &["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(
            "Error: Invalid value for 'SHELL': 'tcsh' is not one of 'bash', 'elvish', 'fish', 'powershell', 'zsh'.\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_host_given_with_a_port_or_a_scheme_is_refused_with_what_to_write() {
    let home = tempfile::tempdir().unwrap();
    let out = aviso(
        home.path(),
        &["value", "-H", "localhost:23791", FLIGHT],
        &[],
    );
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        stderr(&out),
        "Invalid value 'localhost:23791' for setting notification_engine.host (from command-line option --host): expected a host name or address without a port (the port is notification_engine.port, or -P)\n"
    );
    let out = aviso(
        home.path(),
        &["value", "-H", "https://etcd.example", FLIGHT],
        &[],
    );
    assert!(
        stderr(&out).contains(
            "expected a host name or address without a scheme (set https: true for HTTPS)"
        ),
        "{}",
        stderr(&out)
    );
    // An IPv6 address is a host.
    let out = aviso(home.path(), &["key", "-H", "::1", FLIGHT], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn any_payload_can_be_sent_from_a_file_or_a_whole_notification_as_json() {
    let home = tempfile::tempdir().unwrap();
    // Commas, `=`, new lines and far more than a command line holds.
    let payload = format!(
        "url=https://example.org/?a=1,b=2\n{}",
        "0123456789abcdef".repeat(20_000)
    );
    let file = home.path().join("payload.txt");
    std::fs::write(&file, &payload).unwrap();
    let out = aviso(
        home.path(),
        &[
            "notify",
            "--test",
            FLIGHT,
            "--payload-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = aviso(home.path(), &["value", "--test", FLIGHT], &[]);
    assert_eq!(stdout(&out), format!("{payload}\n"));

    // Given twice, the payload is refused rather than one of them dropped.
    let twice = format!("{FLIGHT},payload=x");
    let out = aviso(
        home.path(),
        &[
            "notify",
            "--test",
            &twice,
            "--payload-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("the payload is given twice"),
        "{}",
        stderr(&out)
    );

    // A whole notification as JSON on standard input; numbers and a structured payload.
    let json = r#"{"event": "flight", "request": {"country": "Italy", "airport": "fco", "date": 20210101, "number": "AZ9"}, "payload": {"gate": "B12"}}"#;
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    let mut child = command
        .args(["notify", "--test", "--from-json", "-"])
        .env("HOME", home.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let nine = FLIGHT.replace("AZ203", "AZ9");
    let out = aviso(home.path(), &["value", "--test", &nine], &[]);
    assert_eq!(stdout(&out), "{\"gate\":\"B12\"}\n");
}

#[test]
fn positions_are_listed_with_what_came_after_them_and_can_be_moved() {
    let home = tempfile::tempdir().unwrap();
    let file = &italy_echo_listener(home.path());
    let notify = |number: &str, country: &str| notify_flight(home.path(), number, country);
    let positions = |extra: &[&str]| {
        let mut args = vec!["positions", "--test"];
        args.extend_from_slice(extra);
        args.push(file);
        let out = aviso(home.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        positions(&[]),
        "flight country=italy  /tmp/aviso/flight/  none yet (starts at the newest notification)\n"
    );
    notify("AZ1", "italy");
    notify("IB1", "spain");
    let moved = positions(&["--set", "now"]);
    assert!(moved.contains(", 0 notification(s) after it"), "{moved}");
    notify("AZ2", "italy");
    notify("IB2", "spain");
    // Only what this listener takes counts: not Spain, not the status records.
    let listed = positions(&[]);
    assert!(listed.contains(", 1 notification(s) after it"), "{listed}");
    let back = positions(&["--set", "2020-01-01"]);
    assert!(
        back.contains("revision 0,") && back.contains(", 2 notification(s) after it"),
        "{back}"
    );

    // The position file says what it is.
    let cursor = std::fs::read_dir(home.path().join(".aviso/cursors"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cursor).unwrap()).unwrap();
    assert_eq!(saved["revision"], 0);
    assert!(
        saved["listener"]
            .as_str()
            .unwrap()
            .contains("/tmp/aviso/flight/|flight|"),
        "{saved}"
    );
    assert!(
        saved["saved_at"].as_str().unwrap().ends_with('Z'),
        "{saved}"
    );

    let out = aviso(
        home.path(),
        &["positions", "--test", "--set", "2999-01-01", file],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the date must be in the past"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn key_value_and_notify_print_json_for_scripts() {
    let home = tempfile::tempdir().unwrap();
    let parse = |out: &Output| -> serde_json::Value {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
    };
    let key = "/tmp/aviso/flight/20210101/italy/FCO/AZ203";
    let keys = parse(&aviso(home.path(), &["key", "--json", FLIGHT], &[]));
    assert_eq!(keys["key"], key);
    assert_eq!(keys["base"], "/tmp/aviso/flight/");

    let missing = parse(&aviso(
        home.path(),
        &["value", "--test", "--json", FLIGHT],
        &[],
    ));
    assert_eq!(missing, serde_json::json!({"key": key, "value": null}));

    let landed = format!("{FLIGHT},payload=Landed");
    let written = parse(&aviso(
        home.path(),
        &["notify", "--test", "--json", &landed],
        &[],
    ));
    assert_eq!(written["key"], key);
    let value = parse(&aviso(
        home.path(),
        &["value", "--test", "--json", FLIGHT],
        &[],
    ));
    assert_eq!(value, serde_json::json!({"key": key, "value": "Landed"}));
}

#[test]
fn a_replay_cannot_also_start_now() {
    let home = tempfile::tempdir().unwrap();
    let file = &italy_echo_listener(home.path());
    let out = aviso(
        home.path(),
        &[
            "listen",
            "--test",
            "--now",
            "--from",
            "2021-01-01T00:00:00.0Z",
            file,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "--from replays from a date and --now starts at the newest notification: give one of them"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_listener_behind_says_when_it_has_caught_up_and_is_live() {
    let home = tempfile::tempdir().unwrap();
    let file = &italy_echo_listener(home.path());
    let out = aviso(
        home.path(),
        &["positions", "--test", "--set", "now", file],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for number in ["AZ1", "AZ2"] {
        notify_flight(home.path(), number, "italy");
    }
    let listen = |name: &str, ready: &str| {
        let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
        command
            .args(["listen", "--test", file])
            .env("HOME", home.path());
        common::listening::Listening::spawn(command, home.path().join(name), ready)
    };
    let mut behind = listen("behind.out", "now live");
    let log = behind.log();
    assert!(
        log.contains(
            "Catching up on /tmp/aviso/flight/: notifications were written up to revision"
        ),
        "{log}"
    );
    assert!(
        log.contains("Caught up on /tmp/aviso/flight/ (revision"),
        "{log}"
    );
    behind.stop();
    // Started again with nothing missed, it says nothing of the kind.
    let mut live = listen("live.out", "Listening to");
    assert!(!live.log().contains("Catching up"), "{}", live.log());
    live.stop();
}

/// `aviso` with `args` run on a terminal (a pseudo-terminal from `script`), everything it
/// wrote there.
fn aviso_on_a_terminal(home: &Path, args: &[&str]) -> String {
    let command_line = std::iter::once(env!("CARGO_BIN_EXE_aviso"))
        .chain(args.iter().copied())
        .map(|word| format!("'{word}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = common::clean_command(Path::new("script"))
        .args(["-qec", &command_line, "/dev/null"])
        .env("HOME", home)
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn a_replay_shows_its_progress_on_a_terminal_only() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("slow.yaml");
    std::fs::write(
        &file,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: command\n        command: sleep 0.2\n",
    )
    .unwrap();
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    for number in ["1", "2", "3"] {
        notify_flight(home.path(), number, "Italy");
    }
    let to = chrono::Utc::now() + chrono::Duration::milliseconds(1);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let window = [
        "listen",
        "--test",
        file.to_str().unwrap(),
        "--from",
        &from.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "--to",
        &to.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    ];
    let terminal = aviso_on_a_terminal(home.path(), &window);
    assert!(
        terminal.contains("Replaying /tmp/aviso/flight/ [")
            && terminal.contains("/3 notifications, "),
        "{terminal}"
    );
    assert!(terminal.contains(" left"), "{terminal}");
    // Redirected to a file or a pipe, there is no bar.
    let piped = aviso(home.path(), &window, &[]);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert_eq!(
        stderr(&piped)
            .matches("Notification /tmp/aviso/flight/")
            .count(),
        3
    );
    assert!(!stderr(&piped).contains(" left"), "{}", stderr(&piped));
}

#[test]
fn a_logging_configuration_gives_timestamps_levels_and_a_log_file() {
    let home = tempfile::tempdir().unwrap();
    let log_file = home.path().join("aviso.log");
    let config = home.path().join("logging.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1
formatters:
  stamped: {{format: '%(asctime)s - %(name)s - %(levelname)-7s - %(message)s'}}
  short: {{format: '%(levelname)s: %(message)s', datefmt: '%H:%M'}}
handlers:
  console: {{class: logging.StreamHandler, formatter: short, level: WARNING, stream: ext://sys.stderr}}
  file: {{class: logging.FileHandler, formatter: stamped, filename: '{}'}}
root: {{level: INFO, handlers: [console, file]}}
",
            log_file.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = aviso(
        home.path(),
        &[
            "notify",
            "--test",
            "-l",
            config,
            "event=flight,country=Italy,airport=fco,date=20210101,number=1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The console takes warnings and up, in its own format.
    assert_eq!(stderr(&out), "WARNING: TEST MODE\n");
    let logged = std::fs::read_to_string(&log_file).unwrap();
    let line =
        regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - aviso - WARNING - TEST MODE$")
            .unwrap();
    assert!(
        logged.lines().next().is_some_and(|l| line.is_match(l)),
        "{logged}"
    );
    // -d turns the root and the console to DEBUG, as pyaviso's does; the file keeps appending.
    let out = aviso(
        home.path(),
        &[
            "notify",
            "--test",
            "-d",
            "-l",
            config,
            "event=flight,country=Italy,airport=fco,date=20210101,number=2",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("\nDEBUG: "), "{}", stderr(&out));
    let logged = std::fs::read_to_string(&log_file).unwrap();
    assert_eq!(
        logged.matches(" - WARNING - TEST MODE").count(),
        2,
        "{logged}"
    );
    assert!(logged.contains(" - aviso - DEBUG   - "), "{logged}");

    // A level that does not exist is an error, not a silent default.
    std::fs::write(
        home.path().join("bad.yaml"),
        "version: 1\nroot: {level: VERBOSE}\n",
    )
    .unwrap();
    let bad = home.path().join("bad.yaml");
    let out = aviso(
        home.path(),
        &[
            "key",
            "-l",
            bad.to_str().unwrap(),
            "event=flight,country=Italy",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains(
            "root.level VERBOSE is not a level: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        ),
        "{}",
        stderr(&out)
    );
    // A misspelt handler class is an error; Python's handlers that mean nothing here are
    // skipped, with a warning that reaches the user.
    let handlers = home.path().join("handlers.yaml");
    for (class, rc, said) in [
        (
            "logging.FileHandlr",
            255,
            "handler file: class logging.FileHandlr is not a logging handler (did you mean logging.FileHandler?)",
        ),
        (
            "logging.handlers.SysLogHandler",
            0,
            "Logging handler file is ignored: class logging.handlers.SysLogHandler is not supported",
        ),
    ] {
        std::fs::write(
            &handlers,
            format!("version: 1\nhandlers:\n  file: {{class: {class}, filename: x.log}}\n"),
        )
        .unwrap();
        let out = aviso(
            home.path(),
            &[
                "key",
                "-l",
                handlers.to_str().unwrap(),
                "event=flight,country=Italy,airport=fco,date=20210101,number=1",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(rc), "{}", stderr(&out));
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
}

#[test]
fn debug_shows_the_effective_configuration_and_where_each_value_came_from() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("site.yaml");
    std::fs::write(&config, "notification_engine:\n  polling_interval: 7\n").unwrap();
    let out = aviso(
        home.path(),
        &[
            "key",
            "-d",
            "-H",
            "etcd1",
            "-c",
            config.to_str().unwrap(),
            "event=flight,country=Italy,airport=fco,date=20210101,number=1",
        ],
        &[("AVISO_NOTIFICATION_PORT", "2400")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = stderr(&out);
    for line in [
        format!("Configuration file {} read", config.display()),
        format!(
            "Configuration file {} not found, skipped",
            home.path().join(".aviso/config.yaml").display()
        ),
        "  notification_engine.host: etcd1  (command-line option --host)".to_string(),
        "  notification_engine.port: 2400  (environment variable AVISO_NOTIFICATION_PORT)"
            .to_string(),
        format!(
            "  notification_engine.polling_interval: 7 s  (configuration file {})",
            config.display()
        ),
        "  notification_engine.catchup: true  (the default)".to_string(),
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} not in\n{log}");
    }
    // Without -d, none of it.
    let out = aviso(
        home.path(),
        &[
            "key",
            "event=flight,country=Italy,airport=fco,date=20210101,number=1",
        ],
        &[],
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn check_reports_every_trigger_of_a_listener() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("two.yaml");
    std::fs::write(
        &file,
        "listeners:
  - event: flight
    request: {country: italy}
    triggers:
      - type: ehco
      - type: lgo
        path: x.log
",
    )
    .unwrap();
    let out = aviso(
        home.path(),
        &["listen", "--check", file.to_str().unwrap()],
        &[],
    );
    assert_ne!(out.status.code(), Some(0));
    let report = stdout(&out);
    assert!(
        report.contains("Trigger type ehco not recognised (did you mean 'echo'?)"),
        "{report}"
    );
    assert!(
        report.contains("Trigger type lgo not recognised (did you mean 'log'?)"),
        "{report}"
    );
    assert!(
        stderr(&out).contains("2 problem(s) found"),
        "{}",
        stderr(&out)
    );
}
