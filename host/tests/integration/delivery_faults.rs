//! Delivery under faults, as a user sees it: a poison notification ends in a dead letter and
//! the listener moves on (then `aviso dead-letters` lists and replays it); a watch whose
//! connection goes silent without closing, and a cluster member that freezes under a listener,
//! are noticed and resumed from the last revision, nothing lost and nothing twice.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::etcd::Etcd;
use crate::common::listening::Listening;

const FLIGHT: &str = "event=flight,country=Italy,airport=fco,date=20210101";

fn aviso(home: &Path) -> Command {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    command
        .env("HOME", home)
        .env("AVISO_AUTOMATIC_RETRY_DELAY", "1")
        .env("AVISO_POLLING_INTERVAL", "1");
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn done(output: &Output) {
    assert_eq!(
        stdout(output),
        "Done\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits (at most two minutes) until `ready`; `failure` says what was missing.
fn wait_until(ready: impl FnMut() -> bool, failure: impl Fn() -> String) {
    common::wait_until(Duration::from_secs(120), ready, failure);
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A listener whose first trigger records every notification and whose second, required,
/// records each attempt and fails for the payload `poison` until the file `fixed` exists.
fn poison_listener(dir: &Path) -> PathBuf {
    let file = dir.join("poison.yaml");
    let work = dir.display();
    std::fs::write(
        &file,
        format!(
            "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: command\n        working_dir: {work}\n        command: echo \"${{payload}}\" >> seen.txt\n      - type: command\n        working_dir: {work}\n        required: true\n        command: echo \"${{payload}}\" >> tries.txt; test \"${{payload}}\" != poison || test -e fixed\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_poison_notification_ends_in_a_dead_letter_and_the_listener_moves_on() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let file = poison_listener(dir);
    let file = file.to_str().unwrap();
    let listen = {
        let mut command = aviso(dir);
        command
            .env("AVISO_DELIVERY_ATTEMPTS", "3")
            .env("AVISO_DELIVERY_RETRY_DELAY", "0")
            .args(["listen", "--test", file]);
        command
    };
    let listener = Listening::spawn(listen, dir.join("listen.out"), "Listening to");
    let sent_at = Instant::now();
    for (number, payload) in [("1", "first"), ("2", "poison"), ("3", "after")] {
        done(
            &aviso(dir)
                .args([
                    "notify",
                    "--test",
                    &format!("{FLIGHT},number={number},payload={payload}"),
                ])
                .output()
                .unwrap(),
        );
    }
    let seen = dir.join("seen.txt");
    let tries = dir.join("tries.txt");
    wait_until(
        || {
            lines(&seen).contains(&"after".to_string())
                && lines(&tries).ends_with(&["after".into()])
        },
        || {
            format!(
                "the notification after the poison was not delivered; log:\n{}",
                listener.log()
            )
        },
    );
    let moved_on = sent_at.elapsed();
    // Every notification reached the first trigger once: the poison's was not run again
    // while its required trigger was retried.
    assert_eq!(lines(&seen), ["first", "poison", "after"]);
    // The required trigger: three attempts for the poison, then the listener moved on.
    assert_eq!(
        lines(&tries),
        ["first", "poison", "poison", "poison", "after"]
    );
    let log = listener.log();
    assert!(
        log.contains("attempt 1 of 3") && log.contains("attempt 2 of 3"),
        "{log}"
    );
    assert!(log.contains("recorded as dead letter"), "{log}");
    let seen_lines = lines(&seen);
    report(
        "poison notification",
        "a required trigger that always fails for one of 3 notifications (attempts 3, retry_delay 0): 1 dead letter, the other trigger ran once for it, the next notification delivered",
        1,
        &Tally {
            sent: 3,
            lost: ["first", "poison", "after"]
                .iter()
                .filter(|p| !seen_lines.iter().any(|l| l == *p))
                .count(),
            duplicates: seen_lines.len().saturating_sub(3),
            first_lost: Vec::new(),
        },
        moved_on,
    );

    let list = aviso(dir)
        .args(["dead-letters", "list", "--test"])
        .output()
        .unwrap();
    let listed = stdout(&list);
    assert!(list.status.success(), "{listed}");
    assert!(
        listed.contains("/flight/20210101/italy/FCO/2 (revision"),
        "{listed}"
    );
    assert!(listed.contains("3 attempts"), "{listed}");
    assert!(listed.contains("exit"), "the failure is shown: {listed}");
    assert_eq!(listed.lines().filter(|l| !l.starts_with(' ')).count(), 1);

    // Replayed against another store than it was recorded from: kept, and the hint says why.
    let elsewhere = aviso(dir)
        .args(["dead-letters", "replay", file])
        .output()
        .unwrap();
    assert!(!elsewhere.status.success());
    assert!(
        stdout(&elsewhere).contains("kept, it was recorded listening to file ")
            && stdout(&elsewhere)
                .contains("give the same store options (--test for the embedded store)"),
        "{}",
        stdout(&elsewhere)
    );
    // Still failing: replay keeps it and says so.
    let replay = || {
        aviso(dir)
            .args(["dead-letters", "replay", "--test", file])
            .output()
            .unwrap()
    };
    let kept = replay();
    assert!(!kept.status.success());
    assert!(stdout(&kept).contains("kept"), "{}", stdout(&kept));
    // Fixed: replay runs only the failed trigger, then forgets the letter.
    std::fs::write(dir.join("fixed"), "").unwrap();
    let replayed = replay();
    assert!(
        replayed.status.success() && stdout(&replayed).contains("delivered, removed"),
        "{}{}",
        stdout(&replayed),
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(lines(&seen), ["first", "poison", "after"]);
    assert_eq!(
        lines(&tries).iter().filter(|t| *t == "poison").count(),
        5,
        "one more attempt each replay"
    );
    let list = aviso(dir)
        .args(["dead-letters", "list", "--test"])
        .output()
        .unwrap();
    assert!(
        stdout(&list).starts_with("No dead letters"),
        "{}",
        stdout(&list)
    );
    // The listener's position is past the poison: a restart delivers nothing again.
    drop(listener);
    let again = Listening::spawn(
        {
            let mut command = aviso(dir);
            command.args(["listen", "--test", file]);
            command
        },
        dir.join("again.out"),
        "Listening to",
    );
    done(
        &aviso(dir)
            .args([
                "notify",
                "--test",
                &format!("{FLIGHT},number=4,payload=last"),
            ])
            .output()
            .unwrap(),
    );
    wait_until(
        || lines(&seen).last().map(String::as_str) == Some("last"),
        || again.log(),
    );
    assert_eq!(lines(&seen), ["first", "poison", "after", "last"]);
}

#[test]
fn drop_forgets_dead_letters_and_names_unknown_ones() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let drop = |args: &[&str]| {
        aviso(dir)
            .args(["dead-letters", "drop", "--test"])
            .args(args)
            .output()
            .unwrap()
    };
    let unknown = drop(&["12-abcdef"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("There is no dead letter 12-abcdef"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let all = drop(&["--all"]);
    assert!(all.status.success());
    assert_eq!(stdout(&all), "0 dead letter(s) dropped\n");
}

/// A TCP proxy on loopback whose open connections can be frozen: they stay open but carry
/// nothing more, in either direction, as when a NAT or firewall forgets a connection. New
/// connections work.
struct FreezingProxy {
    port: u16,
    connections: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>>,
}

impl FreezingProxy {
    fn start(target: u16) -> FreezingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let registry = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let frozen = Arc::new(AtomicBool::new(false));
                registry.lock().unwrap().push(frozen.clone());
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    frozen.clone(),
                );
                pump(server, client, frozen);
            }
        });
        FreezingProxy { port, connections }
    }

    /// Every connection open now goes silent for ever.
    fn freeze_open_connections(&self) -> usize {
        let connections = self.connections.lock().unwrap();
        for frozen in connections.iter() {
            frozen.store(true, Ordering::SeqCst);
        }
        connections.len()
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16384];
        while let Ok(read) = from.read(&mut buffer) {
            if frozen.load(Ordering::SeqCst) {
                // Swallow everything, answer nothing, close nothing.
                std::mem::forget(from);
                std::mem::forget(to);
                return;
            }
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                let _ = to.shutdown(std::net::Shutdown::Write);
                break;
            }
        }
    });
}

fn echo_listener(dir: &Path) -> String {
    let path = dir.join("echo.yaml");
    std::fs::write(
        &path,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n",
    )
    .unwrap();
    path.display().to_string()
}

fn notify_direct(dir: &Path, etcd: &Etcd, number: u32) {
    done(
        &aviso(dir)
            .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
            .env("AVISO_NOTIFICATION_PORT", etcd.port.to_string())
            .args([
                "notify",
                &format!("{FLIGHT},number=N{number},payload=k{number}"),
            ])
            .output()
            .unwrap(),
    );
}

/// How many times the listener printed the notification numbered `number`.
fn delivered(listener: &Listening, number: u32) -> usize {
    std::fs::read_to_string(&listener.out)
        .unwrap_or_default()
        .matches(&format!("\"k{number}\""))
        .count()
}

fn a_silent_connection_is_noticed_and_the_watch_resumed(engine: &str) {
    let etcd = Etcd::start();
    let proxy = FreezingProxy::start(etcd.port);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let file = echo_listener(dir);
    let mut command = aviso(dir);
    command
        .env("AVISO_NOTIFICATION_ENGINE", engine)
        .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
        .env("AVISO_NOTIFICATION_PORT", proxy.port.to_string())
        .env("AVISO_LIVENESS_CHECK", "1")
        .args(["listen", &file]);
    let listener = Listening::spawn(command, dir.join("listen.out"), "Listening to");
    notify_direct(dir, &etcd, 1);
    listener.wait_for_output("\"k1\"");
    assert!(proxy.freeze_open_connections() > 0);
    let frozen = Instant::now();
    for number in 2..=4 {
        notify_direct(dir, &etcd, number);
    }
    listener.wait_for_output("\"k4\"");
    let recovery = frozen.elapsed();
    for number in 1..=4 {
        assert_eq!(
            delivered(&listener, number),
            1,
            "k{number}: {}",
            listener.log()
        );
    }
    let log = listener.log();
    assert!(
        log.contains("went silent") || log.contains("did not answer"),
        "the log says what happened: {log}"
    );
    assert!(
        log.contains("again from revision") || log.contains("resumes from revision"),
        "{log}"
    );
    report(
        &format!("silent network ({engine})"),
        "every open connection of the listener frozen by a proxy (open, carrying nothing), liveness_check 1 s; 3 notifications sent meanwhile",
        1,
        &tally(&[1, 2, 3, 4], std::slice::from_ref(&listener.out)),
        recovery,
    );
}

#[test]
fn a_silent_connection_is_noticed_over_the_json_gateway() {
    a_silent_connection_is_noticed_and_the_watch_resumed("etcd_rest");
}

#[test]
fn a_silent_connection_is_noticed_over_grpc() {
    a_silent_connection_is_noticed_and_the_watch_resumed("etcd_grpc");
}

fn a_frozen_member_under_the_listener_is_left_for_another(engine: &str) {
    let members = Etcd::cluster(3);
    let endpoints = members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.port))
        .collect::<Vec<_>>()
        .join(",");
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let file = echo_listener(dir);
    let mut command = aviso(dir);
    command
        .env("AVISO_NOTIFICATION_ENGINE", engine)
        .env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints)
        .env("AVISO_LIVENESS_CHECK", "1")
        .env("AVISO_TIMEOUT", "5")
        .args(["listen", &file]);
    let listener = Listening::spawn(command, dir.join("listen.out"), "Listening to");
    notify_direct(dir, &members[1], 1);
    listener.wait_for_output("\"k1\"");
    // The first member is the one in use: it freezes, as a paused VM.
    members[0].pause();
    let frozen = Instant::now();
    for number in 2..=4 {
        notify_direct(dir, &members[1 + number as usize % 2], number);
    }
    listener.wait_for_output("\"k4\"");
    let recovery = frozen.elapsed();
    members[0].resume();
    for number in 1..=4 {
        assert_eq!(
            delivered(&listener, number),
            1,
            "k{number}: {}",
            listener.log()
        );
    }
    // The JSON gateway was on the first member, which froze (gRPC balances over the members,
    // so its watch may have been elsewhere, with nothing to say).
    let log = listener.log();
    assert!(
        engine != "etcd_rest"
            || log.contains("did not answer")
            || log.contains("went silent")
            || log.contains("broke"),
        "the log says what happened: {log}"
    );
    report(
        &format!("member under the listener frozen ({engine})"),
        "SIGSTOP of the cluster member the listener uses (a paused VM), liveness_check 1 s; 3 notifications sent through the others",
        1,
        &tally(&[1, 2, 3, 4], std::slice::from_ref(&listener.out)),
        recovery,
    );
}

