//! `aviso notify`, `value` and `listen` on the embedded store (`--test`), as separate processes
//! the way a user runs them: delivery, the status record, TTL, catch-up after a restart,
//! `--now`, bad keys and values in the store, and stopping with SIGTERM.

use crate::common::{self, wait_until};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use aviso::store::FileStore;

const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203";

fn aviso(home: &Path) -> Command {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    command.env("HOME", home);
    command
}

fn run(home: &Path, args: &[&str]) -> Output {
    aviso(home).args(args).output().expect("aviso runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `aviso listen`, stopped with SIGTERM when dropped.
struct Listener {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Listener {
    fn start(home: &Path, args: &[&str]) -> Listener {
        let mut command = aviso(home);
        command.arg("listen").args(args);
        Listener::spawn(home, command)
    }

    /// Runs `command` (an `aviso listen`, possibly wrapped) until it is listening.
    fn spawn(home: &Path, mut command: Command) -> Listener {
        let stdout = home.join(format!(
            "listen-{}.out",
            std::process::id() as u64 + rand_suffix()
        ));
        let stderr = stdout.with_extension("err");
        let child = command
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        let listener = Listener {
            child,
            stdout,
            stderr,
        };
        listener.wait_for_log("Listening to");
        listener
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits (at most a minute) until the log contains `text` `times` times.
    fn wait_for_log_count(&self, text: &str, times: usize) {
        wait_until(
            Duration::from_secs(60),
            || self.log().matches(text).count() >= times,
            || format!("waited for {text:?} x{times}; log:\n{}", self.log()),
        );
    }

    fn wait_for_log(&self, text: &str) {
        self.wait_for_log_count(text, 1);
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        status.code()
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

fn echo_listener(home: &Path) -> String {
    let path = home.join("echo.yaml");
    std::fs::write(&path, "listeners:\n  - event: flight\n    request:\n      country: italy\n    triggers:\n      - type: echo\n").unwrap();
    path.display().to_string()
}

#[test]
fn notify_and_value_write_and_read_the_store() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=Landed")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "Done\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("TEST MODE"));
    assert_eq!(
        stdout(&run(home.path(), &["value", "--test", FLIGHT])),
        "Landed\n"
    );
    let other = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ999";
    assert_eq!(
        stdout(&run(home.path(), &["value", "--test", other])),
        "None\n"
    );
    run(home.path(), &["notify", "--test", other]);
    assert_eq!(
        stdout(&run(home.path(), &["value", "--test", other])),
        "None\n"
    );

    // The status record at the base key, in pyaviso's layout, linked to the previous one.
    let store = FileStore::open(&home.path().join(".aviso/file_based/store.sqlite")).unwrap();
    let status = store.get("/tmp/aviso/flight/").unwrap().unwrap();
    let text = String::from_utf8(status.value).unwrap();
    assert!(text.starts_with(r#"{"etcd_user": null, "message": "notification to key /tmp/aviso/flight/20210101/italy/FCO/AZ999", "unix_user": ""#), "{text}");
    assert!(
        text.contains(r#""aviso_version": "1.0.1", "engine": "FILE_BASED", "hostname": ""#),
        "{text}"
    );
    assert!(text.ends_with(r#""prev_rev": 1}"#), "{text}");
}

#[test]
fn notifications_with_a_ttl_expire() {
    let home = tempfile::tempdir().unwrap();
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=Soon,ttl=1")],
    );
    assert_eq!(
        stdout(&run(home.path(), &["value", "--test", FLIGHT])),
        "Soon\n"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        stdout(&run(home.path(), &["value", "--test", FLIGHT])),
        "None\n"
    );
}

#[test]
fn listen_delivers_and_stops_cleanly_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let listener = Listener::start(home.path(), &["--test", &echo_listener(home.path())]);
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=Landed")],
    );
    // Germany is not in the request: not delivered.
    run(
        home.path(),
        &[
            "notify",
            "--test",
            "event=flight,country=Germany,airport=muc,date=20210101,number=LH1",
        ],
    );
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=Departed")],
    );
    listener.wait_for_log_count("all succeeded", 2);
    let output = listener.output();
    assert!(output.contains("\"payload\": \"Landed\""), "{output}");
    assert!(output.contains("\"payload\": \"Departed\""), "{output}");
    assert!(
        output.find("Landed") < output.find("Departed"),
        "revision order: {output}"
    );
    assert!(!output.contains("LH1"), "{output}");
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn a_restarted_listener_catches_up_unless_told_now() {
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    let listener = Listener::start(home.path(), &["--test", &file]);
    assert_eq!(listener.stop(), Some(0));
    for payload in ["one", "two"] {
        run(
            home.path(),
            &["notify", "--test", &format!("{FLIGHT},payload={payload}")],
        );
    }
    let listener = Listener::start(home.path(), &["--test", &file]);
    listener.wait_for_log_count("all succeeded", 2);
    assert!(
        listener
            .log()
            .contains("Starting from last notification received")
    );
    let output = listener.output();
    assert!(
        output.contains("\"payload\": \"one\"") && output.contains("\"payload\": \"two\""),
        "{output}"
    );
    assert_eq!(listener.stop(), Some(0));

    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=missed")],
    );
    let listener = Listener::start(home.path(), &["--test", "--now", &file]);
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=fresh")],
    );
    listener.wait_for_log("all succeeded");
    let output = listener.output();
    assert!(
        output.contains("fresh") && !output.contains("missed"),
        "{output}"
    );
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn bad_keys_and_values_in_the_store_never_stop_a_listener() {
    let home = tempfile::tempdir().unwrap();
    let listener = Listener::start(home.path(), &["--test", &echo_listener(home.path())]);
    let store = FileStore::open(&home.path().join(".aviso/file_based/store.sqlite")).unwrap();
    store
        .put_all(
            &[(
                "/tmp/aviso/flight/not/a/flight/key/at/all/x".into(),
                b"x".to_vec(),
            )],
            None,
        )
        .unwrap();
    store
        .put_all(
            &[(
                "/tmp/aviso/flight/20210101/italy/FCO/AZ1".into(),
                vec![0xff, 0xfe],
            )],
            None,
        )
        .unwrap();
    store
        .put_all(
            &[(
                "/tmp/aviso/flight/20210101/italy/FCO/AZ2".into(),
                Vec::new(),
            )],
            None,
        )
        .unwrap();
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=after")],
    );
    listener.wait_for_log("revision 4");
    let log = listener.log();
    assert!(log.contains("is not UTF-8 text; skipped"), "{log}");
    let output = listener.output();
    assert!(
        output.contains("\"number\": \"AZ2\"") && output.contains("\"payload\": \"\""),
        "empty payload delivered: {output}"
    );
    assert!(output.contains("\"payload\": \"after\""), "{output}");
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn listen_refuses_bad_listeners_and_unsupported_options_before_starting() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "listeners:\n  - event: flight\n    request: {country: italy}\n",
    )
    .unwrap();
    let out = run(home.path(), &["listen", "--test", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'triggers' is a mandatory field"));

    let file = echo_listener(home.path());
    for (args, message) in [
        (
            vec!["--now", "--catchup"],
            "Only now or catchup can be specified at the same time",
        ),
        (
            vec!["--to", "2020-01-20T00:00:00.0Z"],
            "--to needs --from: a replay runs from one date to another",
        ),
        (
            vec!["--from", "2999-01-20T00:00:00Z"],
            "--from must be in the past",
        ),
        (
            vec![
                "--from",
                "2020-01-21T00:00:00.0Z",
                "--to",
                "2020-01-20T00:00:00.0Z",
            ],
            "--to must be later than --from",
        ),
    ] {
        let mut all = vec!["listen", "--test"];
        all.extend(args);
        all.push(&file);
        let out = run(home.path(), &all);
        assert_eq!(out.status.code(), Some(255), "{all:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(
        home.path(),
        &["listen", "--test", "--from", "20 January 2020", &file],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid value for '--from'"));

    // Without --test the engine is etcd_rest; where nothing listens, that is said plainly.
    let out = aviso(home.path())
        .args(["notify", "-P", "9", FLIGHT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let mut text = String::new();
    out.stderr.as_slice().read_to_string(&mut text).unwrap();
    assert!(
        text.contains("Unable to connect to http://localhost:9/v3/"),
        "{text}"
    );
}

#[test]
fn replay_from_to_on_the_embedded_store() {
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    let now = || {
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    };
    let pause = || std::thread::sleep(Duration::from_millis(200));
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=before")],
    );
    pause();
    let from = now();
    pause();
    // Two writes of one key: the embedded store keeps both.
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=inside1")],
    );
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=inside2")],
    );
    pause();
    let to = now();
    pause();
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=after")],
    );
    let out = run(
        home.path(),
        &["listen", "--test", &file, "--from", &from, "--to", &to],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("inside1") && text.contains("inside2"),
        "{text}"
    );
    assert!(
        !text.contains("before") && !text.contains("after"),
        "{text}"
    );
    // It says it replays, not that it listens.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Replaying /tmp/aviso/flight/ at the embedded store "),
        "{log}"
    );
    assert!(
        log.contains(" UTC to ") && log.contains("Replay completed"),
        "{log}"
    );
    assert!(!log.contains("Listening to"), "{log}");

    // An empty window says so and ends successfully; dates may be written without the
    // fraction, or as a day.
    let out = run(
        home.path(),
        &[
            "listen",
            "--test",
            &file,
            "--from",
            "2001-01-01",
            "--to",
            "2001-01-02T00:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = |text: &str| {
        stderr
            .find(text)
            .unwrap_or_else(|| panic!("no {text:?} in {stderr}"))
    };
    // Announced first, then found empty.
    assert!(
        said("Replaying ") < said("No history available in the time period selected"),
        "{stderr}"
    );
}

/// The flight notification for flight `number`.
fn flight(number: &str) -> String {
    format!("event=flight,country=Italy,airport=fco,date=20210101,number={number}")
}

#[test]
fn hostile_neighbours_do_not_stop_a_normal_listeners_notifications() {
    let home = tempfile::tempdir().unwrap();
    let evil = common::test_plugin("evil");
    let neighbour = |attack: &str| {
        format!(
            "  - event: flight\n    request: {{number: NB}}\n    triggers:\n      - type: plugin\n        path: {evil}\n        config: {{attack: {attack}}}\n        allow: {{http: []}}\n        limits: {{timeout: 10, memory: 64}}\n"
        )
    };
    let mut file = String::from(
        "listeners:\n  - event: flight\n    request: {number: AZ1}\n    triggers:\n      - type: echo\n",
    );
    for attack in [
        "loop",
        "loop",
        "loop",
        "memory",
        "log-flood",
        "flood",
        "trap",
    ] {
        file.push_str(&neighbour(attack));
    }
    // Neighbours that hold sandboxes with slow commands.
    for _ in 0..3 {
        file.push_str("  - event: flight\n    request: {number: NB}\n    triggers: [{type: command, command: 'sleep 10'}]\n");
    }
    let listeners = home.path().join("neighbours.yaml");
    std::fs::write(&listeners, file).unwrap();
    let listener = Listener::start(home.path(), &["--test", listeners.to_str().unwrap()]);
    let notify = |number: &str| {
        let out = run(home.path(), &["notify", "--test", &flight(number)]);
        assert_eq!(out.status.code(), Some(0));
    };
    notify("NB");
    for _ in 0..5 {
        notify("AZ1");
    }
    // Every one of the normal listener's notifications arrives, whatever its neighbours do.
    let arrived = || listener.output().matches("\"number\": \"AZ1\"").count();
    wait_until(
        Duration::from_secs(120),
        || arrived() >= 5,
        || {
            format!(
                "normal listener got {} of 5; log:\n{}",
                arrived(),
                listener.log()
            )
        },
    );
    listener.wait_for_log("stopped after the time limit of 10s");
    listener.wait_for_log("memory limit of 64 MiB exceeded");
    listener.wait_for_log("evil plugin panics on purpose");
    listener.wait_for_log("log limit of this call reached");
    let log_size = listener.log().len();
    assert!(
        log_size < 4 << 20,
        "the log flood was cut: {log_size} bytes logged"
    );
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn without_address_space_for_the_pool_plugins_still_run() {
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    // 4 GB of address space: far less than the instance pool reserves.
    let mut limited = Command::new("bash");
    limited
        .arg("-c")
        .arg("ulimit -v 4000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_aviso"))
        .args(["listen", "--test", &file])
        .env("HOME", home.path());
    let listener = Listener::spawn(home.path(), limited);
    assert!(
        listener
            .log()
            .contains("allocating plugin memory on demand instead"),
        "{}",
        listener.log()
    );
    let out = run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=Landed")],
    );
    assert_eq!(out.status.code(), Some(0));
    wait_until(
        Duration::from_secs(60),
        || listener.output().contains("\"payload\": \"Landed\""),
        || listener.log(),
    );
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn a_corrupt_cursor_stops_the_listener_with_what_to_do_instead_of_skipping() {
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    let listener = Listener::start(home.path(), &["--test", &file]);
    assert_eq!(listener.stop(), Some(0));
    run(
        home.path(),
        &["notify", "--test", &format!("{FLIGHT},payload=while-away")],
    );
    let cursors: Vec<PathBuf> = std::fs::read_dir(home.path().join(".aviso/cursors"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(cursors.len(), 1, "{cursors:?}");
    // A disk that filled up, an editor, a bad copy: the position is unreadable.
    std::fs::write(&cursors[0], "{\"revis").unwrap();
    let out = run(home.path(), &["listen", "--test", &file]);
    assert_eq!(out.status.code(), Some(255));
    let message = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        message.contains(&format!(
            "The listener position {} cannot be used: it is not a position written by aviso",
            cursors[0].display()
        )) && message.contains("remove it (or listen with --now)"),
        "{message}"
    );
    assert!(!stdout(&out).contains("while-away"), "nothing delivered");
    // Removing it starts from now, as the message says.
    std::fs::remove_file(&cursors[0]).unwrap();
    let listener = Listener::start(home.path(), &["--test", &file]);
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn commands_started_at_once_on_a_fresh_store_all_succeed() {
    // Before: "database is locked" in about 2 of 10 such starts (notify, notify, value), and
    // the notification was lost. The race itself is reproduced reliably in-process by
    // store::file_based::tests::a_fresh_store_opened_by_many_at_once_works_for_all.
    for round in 0..10 {
        let home = tempfile::tempdir().unwrap();
        let notification = |i: usize| format!("{},payload=p{i}", flight(&format!("N{i}")));
        let mut commands: Vec<Vec<String>> = (0..3)
            .map(|i| vec!["notify".into(), "--test".into(), notification(i)])
            .collect();
        commands.push(vec!["value".into(), "--test".into(), flight("N0")]);
        commands.push(vec!["value".into(), "--test".into(), flight("N1")]);
        let children: Vec<Child> = commands
            .iter()
            .map(|args| {
                aviso(home.path())
                    .args(args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for i in 0..3 {
            let out = run(home.path(), &["value", "--test", &flight(&format!("N{i}"))]);
            assert_eq!(stdout(&out), format!("p{i}\n"), "round {round}");
        }
    }
}

#[test]
fn editing_a_listeners_triggers_keeps_its_position() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("l.yaml");
    let listeners = |timeout: u32| {
        format!(
            "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: echo\n        timeout: {timeout}\n  - event: flight\n    request: {{country: italy}}\n    triggers: [{{type: echo}}]\n"
        )
    };
    std::fs::write(&file, listeners(30)).unwrap();
    let file = file.display().to_string();
    let listener = Listener::start(home.path(), &["--test", &file]);
    assert_eq!(listener.stop(), Some(0));
    // Two listeners with the same request keep positions of their own.
    let cursors = std::fs::read_dir(home.path().join(".aviso/cursors")).unwrap();
    assert_eq!(cursors.count(), 2);
    run(
        home.path(),
        &[
            "notify",
            "--test",
            &format!("{FLIGHT},payload=while-editing"),
        ],
    );
    // A trigger setting changes: still the same listener (before, a new one starting "now").
    std::fs::write(home.path().join("l.yaml"), listeners(31)).unwrap();
    let listener = Listener::start(home.path(), &["--test", &file]);
    listener.wait_for_log_count("all succeeded", 2);
    assert_eq!(
        listener.output().matches("while-editing").count(),
        2,
        "both listeners caught up"
    );
    assert_eq!(listener.stop(), Some(0));
}

/// Whether a process whose command line contains `text` is running.
fn process_running(text: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|line| {
                String::from_utf8_lossy(&line)
                    .replace('\0', " ")
                    .contains(text)
            })
            .unwrap_or(false)
    })
}

#[test]
fn a_second_stop_signal_ends_at_once_and_kills_the_running_command() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("slow.yaml");
    // A command that starts a child of its own and waits: both must go.
    std::fs::write(
        &file,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: command\n        command: 'sleep 3117 & wait'\n",
    )
    .unwrap();
    let mut listener = Listener::start(home.path(), &["--test", file.to_str().unwrap()]);
    run(home.path(), &["notify", "--test", FLIGHT]);
    wait_until(
        Duration::from_secs(60),
        || process_running("sleep 3117"),
        || listener.log(),
    );
    let pid = listener.child.id() as i32;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    listener.wait_for_log("Stopping: waiting for trigger command (sleep 3117 & wait) (started ");
    listener.wait_for_log("s ago) (send the signal again to stop at once)");
    assert!(
        listener.child.try_wait().unwrap().is_none(),
        "still finishing the trigger"
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = listener.child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        listener.log().contains("1 running command(s) killed"),
        "{}",
        listener.log()
    );
    wait_until(
        Duration::from_secs(10),
        || !process_running("sleep 3117"),
        || "the command's own child was killed too".into(),
    );
}

#[test]
fn an_idle_listener_says_only_that_it_stops() {
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    // SIGHUP (a closed terminal or ssh session) stops cleanly too.
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let mut listener = Listener::start(home.path(), &["--test", &file]);
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(listener.child.id() as i32, signal) };
        assert_eq!(
            listener.child.wait().unwrap().code(),
            Some(0),
            "signal {signal}"
        );
        let log = listener.log();
        assert!(log.lines().any(|line| line.ends_with("Stopping")), "{log}");
        assert!(!log.contains("waiting for"), "{log}");
    }
}

#[test]
fn state_lives_in_state_dir_or_home_never_in_a_shared_temporary_folder() {
    let state = tempfile::tempdir().unwrap();
    let without_home = || {
        let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
        command.env_remove("HOME").env_remove("XDG_CACHE_HOME");
        command
    };
    let notify = format!("{FLIGHT},payload=kept");
    let out = without_home()
        .args(["notify", "--test", &notify])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "No folder for aviso's state (listener positions, the embedded store): HOME is not set. Set HOME, or state_dir in the configuration (AVISO_STATE_DIR)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = without_home()
        .env("AVISO_STATE_DIR", state.path())
        .args(["notify", "--test", &notify])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.path().join("file_based/store.sqlite").exists());
    let out = without_home()
        .env("AVISO_STATE_DIR", state.path())
        .args(["value", "--test", FLIGHT])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "kept\n");
}

/// How a test takes the embedded store's room away: a small tmpfs that is filled up, or a
/// file size limit on the notifying processes (RLIMIT_FSIZE with SIGXFSZ ignored, so writes
/// past it fail with EFBIG).
enum NoRoom {
    /// A full disk, but for this many bytes.
    Disk {
        room: u64,
    },
    FileSizeLimit,
}

/// A tmpfs of 1 MiB mounted on a temporary folder, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// The reason, when mounting is not permitted here.
    fn mount() -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(SmallDisk { dir })
    }

    /// Fills the disk, leaving `room` bytes free; returns the filler to delete.
    fn fill(&self, room: u64) -> PathBuf {
        use std::io::Write;
        let filler = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        for chunk in [64 * 1024, 4096, 512] {
            while file.write_all(&vec![0u8; chunk]).is_ok() {}
        }
        let size = file.metadata().unwrap().len();
        file.set_len(size.saturating_sub(room)).unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

const FILE_SIZE_LIMIT: u64 = 200 * 1024;

/// `aviso notify --test` of flight `number` with `payload`, into the state folder `state`,
/// under a file size limit when `limited`.
fn notify_into(home: &Path, state: &Path, number: &str, payload: &str, limited: bool) -> Output {
    let mut command = aviso(home);
    command.env("AVISO_STATE_DIR", state).args([
        "notify",
        "--test",
        &format!("{},payload={payload}", flight(number)),
    ]);
    if limited {
        use std::os::unix::process::CommandExt;
        // SAFETY: signal(2) and setrlimit(2) are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: FILE_SIZE_LIMIT,
                    rlim_max: FILE_SIZE_LIMIT,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command.output().unwrap()
}

/// Runs notifications into a store that runs out of room (with a listener on it, or with the
/// store closed between commands) until three have failed, gives the room back, and checks what
/// a user sees: each failure said which store and why and exited non-zero; every notification
/// reported written is in the store whole, nothing else is; replay and listening work.
fn out_of_room_then_freed(no_room: NoRoom, listening_throughout: bool) {
    let home = tempfile::tempdir().unwrap();
    let disk = match no_room {
        NoRoom::Disk { .. } => Some(SmallDisk::mount().unwrap()),
        NoRoom::FileSizeLimit => None,
    };
    let state_holder = tempfile::tempdir().unwrap();
    let state = disk
        .as_ref()
        .map_or(state_holder.path(), |disk| disk.dir.path())
        .to_path_buf();
    let store = FileStore::path_in(&state);
    let file = echo_listener(home.path());
    let listener = |home: &Path| {
        let mut command = aviso(home);
        command
            .env("AVISO_STATE_DIR", &state)
            .args(["listen", "--test", &file]);
        Listener::spawn(home, command)
    };
    let start = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let live = listening_throughout.then(|| listener(home.path()));
    let mut written: Vec<(String, String)> = Vec::new();
    for i in 0..3 {
        let (number, payload) = (format!("AZ{i:03}"), format!("before{i}"));
        let out = notify_into(home.path(), &state, &number, &payload, false);
        assert_eq!(stdout(&out), "Done\n");
        written.push((number, payload));
    }

    // Out of room: notify until three have failed.
    let filler = match no_room {
        NoRoom::Disk { room } => disk.as_ref().map(|disk| disk.fill(room)),
        NoRoom::FileSizeLimit => None,
    };
    let limited = matches!(no_room, NoRoom::FileSizeLimit);
    let (mut failed, mut messages) = (Vec::new(), Vec::new());
    for i in 3..300 {
        let number = format!("AZ{i:03}");
        let payload = format!("p{i}-{}", "x".repeat(6000));
        let out = notify_into(home.path(), &state, &number, &payload, limited);
        if out.status.code() == Some(0) {
            assert_eq!(stdout(&out), "Done\n");
            written.push((number, payload));
            continue;
        }
        let message = String::from_utf8_lossy(&out.stderr).into_owned();
        let cause = match no_room {
            NoRoom::Disk { .. } => "no room left on its file system",
            NoRoom::FileSizeLimit => "ulimit -f",
        };
        assert!(
            message.contains(&format!("the embedded store {}: ", store.display()))
                && message.contains(cause),
            "{message}"
        );
        assert!(!stdout(&out).contains("Done"), "{}", stdout(&out));
        failed.push(payload);
        messages.push(message.lines().last().unwrap_or_default().to_string());
        if failed.len() == 3 {
            break;
        }
    }
    assert_eq!(failed.len(), 3, "the store never ran out of room");

    // Room again: the store is whole, with exactly what was reported written.
    if let Some(filler) = filler {
        std::fs::remove_file(filler).unwrap();
    }
    let live = live.unwrap_or_else(|| listener(home.path()));
    let out = notify_into(home.path(), &state, "AZ999", "after", false);
    assert_eq!(stdout(&out), "Done\n");
    written.push(("AZ999".into(), "after".into()));
    let end = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();

    let check: String = rusqlite::Connection::open(&store)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let stored: Vec<(String, String)> = FileStore::open(&store)
        .unwrap()
        .changes_since("/tmp/aviso/flight/", 0)
        .unwrap()
        .into_iter()
        .filter(|kv| kv.key != "/tmp/aviso/flight/")
        .map(|kv| {
            let number = kv.key.rsplit('/').next().unwrap().to_string();
            (number, String::from_utf8(kv.value).unwrap())
        })
        .collect();
    assert_eq!(
        stored, written,
        "the store holds exactly what was reported written"
    );

    let replayed = run_in(
        home.path(),
        &state,
        &["listen", "--test", &file, "--from", &start, "--to", &end],
    );
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let delivered_from = |text: &str| -> Vec<bool> {
        written
            .iter()
            .map(|(_, payload)| text.matches(&format!("\"payload\": \"{payload}\"")).count() == 1)
            .collect()
    };
    assert!(delivered_from(&stdout(&replayed)).iter().all(|d| *d));
    for payload in &failed {
        assert!(!stdout(&replayed).contains(payload.as_str()));
    }

    // The listener gets what is written once there is room again (and, when it ran
    // throughout, everything written while it ran).
    live.wait_for_log("AZ999");
    let heard = live.output();
    let expected = if listening_throughout {
        written.len()
    } else {
        1
    };
    assert_eq!(
        delivered_from(&heard).iter().filter(|d| **d).count(),
        expected,
        "{}",
        live.log()
    );
    for payload in &failed {
        assert!(!heard.contains(payload.as_str()));
    }
    assert_eq!(live.stop(), Some(0));
    eprintln!(
        "out of room ({}, listener {}): {} notifications reported written, all found whole; \
         {} refused, none found; messages: {messages:?}",
        if limited {
            "file size limit"
        } else {
            "full disk"
        },
        if listening_throughout {
            "running throughout"
        } else {
            "started after"
        },
        written.len(),
        failed.len(),
    );
}

fn run_in(home: &Path, state: &Path, args: &[&str]) -> Output {
    aviso(home)
        .env("AVISO_STATE_DIR", state)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_under_the_embedded_store_loses_nothing_reported_written() {
    if let Err(reason) = SmallDisk::mount() {
        eprintln!(
            "skipped: cannot mount a small tmpfs here ({reason}); the file size limit test covers the same path"
        );
        return;
    }
    // Nothing free and the store closed: it cannot even be opened (SQLite's shared memory).
    out_of_room_then_freed(NoRoom::Disk { room: 0 }, false);
    // A little room: some notifications fit, then one fails halfway through its transaction.
    out_of_room_then_freed(NoRoom::Disk { room: 96 * 1024 }, false);
    out_of_room_then_freed(NoRoom::Disk { room: 96 * 1024 }, true);
}

#[test]
fn a_file_size_limit_on_the_embedded_store_loses_nothing_reported_written() {
    out_of_room_then_freed(NoRoom::FileSizeLimit, false);
    out_of_room_then_freed(NoRoom::FileSizeLimit, true);
}

#[test]
fn a_named_listener_keeps_its_position_when_its_request_changes() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("named.yaml");
    let write = |name: &str, request: &str| {
        std::fs::write(
            &file,
            format!("listeners:\n  - {name}event: flight\n    request: {request}\n    triggers: [{{type: echo}}]\n"),
        )
        .unwrap();
    };
    let file_arg = file.display().to_string();
    let away = |payload: &str| {
        run(
            home.path(),
            &["notify", "--test", &format!("{FLIGHT},payload={payload}")],
        );
    };
    write("", "{country: italy}");
    assert_eq!(
        Listener::start(home.path(), &["--test", &file_arg]).stop(),
        Some(0)
    );
    away("before-naming");
    // Given a name, the listener takes over the position it had without one.
    write("name: arrivals\n    ", "{country: italy}");
    let listener = Listener::start(home.path(), &["--test", &file_arg]);
    listener.wait_for_log("all succeeded");
    assert!(
        listener.output().contains("before-naming"),
        "{}",
        listener.log()
    );
    assert_eq!(listener.stop(), Some(0));
    away("while-away");
    // Its request changes: same name, same position.
    write("name: arrivals\n    ", "{country: italy, airport: fco}");
    let listener = Listener::start(home.path(), &["--test", &file_arg]);
    listener.wait_for_log("all succeeded");
    let output = listener.output();
    assert!(output.contains("while-away"), "{}", listener.log());
    assert!(
        !output.contains("before-naming"),
        "delivered once only: {output}"
    );
    assert_eq!(listener.stop(), Some(0));
    // One name for two listeners would mix their positions: refused.
    std::fs::write(
        &file,
        "listeners:\n  - name: arrivals\n    event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n  - name: arrivals\n    event: flight\n    request: {country: spain}\n    triggers: [{type: echo}]\n",
    )
    .unwrap();
    let refused = run(home.path(), &["listen", "--test", &file_arg]);
    assert_ne!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("\"arrivals\" is given to two listeners"),
        "{stderr}"
    );
}

#[test]
fn listen_json_writes_one_line_per_outcome_and_dead_letter() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("json.yaml");
    std::fs::write(
        &file,
        format!(
            "listeners:
  - event: flight
    name: board
    request: {{country: italy}}
    triggers:
      - type: log
        path: {}/board.log
      - type: command
        command: exit 3
        required: true
",
            home.path().display()
        ),
    )
    .unwrap();
    let config = home.path().join("config.yaml");
    std::fs::write(&config, "delivery: {attempts: 1, retry_delay: 1}\n").unwrap();
    let listener = Listener::start(
        home.path(),
        &[
            "--test",
            "--json",
            "-c",
            config.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    run(home.path(), &["notify", "--test", FLIGHT]);
    wait_until(
        Duration::from_secs(60),
        || listener.output().lines().count() >= 2,
        || listener.output(),
    );
    let lines: Vec<serde_json::Value> = listener
        .output()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let outcome = &lines[0];
    assert_eq!(outcome["outcome"], "failed");
    assert_eq!(outcome["listener"], "board");
    assert_eq!(outcome["event"], "flight");
    assert_eq!(outcome["key"], "/tmp/aviso/flight/20210101/italy/FCO/AZ203");
    assert!(outcome["revision"].as_u64().is_some());
    assert_eq!(outcome["triggers"][0]["ok"], true);
    assert_eq!(outcome["triggers"][1]["ok"], false);
    assert_eq!(outcome["triggers"][1]["required"], true);
    assert_eq!(
        outcome["triggers"][1]["error"],
        "command exited with status 3"
    );
    let letter = &lines[1];
    assert_eq!(letter["outcome"], "dead_letter");
    assert_eq!(letter["listener"], "board");
    assert_eq!(outcome["base"], "/tmp/aviso/flight/");
    assert_eq!(letter["key"], outcome["key"]);
    assert_eq!(letter["attempts"], 1);
    assert!(
        letter["dead_letter"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(listener.stop(), Some(0));
}

#[test]
fn a_store_this_user_cannot_write_names_the_files_to_check() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    run(home.path(), &["notify", "--test", FLIGHT]);
    let store_dir = home.path().join(".aviso/file_based");
    for dir in [home.path(), &home.path().join(".aviso"), &store_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Another user's store: as root, run as nobody; otherwise make the files read-only.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut command = if as_root {
        let mut command = common::clean_command(Path::new("setpriv"));
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_aviso"))
            .env("HOME", home.path());
        command
    } else {
        for entry in std::fs::read_dir(&store_dir).unwrap().flatten() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        aviso(home.path())
    };
    let out = command.args(["value", "--test", FLIGHT]).output().unwrap();
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{log}");
    let store = store_dir.join("store.sqlite");
    assert!(
        log.contains(&format!(
            "(this user must be able to write {0}, the files beside it ({0}.lock, -wal, -shm) and their folder: check their owner and permissions)",
            store.display()
        )),
        "{log}"
    );
    assert!(!log.contains("os error"), "{log}");
}
