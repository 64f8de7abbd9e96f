//! Every example listener file of the repository runs as shipped, as its header and
//! `examples/listeners/README.md` say: from the repository root, on the embedded store
//! (`--test`), in a home of its own. Each passes `aviso listen --test --check`; each that needs
//! no outside service is started, sent a notification with `aviso notify --test`, and shows what
//! a user would see (the echo trigger's output, the script's output, the log file, the plugin's
//! board). An example file missing from the table below fails the test: say how to run it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common;
use crate::common::listening::Listening;

/// The flight notification of the README.
const FLIGHT: &str =
    "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=Landed";

/// What an example needs before it runs, as its header says.
#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    /// ECMWF's schema in the home, for the `mars` event.
    MarsSchema,
    /// AWS credentials in the environment (dummy ones: it is only checked).
    AwsCredentials,
    /// The Rust example plugin built and copied beside its listener.
    RustPlugin,
}

/// How the file is given to `aviso listen`.
#[derive(Clone, Copy, PartialEq)]
enum Given {
    ListenerFile,
    /// A configuration file whose `listeners:` are used (`-c`).
    Config,
}

enum Run {
    /// Only checked: it needs an outside service (an HTTP endpoint, AWS).
    CheckOnly,
    /// Started and sent `notify`; then stdout and stderr hold these texts, and each file
    /// (from the repository root, or absolute) has had these texts appended.
    Notify {
        notify: &'static str,
        stdout: &'static [&'static str],
        stderr: &'static [&'static str],
        files: &'static [(&'static str, &'static str)],
    },
}

struct Example {
    /// The file, from the repository root.
    file: &'static str,
    given: Given,
    needs: Needs,
    run: Run,
}

const LOG: &str = "examples/listeners/log/testLog.log";
const LOGGED: &str = "- aviso - INFO - Notification received: {'event': 'flight', 'request': {'date': '20210101', 'country': 'italy', 'airport': 'FCO', 'number': 'AZ203'}, 'payload': 'Landed'}";
const ECHOED: &str = "\"number\": \"AZ203\"";
/// The flight notification as JSON (pyaviso's `json.dumps`).
macro_rules! json {
    () => {
        r#"{"event": "flight", "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": "AZ203"}, "payload": "Landed"}"#
    };
}
const PLUGIN: &str = "examples/plugin-rust/flight_board.wasm";

