//! `notify`, `value` and `listen` on a real etcd through its JSON gateway, side by side with
//! ECMWF's pyaviso 1.0.1 on the same store: what one writes, the other reads and delivers.
//! pyaviso comes from `PYAVISO_BIN` (set by `scripts/test.sh`); without it the pyaviso halves
//! are skipped locally and fail under CI.

use crate::common;

use crate::common::pyaviso;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::etcd::{Etcd, etcd_post};
use crate::common::listening::Listening;

const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203";

/// A command for `program` talking to `etcd`, with a private home.
fn command(program: &Path, home: &Path, etcd: &Etcd) -> Command {
    let mut command = common::clean_command(program);
    command
        .env("HOME", home)
        .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
        .env("AVISO_NOTIFICATION_PORT", etcd.port.to_string())
        .env("AVISO_POLLING_INTERVAL", "1")
        .env("AVISO_AUTOMATIC_RETRY_DELAY", "1")
        .env("PYTHONUNBUFFERED", "1");
    command
}

fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aviso"))
}

fn run(program: &Path, home: &Path, etcd: &Etcd, args: &[&str]) -> Output {
    command(program, home, etcd).args(args).output().unwrap()
}

/// Asserts that a `notify` succeeded (pyaviso's `Done`), showing its log if not.
fn notified(out: &Output, context: &str) {
    assert_eq!(
        stdout(out),
        "Done\n",
        "{context} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn echo_listener(home: &Path) -> String {
    let path = home.join("echo.yaml");
    std::fs::write(&path, "listeners:\n  - event: flight\n    request:\n      country: italy\n    triggers:\n      - type: echo\n").unwrap();
    path.display().to_string()
}

impl Listening {
    fn start(program: &Path, home: &Path, etcd: &Etcd, file: &str, ready: &str) -> Listening {
        Listening::start_with(program, home, etcd, file, ready, &[])
    }

    /// Starts with extra environment variables and waits until the log contains `ready`.
    fn start_with(
        program: &Path,
        home: &Path,
        etcd: &Etcd,
        file: &str,
        ready: &str,
        env: &[(&str, &str)],
    ) -> Listening {
        let out = home.join(format!(
            "{}.out",
            program.file_name().unwrap().to_string_lossy()
        ));
        let mut command = command(program, home, etcd);
        command.envs(env.iter().copied()).args(["listen", file]);
        Listening::spawn(command, out, ready)
    }
}

#[test]
fn notify_value_and_listen_on_etcd() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let listener = Listening::start(
        &ours(),
        home.path(),
        &etcd,
        &echo_listener(home.path()),
        "Listening to",
    );
    let out = run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=Landed")],
    );
    notified(&out, "");
    assert_eq!(
        stdout(&run(&ours(), home.path(), &etcd, &["value", FLIGHT])),
        "Landed\n"
    );
    let output = listener.wait_for_output("\"payload\": \"Landed\"");
    assert!(output.contains("\"number\": \"AZ203\""), "{output}");
}

#[test]
fn pyaviso_and_aviso_share_one_etcd() {
    let Some(python) = pyaviso() else {
        eprintln!("PYAVISO_BIN not set: skipping the comparison with pyaviso");
        return;
    };
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();

    // Ours writes, pyaviso reads; pyaviso writes next (linking to our status), ours reads.
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=ours")],
    );
    assert_eq!(
        stdout(&run(&python, home.path(), &etcd, &["value", FLIGHT])),
        "ours\n"
    );
    let out = run(
        &python,
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=theirs")],
    );
    notified(&out, "");
    assert_eq!(
        stdout(&run(&ours(), home.path(), &etcd, &["value", FLIGHT])),
        "theirs\n"
    );
    let out = run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=ours-again")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A notification without payload reads as None on both sides.
    let other = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ999";
    run(&python, home.path(), &etcd, &["notify", other]);
    assert_eq!(
        stdout(&run(&ours(), home.path(), &etcd, &["value", other])),
        "None\n"
    );

    // pyaviso notifies, our listener delivers; we notify, pyaviso's listener delivers.
    let file = echo_listener(home.path());
    let our_listener = Listening::start(&ours(), home.path(), &etcd, &file, "Listening to");
    let their_listener = Listening::start(&python, home.path(), &etcd, &file, "Listening to");
    run(
        &python,
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=from-pyaviso")],
    );
    our_listener.wait_for_output("\"payload\": \"from-pyaviso\"");
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=from-aviso")],
    );
    let theirs = their_listener.wait_for_output("\"payload\": \"from-aviso\"");
    assert!(theirs.contains("\"number\": \"AZ203\""), "{theirs}");
}