#[test]
fn a_frozen_member_is_left_for_another_over_the_json_gateway() {
    a_frozen_member_under_the_listener_is_left_for_another("etcd_rest");
}

#[test]
fn a_frozen_member_is_left_for_another_over_grpc() {
    a_frozen_member_under_the_listener_is_left_for_another("etcd_grpc");
}

// The fault suite: each test below is a row of docs/reliability.md. With `AVISO_FAULT_REPORT`
// set to a file, each appends its measured row there (bench/faults.sh collects them).

/// Appends a row (fault, what was done, times, sent, lost, duplicates, recovery) to the report.
fn report(fault: &str, done: &str, times: usize, outcome: &Tally, recovery: Duration) {
    let row = format!(
        "| {fault} | {done} | {times} | {} | {} | {} | {:.1} s |\n",
        outcome.sent,
        outcome.lost,
        outcome.duplicates,
        recovery.as_secs_f64()
    );
    eprint!("{row}");
    if let Some(path) = std::env::var_os("AVISO_FAULT_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(row.as_bytes()).unwrap();
    }
}

/// Notifications sent against what the listeners printed.
#[derive(Debug)]
struct Tally {
    sent: usize,
    lost: usize,
    duplicates: usize,
    /// The first few lost, to look for.
    first_lost: Vec<u32>,
}

