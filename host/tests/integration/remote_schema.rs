//! The ECMWF workflow of the user guide on a real etcd: the `dissemination`/`mars` schema and
//! the MARS language file are pushed with `aviso-config`; listeners and notifiers take the
//! schema from the configuration service (`remote_schema: true`) through the `ecmwf` schema
//! parser, next to pyaviso 1.0.1 doing the same on the same store. Then the configuration
//! server goes away and the local copy stands in.

use crate::common;

use crate::common::pyaviso;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::etcd::Etcd;
use crate::common::listening::Listening;

const MARS: &str = "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101";

fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aviso"))
}

fn ours_config() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aviso-config"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ecmwf")
}

/// A home whose `~/.aviso/config.yaml` points both engines at `etcd` and takes the schema of
/// `service` from it through `parser`.
struct Site {
    etcd: Etcd,
    home: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let site = Site {
            etcd: Etcd::start(),
            home: tempfile::tempdir().unwrap(),
        };
        site.configure("ecmwf/v1", "ecmwf");
        site
    }

    fn configure(&self, service: &str, parser: &str) {
        let port = self.etcd.port;
        let config = format!(
            "remote_schema: true\nschema_parser: {parser}\nnotification_engine:\n  host: 127.0.0.1\n  port: {port}\n  type: etcd_rest\n  service: {service}\n  polling_interval: 1\nconfiguration_engine:\n  host: 127.0.0.1\n  port: {port}\n  type: etcd_rest\n"
        );
        let folder = self.home.path().join(".aviso");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("config.yaml"), config).unwrap();
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = common::clean_command(program);
        command
            .env("HOME", self.home.path())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(self.home.path())
            .args(args);
        command
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        self.command(program, args).output().unwrap()
    }

    /// Pushes the files of `fixtures/ecmwf` named in `files` as `service`.
    fn push(&self, service: &str, files: &[&str]) {
        let dir = self
            .home
            .path()
            .join(format!("push-{}", service.replace('/', "-")));
        std::fs::create_dir_all(&dir).unwrap();
        for file in files {
            std::fs::copy(fixtures().join(file), dir.join(file)).unwrap();
        }
        let out = self.run(
            &ours_config(),
            &[
                "push",
                service,
                "-D",
                dir.to_str().unwrap(),
                "-m",
                "ECMWF schema",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// (exit status, stdout, stderr).
fn outcome(out: &Output) -> (Option<i32>, String, String) {
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn listeners_validate_with_the_pushed_mars_language_and_receive_matching_notifications() {
    let site = Site::new();
    site.push("ecmwf/v1", &["event_listener_schema.json", "language.json"]);

    // Enum values come from language.json: aliases are valid, unknown values are refused.
    let (status, key, _) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(0));
    assert_eq!(
        key,
        "/ec/mars/date=20210101,class=od,expver=0001,domain=g,time=00,stream=enfo,step=1\n"
    );
    let alias = MARS.replace("class=od", "class=operational");
    assert_eq!(outcome(&site.run(&ours(), &["key", &alias])).0, Some(0));
    for (key, right, wrong) in [
        ("class", "class=od", "class=zz"),
        ("stream", "stream=enfo", "stream=xxxx"),
        ("domain", "domain=g", "domain=q"),
    ] {
        let request = MARS.replace(right, wrong);
        let (status, _, error) = outcome(&site.run(&ours(), &["key", &request]));
        assert_eq!(status, Some(255), "{request} was accepted");
        assert!(error.contains(key), "{request}: {error}");
    }

    // pyaviso, with the same configuration, agrees on every answer.
    let theirs = pyaviso();
    if let Some(python) = &theirs {
        for request in [
            MARS.to_string(),
            alias.clone(),
            MARS.replace("class=od", "class=zz"),
            MARS.replace("stream=enfo", "stream=wave"),
            MARS.replace("domain=g", "domain=q"),
            "event=dissemination,destination=foo,target=E1,class=rd,expver=1,domain=m,time=12,stream=oper,step=6,date=20210101".to_string(),
        ] {
            let (their_status, their_key, their_error) =
                outcome(&site.run(python, &["key", &request]));
            let (our_status, our_key, our_error) = outcome(&site.run(&ours(), &["key", &request]));
            assert_eq!(
                (our_status, &our_key),
                (their_status, &their_key),
                "{request}: pyaviso said {their_error}; we said {our_error}"
            );
        }
    }

    // A listener for od/enfo receives what we and pyaviso notify, and nothing else.
    let listener = site.home.path().join("mars.yaml");
    std::fs::write(
        &listener,
        "listeners:\n  - event: mars\n    request:\n      class: od\n      stream: enfo\n    triggers:\n      - type: echo\n",
    )
    .unwrap();
    let mut command = site.command(&ours(), &["listen", listener.to_str().unwrap()]);
    command.env("AVISO_AUTOMATIC_RETRY_DELAY", "1");
    let listening = Listening::spawn(command, site.home.path().join("listen.out"), "Listening to");

    let notify = |program: &Path, request: &str| {
        let out = site.run(program, &["notify", request]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{request}: {}",
            text(&out.stderr)
        );
    };
    notify(
        &ours(),
        &MARS.replace("stream=enfo", "stream=wave,location=s3://wave"),
    );
    notify(&ours(), &format!("{MARS},location=s3://from-aviso"));
    listening.wait_for_output("s3://from-aviso");
    // The schema parser and the echo trigger ran on one engine: one epoch ticker in the process.
    let tickers = std::fs::read_dir(format!("/proc/{}/task", listening.child.id()))
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .unwrap_or_default()
                .trim()
                == "aviso-epoch"
        })
        .count();
    assert_eq!(tickers, 1, "one plugin engine per process");
    if let Some(python) = &theirs {
        notify(
            python,
            &format!(
                "{},location=s3://from-pyaviso",
                MARS.replace("step=1", "step=2")
            ),
        );
        listening.wait_for_output("s3://from-pyaviso");
    }
    let received = listening.wait_for_output("s3://from-aviso");
    assert!(!received.contains("s3://wave"), "{received}");
    assert!(received.contains("\"class\": \"od\""), "{received}");

    // Notifying a value the language does not know is refused, naming the key.
    let (status, _, error) =
        outcome(&site.run(&ours(), &["notify", &MARS.replace("class=od", "class=zz")]));
    assert_eq!(status, Some(255));
    assert!(error.contains("class"), "{error}");
}

#[test]
fn the_local_copy_stands_in_while_the_configuration_server_is_down() {
    let mut site = Site::new();
    site.push("ecmwf/v1", &["event_listener_schema.json", "language.json"]);
    let (status, key, _) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(0));

    site.etcd.kill();
    let (status, key_offline, log) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(0), "{log}");
    assert_eq!(key_offline, key);
    assert!(
        log.contains("Cannot reach the configuration server")
            && log.contains("using the local copy of service ecmwf/v1"),
        "{log}"
    );
    // The copy holds the enum values too: unknown ones are still refused.
    let (status, _, error) =
        outcome(&site.run(&ours(), &["key", &MARS.replace("class=od", "class=zz")]));
    assert_eq!(status, Some(255), "{error}");
}