#[test]
fn a_restarted_listener_gets_every_write_it_missed_and_survives_an_etcd_restart() {
    let mut etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    drop(Listening::start(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "Listening to",
    ));
    // Three writes of one key while nobody listens: all three come, in order.
    for payload in ["first", "second", "third"] {
        run(
            &ours(),
            home.path(),
            &etcd,
            &["notify", &format!("{FLIGHT},payload={payload}")],
        );
    }
    let listener = Listening::start(&ours(), home.path(), &etcd, &file, "Listening to");
    let output = listener.wait_for_output("\"payload\": \"third\"");
    let first = output.find("first").expect("first delivered");
    let second = output.find("second").expect("second delivered");
    assert!(
        first < second && second < output.find("third").unwrap(),
        "{output}"
    );

    // etcd goes away and comes back: the listener carries on.
    etcd.restart();
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=after-restart")],
    );
    listener.wait_for_output("\"payload\": \"after-restart\"");
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for now, as `--from`/`--to` take it.
fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn flight_number(number: &str) -> String {
    format!("event=flight,country=Italy,airport=fco,date=20210101,number={number}")
}

/// `listen --from --to` replays the window and ends, for history written by either
/// implementation and replayed by both.
#[test]
fn replay_from_to_delivers_the_window_and_ends() {
    let mut notifiers = vec![ours()];
    notifiers.extend(pyaviso());
    for notifier in &notifiers {
        let etcd = Etcd::start();
        let home = tempfile::tempdir().unwrap();
        let file = echo_listener(home.path());
        let notify = |number: &str, payload: &str| {
            let out = run(
                notifier,
                home.path(),
                &etcd,
                &[
                    "notify",
                    &format!("{},payload={payload}", flight_number(number)),
                ],
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let pause = || std::thread::sleep(Duration::from_millis(1100));
        notify("AZ1", "before");
        pause();
        let from = now_text();
        pause();
        notify("AZ2", "inside1");
        notify("AZ3", "inside2");
        pause();
        let to = now_text();
        pause();
        notify("AZ4", "after");

        for program in &notifiers {
            let out = command(program, home.path(), &etcd)
                .args(["listen", &file, "--from", &from, "--to", &to])
                .output()
                .unwrap();
            let text = stdout(&out);
            let who = format!("{} replaying {}", program.display(), notifier.display());
            assert_eq!(
                out.status.code(),
                Some(0),
                "{who}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains("inside1") && text.contains("inside2"),
                "{who}: {text}"
            );
            assert!(
                !text.contains("before") && !text.contains("after"),
                "{who}: {text}"
            );
        }
    }
}

#[test]
fn etcd_users_authenticate_with_tokens() {
    let etcd = Etcd::start();
    for (path, body) in [
        ("auth/user/add", r#"{"name": "root", "password": "s3cret"}"#),
        ("auth/role/add", r#"{"name": "root"}"#),
        ("auth/user/grant", r#"{"user": "root", "role": "root"}"#),
        ("auth/enable", "{}"),
    ] {
        let answer = etcd_post(&etcd, path, body, None);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key");
    std::fs::write(&key, "s3cret\n").unwrap();
    let authenticated = |program: &Path, args: &[&str]| {
        command(program, home.path(), &etcd)
            .env("AVISO_AUTH_TYPE", "etcd")
            .env("AVISO_USERNAME", "root")
            .env("AVISO_KEY_FILE", &key)
            .args(args)
            .output()
            .unwrap()
    };

    // Without credentials etcd refuses, and the message says so.
    let out = run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=x")],
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("user name is empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = authenticated(&ours(), &["notify", &format!("{FLIGHT},payload=secured")]);
    notified(&out, "");
    assert_eq!(
        stdout(&authenticated(&ours(), &["value", FLIGHT])),
        "secured\n"
    );
    if let Some(python) = pyaviso() {
        assert_eq!(
            stdout(&authenticated(&python, &["value", FLIGHT])),
            "secured\n"
        );
    }
    // The status record names the etcd user.
    let token_answer = etcd_post(
        &etcd,
        "auth/authenticate",
        r#"{"name": "root", "password": "s3cret"}"#,
        None,
    );
    let token = token_answer
        .split("\"token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let status = etcd_post(
        &etcd,
        "kv/range",
        r#"{"key": "L3RtcC9hdmlzby9mbGlnaHQv"}"#,
        Some(token),
    );
    let value = status
        .split("\"value\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    use base64::Engine;
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap();
    assert!(
        decoded.starts_with(r#"{"etcd_user": "root", "message": "notification to key "#),
        "{decoded}"
    );
}

/// A listener started before etcd waits for it; compacted history is reported and the current
/// values are delivered instead.
#[test]
fn a_listener_waits_for_etcd_and_survives_compaction() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    drop(Listening::start(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "Listening to",
    ));
    for number in ["AZ1", "AZ2"] {
        run(
            &ours(),
            home.path(),
            &etcd,
            &[
                "notify",
                &format!("{},payload=while-away", flight_number(number)),
            ],
        );
    }
    // Compact everything: the listener's position is now older than the history kept.
    etcd.compact_to_newest();
    let listener = Listening::start(&ours(), home.path(), &etcd, &file, "Listening to");
    let output = listener.wait_for_output("\"number\": \"AZ2\"");
    assert!(output.contains("\"number\": \"AZ1\""), "{output}");
    let log = std::fs::read_to_string(listener.out.with_extension("err")).unwrap();
    assert!(log.contains("was compacted"), "{log}");

    // Nothing listens on this port yet: the listener waits, then works once etcd is there.
    drop(listener);
    let log = home.path().join("waiting.err");
    let waiting = command(&ours(), home.path(), &etcd)
        .env("AVISO_NOTIFICATION_PORT", "9")
        .args(["listen", &file])
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Unable to connect to http://127.0.0.1:9/v3/")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // It keeps waiting (no exit) until told to stop.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(waiting.id() as i32, libc::SIGTERM) };
    let mut waiting = waiting;
    assert_eq!(waiting.wait().unwrap().code(), Some(0));
}

/// kill -9 in the middle of a stream of notifications, again and again: every notification's
/// trigger still runs at least once.
#[test]
fn killed_listeners_lose_nothing() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let seen = home.path().join("seen.txt");
    let file = home.path().join("record.yaml");
    std::fs::write(
        &file,
        format!(
            "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: command\n        command: echo ${{request.number}} >> {}\n",
            seen.display()
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let total = 40;
    let start = |etcd: &Etcd| {
        command(&ours(), home.path(), etcd)
            .args(["listen", &file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The first start records where the listener begins: wait until it has.
    drop(Listening::start(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "Listening to",
    ));
    let mut listener = start(&etcd);
    for i in 0..total {
        run(
            &ours(),
            home.path(),
            &etcd,
            &["notify", &flight_number(&format!("N{i}"))],
        );
        if i % 10 == 5 {
            let _ = listener.kill(); // SIGKILL
            let _ = listener.wait();
            listener = start(&etcd);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(&seen).unwrap_or_default();
        let missing: Vec<String> = (0..total)
            .map(|i| format!("N{i}"))
            .filter(|n| !text.lines().any(|l| l == n))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {missing:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = listener.kill();
    let _ = listener.wait();
}

/// `ttl=N` puts the notification, its status and admin keys on one lease: they expire together.
#[test]
fn notifications_with_a_ttl_expire_on_etcd() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let out = run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=Soon,ttl=1")],
    );
    notified(&out, "");
    assert_eq!(
        stdout(&run(&ours(), home.path(), &etcd, &["value", FLIGHT])),
        "Soon\n"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while stdout(&run(&ours(), home.path(), &etcd, &["value", FLIGHT])) != "None\n" {
        assert!(Instant::now() < deadline, "the notification never expired");
        std::thread::sleep(Duration::from_millis(250));
    }
    if let Some(python) = pyaviso() {
        assert_eq!(
            stdout(&run(&python, home.path(), &etcd, &["value", FLIGHT])),
            "None\n"
        );
    }
}

#[test]
fn behind_a_range_only_proxy_listeners_poll() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let (proxy, _) = proxy(etcd.port, |path| path == "/v3/kv/range");
    let file = echo_listener(home.path());
    let proxy_port = proxy.to_string();
    let mut listener = Listening::start_with(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "polling every",
        &[("AVISO_NOTIFICATION_PORT", &proxy_port)],
    );
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=through-the-proxy")],
    );
    listener.wait_for_output("through-the-proxy");
    assert_eq!(listener.stop(), Some(0));
}

/// A polling listener whose store goes away says so, and says when it answers again.
#[test]
fn a_polling_listener_says_when_the_store_answers_again() {
    let mut etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let (proxy, _) = proxy(etcd.port, |path| path == "/v3/kv/range");
    let file = echo_listener(home.path());
    let proxy_port = proxy.to_string();
    let mut listener = Listening::start_with(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "polling every",
        &[
            ("AVISO_NOTIFICATION_PORT", &proxy_port),
            ("AVISO_POLLING_INTERVAL", "1"),
            ("AVISO_AUTOMATIC_RETRY_DELAY", "1"),
        ],
    );
    etcd.kill();
    listener.wait_for_log("resumes from revision");
    etcd.restart();
    listener.wait_for_log("Polling /tmp/aviso/flight/ again from revision ");
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=after-the-outage")],
    );
    listener.wait_for_output("after-the-outage");
    assert_eq!(listener.stop(), Some(0));
}

/// The gRPC engine on the same etcd: what it writes the gateway engine and pyaviso read, and
/// its listener receives what they write; TTL, replay and etcd users work there too.
#[test]
fn the_grpc_engine_shares_the_store() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let grpc = |args: &[&str]| {
        command(&ours(), home.path(), &etcd)
            .env("AVISO_NOTIFICATION_ENGINE", "etcd_grpc")
            .args(args)
            .output()
            .unwrap()
    };
    let out = grpc(&["notify", &format!("{FLIGHT},payload=over-grpc")]);
    notified(&out, "");
    assert_eq!(
        stdout(&run(&ours(), home.path(), &etcd, &["value", FLIGHT])),
        "over-grpc\n"
    );
    if let Some(python) = pyaviso() {
        assert_eq!(
            stdout(&run(&python, home.path(), &etcd, &["value", FLIGHT])),
            "over-grpc\n"
        );
    }
    let status = etcd_post(
        &etcd,
        "kv/range",
        r#"{"key": "L3RtcC9hdmlzby9mbGlnaHQv"}"#,
        None,
    );
    let value = status
        .split("\"value\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    use base64::Engine;
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap();
    assert!(decoded.contains(r#""engine": "ETCD_GRPC""#), "{decoded}");

    let file = echo_listener(home.path());
    let mut listener = Listening::start_with(
        &ours(),
        home.path(),
        &etcd,
        &file,
        "Listening to",
        &[("AVISO_NOTIFICATION_ENGINE", "etcd_grpc")],
    );
    run(
        &ours(),
        home.path(),
        &etcd,
        &["notify", &format!("{FLIGHT},payload=from-rest")],
    );
    listener.wait_for_output("from-rest");
    assert_eq!(listener.stop(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(60);

    let out = grpc(&[
        "notify",
        &format!("{},payload=short,ttl=1", flight_number("TTL")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    while stdout(&grpc(&["value", &flight_number("TTL")])) != "None\n" {
        assert!(
            Instant::now() < deadline,
            "the gRPC notification never expired"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A three-member cluster: when the member in use dies, notify and listen go on with another.
#[test]
fn cluster_endpoints_fail_over() {
    let mut members = Etcd::cluster(3);
    let endpoints = members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.port))
        .collect::<Vec<_>>()
        .join(",");
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    let with_endpoints = |command: &mut Command| {
        command.env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints);
    };
    let out_path = home.path().join("cluster.out");
    let err_path = home.path().join("cluster.err");
    let mut listen = command(&ours(), home.path(), &members[0]);
    with_endpoints(&mut listen);
    let mut listener = listen
        .args(["listen", &file])
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let wait_for = |path: &Path, text: &str| {
        while !std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(text)
        {
            assert!(
                Instant::now() < deadline,
                "waited for {text}: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(&err_path, "Listening to");
    for (engine, payload) in [("etcd_rest", "before"), ("etcd_grpc", "before-grpc")] {
        let mut notify = command(&ours(), home.path(), &members[0]);
        with_endpoints(&mut notify);
        let out = notify
            .env("AVISO_NOTIFICATION_ENGINE", engine)
            .args(["notify", &format!("{FLIGHT},payload={payload}")])
            .output()
            .unwrap();
        notified(&out, engine);
        wait_for(&out_path, payload);
    }
    members[0].kill();
    for (engine, payload) in [("etcd_rest", "after"), ("etcd_grpc", "after-grpc")] {
        let mut notify = command(&ours(), home.path(), &members[1]);
        with_endpoints(&mut notify);
        let out = notify
            .env("AVISO_NOTIFICATION_ENGINE", engine)
            .args(["notify", &format!("{FLIGHT},payload={payload}")])
            .output()
            .unwrap();
        notified(&out, engine);
        wait_for(&out_path, payload);
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(listener.id() as i32, libc::SIGTERM) };
    assert_eq!(listener.wait().unwrap().code(), Some(0));
}

/// A proxy in front of etcd, like ECMWF's aviso-auth: it forwards the paths `allowed` lets
/// through (each over a connection of its own), answers 403 to the others, and records each
/// request's `authorization|x-auth-type` headers.
fn proxy(
    etcd_port: u16,
    allowed: fn(&str) -> bool,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let lower = head.to_ascii_lowercase();
                let header = |name: &str| {
                    lower
                        .lines()
                        .position(|l| l.starts_with(name))
                        .map(|i| {
                            head.lines()
                                .nth(i)
                                .unwrap()
                                .split_once(": ")
                                .unwrap()
                                .1
                                .to_string()
                        })
                        .unwrap_or_default()
                };
                record.lock().unwrap().push(format!(
                    "{}|{}",
                    header("authorization:"),
                    header("x-auth-type:")
                ));
                let length: usize = header("content-length:").parse().unwrap_or(0);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if !allowed(&path) {
                    let _ = client.write_all(
                        b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    return;
                }
                let mut upstream = std::net::TcpStream::connect(("127.0.0.1", etcd_port)).unwrap();
                let request = format!(
                    "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
                );
                upstream.write_all(request.as_bytes()).unwrap();
                upstream.write_all(&body).unwrap();
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer);
                let _ = client.write_all(&answer);
            });
        }
    });
    (port, seen)
}

/// ecmwf, openid and plain authentication send pyaviso's headers on every request.
#[test]
fn proxy_authentication_headers() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key");
    std::fs::write(&key, "tok3n\n").unwrap();
    let user = home.path().join("user");
    std::fs::write(&user, "alice\n").unwrap();
    for (auth_type, expected) in [
        ("ecmwf", "Bearer tok3n|ecmwf"),
        ("openid", "Bearer tok3n|openid"),
        ("plain", "Basic YWxpY2U6dG9rM24=|plain"),
    ] {
        let (port, seen) = proxy(etcd.port, |_| true);
        let out = command(&ours(), home.path(), &etcd)
            .env("AVISO_NOTIFICATION_PORT", port.to_string())
            .env("AVISO_AUTH_TYPE", auth_type)
            .env("AVISO_USERNAME_FILE", &user)
            .env("AVISO_KEY_FILE", &key)
            .args(["notify", &format!("{FLIGHT},payload={auth_type}")])
            .output()
            .unwrap();
        notified(&out, auth_type);
        let seen = seen.lock().unwrap().clone();
        assert!(
            !seen.is_empty() && seen.iter().all(|h| h == expected),
            "{auth_type}: {seen:?}"
        );
    }
    // A missing key file is a clear error.
    let out = command(&ours(), home.path(), &etcd)
        .env("AVISO_AUTH_TYPE", "ecmwf")
        .env("AVISO_KEY_FILE", home.path().join("nope"))
        .args(["notify", FLIGHT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Not able to read the key file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// etcd serving clients over TLS with a certificate from a test CA: both engines refuse it while
/// the CA is unknown, and notify, value and listen work once it is trusted through
/// `SSL_CERT_FILE`; pyaviso (trusting it through `REQUESTS_CA_BUNDLE`) reads what we wrote.
#[test]
fn etcd_over_tls_is_verified() {
    let certificates = tempfile::tempdir().unwrap();
    common::certificates::make_certificates(certificates.path());
    let ca = certificates.path().join("ca.pem");
    let etcd = Etcd::start_tls(certificates.path());
    let home = tempfile::tempdir().unwrap();
    let over_tls = |program: &Path, engine: &str, trusted: bool| {
        let mut command = command(program, home.path(), &etcd);
        command
            .env("AVISO_NOTIFICATION_HTTPS", "true")
            .env("AVISO_NOTIFICATION_ENGINE", engine)
            .env("AVISO_TIMEOUT", "10")
            .env_remove("SSL_CERT_FILE")
            .env_remove("REQUESTS_CA_BUNDLE");
        if trusted {
            command
                .env("SSL_CERT_FILE", &ca)
                .env("REQUESTS_CA_BUNDLE", &ca);
        }
        command
    };

    for (engine, other) in [("etcd_rest", "etcd_grpc"), ("etcd_grpc", "etcd_rest")] {
        let refused = over_tls(&ours(), engine, false)
            .args(["notify", &format!("{FLIGHT},payload=untrusted")])
            .output()
            .unwrap();
        let message = String::from_utf8_lossy(&refused.stderr);
        assert_ne!(refused.status.code(), Some(0), "{engine}: {message}");
        assert!(
            message.to_lowercase().contains("certificate"),
            "{engine} should say the certificate was refused: {message}"
        );

        let payload = format!("over-{engine}");
        let out = over_tls(&ours(), engine, true)
            .args(["notify", &format!("{FLIGHT},payload={payload}")])
            .output()
            .unwrap();
        notified(&out, engine);
        let read = over_tls(&ours(), other, true)
            .args(["value", FLIGHT])
            .output()
            .unwrap();
        assert_eq!(stdout(&read), format!("{payload}\n"));
    }

    let file = echo_listener(home.path());
    for engine in ["etcd_rest", "etcd_grpc"] {
        let ca = ca.to_str().unwrap();
        let mut listener = Listening::start_with(
            &ours(),
            home.path(),
            &etcd,
            &file,
            "Listening to",
            &[
                ("AVISO_NOTIFICATION_HTTPS", "true"),
                ("AVISO_NOTIFICATION_ENGINE", engine),
                ("SSL_CERT_FILE", ca),
            ],
        );
        let payload = format!("heard-over-{engine}");
        let out = over_tls(&ours(), "etcd_rest", true)
            .args(["notify", &format!("{FLIGHT},payload={payload}")])
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "Done\n");
        listener.wait_for_output(&payload);
        assert_eq!(listener.stop(), Some(0));
    }

    if let Some(python) = pyaviso() {
        let read = over_tls(&python, "etcd_rest", true)
            .args(["value", FLIGHT])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&read),
            "heard-over-etcd_grpc\n",
            "{}",
            String::from_utf8_lossy(&read.stderr)
        );
    }
}

/// Hundreds of notifications sent at once through the library (written together, several per
/// transaction): each one's value is stored, and `--from/--to` replays every one of them, in
/// ours and in pyaviso.
#[test]
fn notifications_sent_at_once_all_arrive() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let settings = {
        let sources = aviso::config::ConfigSources {
            system_file: PathBuf::from("/nonexistent/aviso/config.yaml"),
            home_dir: None,
            config_file: None,
            env: Box::new(|_| None),
            cli: aviso::config::CliOverrides {
                host: Some("127.0.0.1".into()),
                port: Some(etcd.port),
                ..Default::default()
            },
            program: aviso::config::Program::Aviso,
        };
        aviso::config::Settings::load(&sources).unwrap().0
    };
    let aviso = aviso::Aviso::with_schema(settings, aviso::schema::Schema::default_schema());
    let parameters = |number: &str, payload: &str| {
        aviso::notification::parse_parameters(&format!(
            "{},payload={payload}",
            flight_number(number)
        ))
        .unwrap()
    };
    const COUNT: usize = 300;
    let from = now_text();
    std::thread::sleep(Duration::from_millis(1100));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..COUNT {
            let (aviso, parameters) = (
                aviso.clone(),
                parameters(&format!("C{i}"), &format!("p{i}-")),
            );
            tasks.spawn(async move { aviso.notify(&parameters).await.map(|_| ()) });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().expect("every notify succeeds");
        }
        for i in (0..COUNT).step_by(37) {
            let request =
                aviso::notification::parse_parameters(&flight_number(&format!("C{i}"))).unwrap();
            let value = aviso.value(&request).await.unwrap();
            assert_eq!(value, Some(format!("p{i}-").into_bytes()));
        }
    });
    std::thread::sleep(Duration::from_millis(1100));
    let to = now_text();

    let file = echo_listener(home.path());
    let mut programs = vec![ours()];
    programs.extend(pyaviso());
    for program in &programs {
        let out = command(program, home.path(), &etcd)
            .args(["listen", &file, "--from", &from, "--to", &to])
            .output()
            .unwrap();
        let text = stdout(&out);
        let missing: Vec<usize> = (0..COUNT)
            .filter(|i| !text.contains(&format!("p{i}-")))
            .collect();
        assert!(
            missing.is_empty(),
            "{} did not replay {missing:?}: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A gRPC listener far behind: etcd sends its backlog in watch messages far larger than gRPC's
/// usual 4 MiB limit, and every notification still arrives.
#[test]
fn a_grpc_listener_far_behind_catches_up() {
    let etcd = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let file = echo_listener(home.path());
    let grpc = [("AVISO_NOTIFICATION_ENGINE", "etcd_grpc")];
    let mut listener =
        Listening::start_with(&ours(), home.path(), &etcd, &file, "Listening to", &grpc);
    assert_eq!(listener.stop(), Some(0));
    const COUNT: usize = 250;
    let padding = "x".repeat(24 * 1024);
    for i in 0..COUNT {
        let out = run(
            &ours(),
            home.path(),
            &etcd,
            &[
                "notify",
                &format!("{},payload=n{i}-{padding}", flight_number(&format!("F{i}"))),
            ],
        );
        assert_eq!(out.status.code(), Some(0));
    }
    let listener = Listening::start_with(&ours(), home.path(), &etcd, &file, "Listening to", &grpc);
    let output = listener.wait_for_output(&format!("n{}-", COUNT - 1));
    let missing: Vec<usize> = (0..COUNT)
        .filter(|i| !output.contains(&format!("\"n{i}-")))
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    drop(listener);

    // A replay reads the same 6 MB in range answers, also beyond gRPC's default 4 MiB.
    let out = command(&ours(), home.path(), &etcd)
        .env("AVISO_NOTIFICATION_ENGINE", "etcd_grpc")
        .args([
            "listen",
            &file,
            "--from",
            "2000-01-01T00:00:00.0Z",
            "--to",
            &now_text(),
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    let missing: Vec<usize> = (0..COUNT)
        .filter(|i| !text.contains(&format!("\"n{i}-")))
        .collect();
    assert!(
        missing.is_empty(),
        "the replay missed {missing:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