/// Counts, over every listener output in `outputs`, the notifications `k<N>` of `sent`.
fn tally(sent: &[u32], outputs: &[PathBuf]) -> Tally {
    let mut counts = std::collections::HashMap::new();
    for output in outputs {
        let text = std::fs::read_to_string(output).unwrap_or_default();
        for part in text.split("\"payload\": \"k").skip(1) {
            let digits = part.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(number) = part[..digits].parse::<u32>() {
                *counts.entry(number).or_insert(0usize) += 1;
            }
        }
    }
    Tally {
        sent: sent.len(),
        lost: sent.iter().filter(|n| !counts.contains_key(n)).count(),
        first_lost: sent
            .iter()
            .filter(|n| !counts.contains_key(n))
            .take(10)
            .copied()
            .collect(),
        duplicates: sent
            .iter()
            .map(|n| counts.get(n).copied().unwrap_or(0).saturating_sub(1))
            .sum(),
    }
}

/// Sends notifications `k0`, `k1`, ... one after the other until stopped, each until it is
/// written (a failed notify is sent again); returns the numbers written.
struct SteadyNotifier {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u32>>,
}

impl SteadyNotifier {
    fn start(notify: impl Fn(u32) -> bool + Send + 'static) -> SteadyNotifier {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = Vec::new();
            let mut number = 0;
            while !stopping.load(Ordering::SeqCst) {
                if notify(number) {
                    sent.push(number);
                    number += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            sent
        });
        SteadyNotifier { stop, thread }
    }