#[test]
fn parser_errors_name_the_parser_and_what_is_missing() {
    let site = Site::new();
    // No language file beside the schema.
    site.push("ecmwf/v2", &["event_listener_schema.json"]);
    site.configure("ecmwf/v2", "ecmwf");
    let (status, _, error) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(255));
    assert!(
        error.contains("Schema parser ecmwf failed")
            && error.contains("No MARS language schema file found"),
        "{error}"
    );

    // A service with nothing in it.
    site.configure("nothing/v1", "generic");
    let (status, _, error) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(255));
    assert!(
        error.contains("No remote event listener schema file found"),
        "{error}"
    );

    // A user's parser component, given by path: here the ecmwf parser itself, from its file.
    site.push("ecmwf/v1", &["event_listener_schema.json", "language.json"]);
    let parser = format!(
        "{}/aviso_plugin_ecmwf_schema.wasm",
        env!("AVISO_WASM_PLUGINS_DIR")
    );
    site.configure("ecmwf/v1", &parser);
    let (status, key, error) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(0), "{error}");
    assert!(key.starts_with("/ec/mars/"), "{key}");

    // A trigger plugin is not a schema parser; a missing file is named.
    let echo = format!("{}/aviso_plugin_echo.wasm", env!("AVISO_WASM_PLUGINS_DIR"));
    site.configure("ecmwf/v1", &echo);
    let (status, _, error) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(255));
    assert!(error.contains("is not an Aviso schema parser"), "{error}");
    site.configure("ecmwf/v1", "/nowhere/parser.wasm");
    let (status, _, error) = outcome(&site.run(&ours(), &["key", MARS]));
    assert_eq!(status, Some(255));
    assert!(
        error.contains("Cannot read the schema parser /nowhere/parser.wasm"),
        "{error}"
    );
}

/// Runs `aviso key --test event=flight,number=1` with a local schema `{"probe": probe}` (and a
/// `language.json` beside it) parsed by the probing test parser.
fn probe(probe: &str) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join(".aviso/service_configuration");
    std::fs::create_dir_all(folder.join("mars")).unwrap();
    std::fs::write(
        folder.join("event_listener_schema.json"),
        format!("{{\"probe\": \"{probe}\"}}"),
    )
    .unwrap();
    std::fs::write(folder.join("mars/language.json"), "{}").unwrap();
    let parser = format!(
        "{}/aviso_plugin_probing_parser.wasm",
        env!("AVISO_WASM_PLUGINS_DIR")
    );
    let mut command = common::clean_command(&ours());
    let out = command
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("AVISO_SCHEMA_PARSER", parser)
        .args(["key", "--test", "event=flight,number=1"])
        .output()
        .unwrap();
    outcome(&out)
}

#[test]
fn a_local_schema_goes_through_the_parser_with_the_files_beside_it() {
    let (status, key, error) = probe("files-list");
    assert_eq!(status, Some(0), "{error}");
    assert_eq!(
        key,
        "/tmp/aviso/event_listener_schema.json+mars/language.json/1\n"
    );
}

#[test]
fn a_parser_gets_no_files_no_environment_and_bounded_memory() {
    let (status, _, error) = probe("files");
    assert_eq!(status, Some(255));
    assert!(
        error.contains("read /etc/passwd: refused; list /: refused"),
        "{error}"
    );
    let (status, _, error) = probe("env");
    assert_eq!(status, Some(255));
    assert!(error.contains("environment variables seen: 0"), "{error}");
    let (status, _, error) = probe("memory");
    assert_eq!(status, Some(255));
    assert!(
        error.contains("Schema parser") && error.contains("memory limit of 256 MiB exceeded"),
        "{error}"
    );
}