fn examples() -> Vec<Example> {
    let plain = |file, notify, stdout, stderr, files| Example {
        file,
        given: Given::ListenerFile,
        needs: Needs::Nothing,
        run: Run::Notify {
            notify,
            stdout,
            stderr,
            files,
        },
    };
    let checked = |file, needs| Example {
        file,
        given: Given::ListenerFile,
        needs,
        run: Run::CheckOnly,
    };
    vec![
        plain(
            "examples/listeners/echo.yaml",
            FLIGHT,
            &[ECHOED, "\"payload\": \"Landed\""],
            &[],
            &[],
        ),
        plain(
            "examples/listeners/all_keys.yaml",
            FLIGHT,
            &[ECHOED],
            &[],
            &[],
        ),
        plain(
            "examples/listeners/log.yaml",
            FLIGHT,
            &[],
            &[],
            &[(LOG, LOGGED)],
        ),
        plain(
            "examples/listeners/command.yaml",
            FLIGHT,
            &[],
            &["my_script.sh --date 20210101 --number AZ203", "AIRPORT=FCO"],
            &[],
        ),
        plain(
            "examples/listeners/command_json.yaml",
            FLIGHT,
            &[],
            &[concat!("my_script.sh --json ", json!())],
            &[],
        ),
        plain(
            "examples/listeners/command_jsonpath.yaml",
            FLIGHT,
            &[],
            &[
                "my_script.sh --jsonpath /",
                "/notification.json holds:",
                json!(),
            ],
            &[],
        ),
        plain(
            "examples/listeners/multiple_listeners.yaml",
            FLIGHT,
            &[],
            &["my_script.sh --listener ita"],
            &[],
        ),
        plain(
            "examples/listeners/multiple_triggers.yaml",
            FLIGHT,
            &[ECHOED],
            &["my_script.sh --date 20210101 --number AZ203"],
            &[(LOG, LOGGED)],
        ),
        Example {
            file: "examples/listeners/mars_command.yaml",
            given: Given::ListenerFile,
            needs: Needs::MarsSchema,
            run: Run::Notify {
                notify: "event=mars,class=od,expver=1,domain=g,date=20210101,time=0,stream=enfo,step=1",
                stdout: &[],
                stderr: &["mars_script.sh --stream enfo --date 20210101 --time 00 --step 1"],
                files: &[],
            },
        },
        checked("examples/listeners/post_http.yaml", Needs::Nothing),
        checked("examples/listeners/post_http_headers.yaml", Needs::Nothing),
        checked("examples/listeners/post_aws.yaml", Needs::AwsCredentials),
        checked(
            "examples/listeners/post_aws_fifo.yaml",
            Needs::AwsCredentials,
        ),
        Example {
            file: "examples/config.yaml",
            given: Given::Config,
            needs: Needs::Nothing,
            run: Run::Notify {
                notify: FLIGHT,
                stdout: &[ECHOED],
                stderr: &[],
                files: &[],
            },
        },
        Example {
            file: "examples/plugin-rust/listener.yaml",
            given: Given::ListenerFile,
            needs: Needs::RustPlugin,
            run: Run::Notify {
                notify: FLIGHT,
                stdout: &[],
                stderr: &[],
                files: &[("/tmp/flight_board.txt", "20210101 FCO AZ203 Landed\n")],
            },
        },
    ]
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The YAML files under `examples/`, from the repository root, without build output and
/// downloaded packages.
fn example_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            // examples/serve is a trigger service's folder, run by serve.rs; examples/server
            // the servers' example, run by the servers' tests (server/tests/servers/demo.rs).
            if !name.starts_with('.')
                && !["node_modules", "target", "__pycache__"].contains(&&*name)
                && path != repository().join("examples/serve")
                && path != repository().join("examples/server")
            {
                example_files(&path, found);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            let relative = path.strip_prefix(repository()).unwrap();
            found.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_example_file_is_in_the_table() {
    let mut found = Vec::new();
    example_files(&repository().join("examples"), &mut found);
    let table: Vec<&str> = examples().iter().map(|e| e.file).collect();
    let missing: Vec<&String> = found
        .iter()
        .filter(|f| !table.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "example files not in the table of host/tests/integration/examples.rs (add how to run each and what it shows): {missing:?}"
    );
    let gone: Vec<&&str> = table
        .iter()
        .filter(|f| !found.iter().any(|g| g == *f))
        .collect();
    assert!(
        gone.is_empty(),
        "in the table but not in examples/: {gone:?}"
    );
}

/// A file an example writes (in the repository or in /tmp), put back as it was when dropped.
struct Restore {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

impl Restore {
    fn new(path: PathBuf) -> Restore {
        let before = std::fs::read(&path).ok();
        Restore { path, before }
    }

    /// What was appended since.
    fn added(&self) -> String {
        let now = std::fs::read(&self.path).unwrap_or_default();
        let before = self.before.as_deref().unwrap_or_default();
        let start = if now.starts_with(before) {
            before.len()
        } else {
            0
        };
        String::from_utf8_lossy(&now[start..]).into_owned()
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        match &self.before {
            Some(bytes) => std::fs::write(&self.path, bytes).unwrap(),
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// `aviso` with `args`, from the repository root, in `home`, with what `example` needs.
fn aviso(example: &Example, home: &Path, args: &[&str]) -> Command {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    command
        .current_dir(repository())
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .args(args);
    if example.needs == Needs::AwsCredentials {
        command
            .env("AWS_ACCESS_KEY_ID", "dummy")
            .env("AWS_SECRET_ACCESS_KEY", "dummy");
    }
    command
}

/// The arguments of `aviso listen` for the example, before or after `extra`.
fn listen_args<'a>(example: &'a Example, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["listen", "--test"];
    args.extend_from_slice(extra);
    match example.given {
        Given::ListenerFile => args.push(example.file),
        Given::Config => args.extend(["-c", example.file]),
    }
    args
}

/// Prepares what the example's header asks for; the guards undo it when dropped.
fn prepare(example: &Example, home: &Path) -> Vec<Restore> {
    match example.needs {
        Needs::Nothing | Needs::AwsCredentials => Vec::new(),
        Needs::MarsSchema => {
            let folder = home.join(".aviso/service_configuration");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::copy(
                repository().join("tests/fixtures/ecmwf/expanded_event_listener_schema.json"),
                folder.join("event_listener_schema.json"),
            )
            .unwrap();
            Vec::new()
        }
        Needs::RustPlugin => {
            // The plugin as its README builds it: the test build has it (dev-guests).
            let guard = Restore::new(repository().join(PLUGIN));
            std::fs::copy(
                aviso_dev_guests::component("flight_board"),
                repository().join(PLUGIN),
            )
            .unwrap();
            vec![guard]
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(example: &Example, home: &Path) {
    let out = aviso(example, home, &listen_args(example, &["--check"]))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "aviso listen --test --check {}: {}{}",
        example.file,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("OK: "),
        "{}: {}",
        example.file,
        text(&out.stdout)
    );
}

fn run(example: &Example, home: &Path) {
    let Run::Notify {
        notify,
        stdout,
        stderr,
        files,
    } = &example.run
    else {
        return;
    };
    let written: Vec<(Restore, &str)> = files
        .iter()
        .map(|(path, text)| (Restore::new(repository().join(path)), *text))
        .collect();
    let mut listening = Listening::spawn(
        aviso(example, home, &listen_args(example, &[])),
        home.join("listen.out"),
        "Listening to",
    );
    let out = aviso(example, home, &["notify", "--test", notify])
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "Done\n".to_string()),
        "{}: aviso notify --test {notify}: {}",
        example.file,
        text(&out.stderr)
    );
    let limit = Duration::from_secs(60);
    common::wait_until(
        limit,
        || listening.log().contains(" trigger(s) run, "),
        || {
            format!(
                "{}: no notification handled: {}",
                example.file,
                listening.log()
            )
        },
    );
    assert!(
        listening.log().contains(" trigger(s) run, all succeeded"),
        "{}: {}",
        example.file,
        listening.log()
    );
    let output = || std::fs::read_to_string(home.join("listen.out")).unwrap_or_default();
    for expected in *stdout {
        common::wait_until(
            limit,
            || output().contains(expected),
            || format!("{}: {expected:?} not on stdout: {}", example.file, output()),
        );
    }
    for expected in *stderr {
        common::wait_until(
            limit,
            || listening.log().contains(expected),
            || {
                format!(
                    "{}: {expected:?} not on stderr: {}",
                    example.file,
                    listening.log()
                )
            },
        );
    }
    for (file, expected) in &written {
        common::wait_until(
            limit,
            || file.added().contains(expected),
            || {
                format!(
                    "{}: {expected:?} not written to {}: {:?}; stderr: {}",
                    example.file,
                    file.path.display(),
                    file.added(),
                    listening.log()
                )
            },
        );
    }
    assert_eq!(
        listening.stop(),
        Some(0),
        "{}: {}",
        example.file,
        listening.log()
    );
}

#[test]
fn every_example_is_checked_and_runs_as_its_readme_says() {
    // The log examples write into this folder: it is shipped (only its .gitignore) and ignores
    // what they write.
    let ignore = std::fs::read_to_string(repository().join("examples/listeners/log/.gitignore"))
        .expect("examples/listeners/log/.gitignore is shipped");
    assert!(ignore.lines().any(|line| line == "*"), "{ignore}");
    for example in examples() {
        let home = tempfile::tempdir().unwrap();
        let _prepared = prepare(&example, home.path());
        check(&example, home.path());
        run(&example, home.path());
    }
}