    fn finish(self) -> Vec<u32> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// A number in `[0, bound)`, different at each call.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    hasher.finish() % bound
}

/// Waits until every notification of `sent` was printed in `outputs`; returns how long it took.
fn wait_for_all(sent: &[u32], outputs: &[PathBuf], log: impl Fn() -> String) -> Duration {
    let start = Instant::now();
    wait_until(
        || tally(sent, outputs).lost == 0,
        || {
            format!(
                "{:?} after the fault; log:\n{}",
                tally(sent, outputs),
                log()
            )
        },
    );
    start.elapsed()
}

/// kill -9 of a listener at random points (starting, catching up, idle, in a trigger), 50 times
/// in a row, under a steady stream of notifications on the embedded store.
#[test]
fn fault_kill_9_of_a_listener_50_times_loses_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_path_buf();
    let file = echo_listener(&dir);
    // The listener has run once before the stream starts: its position exists (a listener
    // that never ran starts at the newest notification), and its plugin is compiled.
    let mut first = aviso(&dir);
    first.args(["listen", "--test", &file]);
    drop(Listening::spawn(
        first,
        dir.join("first.out"),
        "Listening to",
    ));
    let notifier = {
        let dir = dir.clone();
        SteadyNotifier::start(move |number| {
            aviso(&dir)
                .args([
                    "notify",
                    "--test",
                    &format!("{FLIGHT},number=N{number},payload=k{number}"),
                ])
                .output()
                .is_ok_and(|out| out.status.success())
        })
    };
    let kills = std::env::var("AVISO_FAULT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(50);
    let mut outputs = Vec::new();
    for run in 0..kills {
        let out = dir.join(format!("run-{run}.out"));
        let mut listener = aviso(&dir)
            .args(["listen", "--test", &file])
            .stdout(std::process::Stdio::from(
                std::fs::File::create(&out).unwrap(),
            ))
            .stderr(std::process::Stdio::from(
                std::fs::File::create(out.with_extension("err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        outputs.push(out);
        std::thread::sleep(Duration::from_millis(50 + random_below(700)));
        listener.kill().unwrap(); // SIGKILL
        listener.wait().unwrap();
    }
    let sent = notifier.finish();
    assert!(
        sent.len() > kills,
        "the stream went on: {} sent",
        sent.len()
    );
    let last = dir.join("final.out");
    outputs.push(last.clone());
    let mut command = aviso(&dir);
    command.args(["listen", "--test", &file]);
    let listener = Listening::spawn(command, last, "Listening to");
    let recovery = wait_for_all(&sent, &outputs, || listener.log());
    let outcome = tally(&sent, &outputs);
    assert_eq!(
        outcome.lost, 0,
        "lost, among others: {:?}; {outcome:?}",
        outcome.first_lost
    );
    report(
        "kill -9 of a listener",
        "listener killed at a random point 50-750 ms after its start, under a steady stream of notifies (embedded store)",
        kills,
        &outcome,
        recovery,
    );
}

/// Runs `aviso notify` for `k<number>` against `port`; whether it was written.
fn notify_on(dir: &Path, endpoints: &str, number: u32) -> bool {
    aviso(dir)
        .env("AVISO_NOTIFICATION_ENDPOINTS", endpoints)
        .env("AVISO_TIMEOUT", "5")
        .args([
            "notify",
            &format!("{FLIGHT},number=N{number},payload=k{number}"),
        ])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// etcd killed and restarted three times while a listener listens and a notifier notifies.
#[test]
fn fault_etcd_restarts_during_notify_and_listen_lose_nothing() {
    let mut etcd = Etcd::start();
    let endpoints = format!("127.0.0.1:{}", etcd.port);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_path_buf();
    let file = echo_listener(&dir);
    let mut command = aviso(&dir);
    command
        .env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints)
        .env("AVISO_LIVENESS_CHECK", "2")
        .args(["listen", &file]);
    let out = dir.join("listen.out");
    let listener = Listening::spawn(command, out.clone(), "Listening to");
    let notifier = {
        let (dir, endpoints) = (dir.clone(), endpoints.clone());
        SteadyNotifier::start(move |number| notify_on(&dir, &endpoints, number))
    };
    let restarts = 3;
    for _ in 0..restarts {
        std::thread::sleep(Duration::from_millis(500 + random_below(1000)));
        etcd.restart();
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent = notifier.finish();
    let recovery = wait_for_all(&sent, std::slice::from_ref(&out), || listener.log());
    let outcome = tally(&sent, &[out]);
    assert_eq!(
        outcome.lost, 0,
        "lost, among others: {:?}; {outcome:?}",
        outcome.first_lost
    );
    report(
        "etcd restarted",
        "the only etcd member killed (SIGKILL) and started again, under notify and listen (JSON gateway)",
        restarts,
        &outcome,
        recovery,
    );
}

/// The cluster's leader, as etcd's `/v3/maintenance/status` of each member says.
fn leader(members: &[Etcd]) -> Option<usize> {
    members.iter().position(|member| {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", member.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = "POST /v3/maintenance/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let field = |name: &str| {
            answer
                .split(&format!("\"{name}\":\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_string)
        };
        field("member_id").is_some() && field("member_id") == field("leader")
    })
}

fn a_cluster_losing_its_leader_loses_nothing(engine: &str) {
    let mut members = Etcd::cluster(3);
    let endpoints = members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.port))
        .collect::<Vec<_>>()
        .join(",");
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_path_buf();
    let file = echo_listener(&dir);
    let mut command = aviso(&dir);
    command
        .env("AVISO_NOTIFICATION_ENGINE", engine)
        .env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints)
        .env("AVISO_LIVENESS_CHECK", "2")
        .env("AVISO_TIMEOUT", "5")
        .args(["listen", &file]);
    let out = dir.join("listen.out");
    let listener = Listening::spawn(command, out.clone(), "Listening to");
    let notifier = {
        let (dir, endpoints) = (dir.clone(), endpoints.clone());
        SteadyNotifier::start(move |number| notify_on(&dir, &endpoints, number))
    };
    let losses = 2;
    for _ in 0..losses {
        std::thread::sleep(Duration::from_millis(500 + random_below(1000)));
        let mut found = None;
        wait_until(
            || {
                found = leader(&members);
                found.is_some()
            },
            || "the cluster has no leader".into(),
        );
        let old = found.unwrap();
        members[old].kill();
        std::thread::sleep(Duration::from_millis(500 + random_below(1000)));
        members[old].restart();
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent = notifier.finish();
    let recovery = wait_for_all(&sent, std::slice::from_ref(&out), || listener.log());
    let outcome = tally(&sent, &[out]);
    assert_eq!(
        outcome.lost, 0,
        "lost, among others: {:?}; {outcome:?}",
        outcome.first_lost
    );
    report(
        &format!("cluster leader lost ({engine})"),
        "the leader of a three-member cluster killed, then started again, under notify and listen",
        losses,
        &outcome,
        recovery,
    );
}

#[test]
fn fault_a_cluster_losing_its_leader_loses_nothing_over_the_json_gateway() {
    a_cluster_losing_its_leader_loses_nothing("etcd_rest");
}

#[test]
fn fault_a_cluster_losing_its_leader_loses_nothing_over_grpc() {
    a_cluster_losing_its_leader_loses_nothing("etcd_grpc");
}

/// etcd compacts its history while a listener is catching up on a backlog.
#[test]
fn fault_compaction_during_catch_up_loses_nothing() {
    let etcd = Etcd::start();
    let endpoints = format!("127.0.0.1:{}", etcd.port);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_path_buf();
    // A trigger that takes a moment, so that the catch-up is still going when etcd compacts.
    let file = dir.join("slow.yaml");
    std::fs::write(
        &file,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: echo\n      - type: command\n        command: sleep 0.02\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let listen = || {
        let mut command = aviso(&dir);
        command
            .env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints)
            .args(["listen", &file]);
        command
    };
    drop(Listening::spawn(
        listen(),
        dir.join("first.out"),
        "Listening to",
    ));
    // Large values, so that the backlog does not fit in the listener's queue and the socket
    // buffers: etcd is still sending history when it compacts.
    let backlog = 300;
    let sent: Vec<u32> = (0..backlog).collect();
    let filler = "a".repeat(20_000);
    for number in &sent {
        done(
            &aviso(&dir)
                .env("AVISO_NOTIFICATION_ENDPOINTS", &endpoints)
                .args([
                    "notify",
                    &format!("{FLIGHT},number=N{number},payload=k{number}-{filler}"),
                ])
                .output()
                .unwrap(),
        );
    }
    let out = dir.join("listen.out");
    let listener = Listening::spawn(listen(), out.clone(), "Listening to");
    listener.wait_for_output("\"payload\": \"k20-");
    etcd.compact_to_newest();
    let recovery = wait_for_all(&sent, std::slice::from_ref(&out), || listener.log());
    let outcome = tally(&sent, &[out]);
    assert_eq!(
        outcome.lost, 0,
        "lost, among others: {:?}; {outcome:?}",
        outcome.first_lost
    );
    let recovered = if listener.log().contains("was compacted") {
        "the watch reported the compaction; the current values were read"
    } else {
        "the history was already on its way"
    };
    report(
        "compaction during catch-up",
        &format!(
            "etcd compacted to its newest revision while a listener works through a backlog of 300 notifications of 20 KB, each key written once ({recovered})"
        ),
        1,
        &outcome,
        recovery,
    );
}
