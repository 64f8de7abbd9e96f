//! Notifiers writing one base key at once, as separate `aviso notify` processes, keep one chain
//! of status records (each linked to the one before it, none skipped), on etcd through either
//! engine and on the embedded store; and a notification whose answer is lost on the way back
//! is written once, not again.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::etcd::Etcd;
use aviso::schema::Schema;
use aviso::store::{EtcdAuth, EtcdRest, FileStore, KeyValue, Store};

const NOTIFIERS: usize = 4;
const EACH: usize = 25;

/// The flight notification for flight `AZ<number>`, with a payload naming it.
fn flight(number: usize) -> String {
    format!(
        "event=flight,country=Italy,airport=fco,date=20210101,number=AZ{number},payload=p{number}"
    )
}

/// The base key (where the status is kept) of the flight notifications.
fn base(engine: &str) -> String {
    common::flight_number("AZ1")
        .keys(&Schema::default_schema(), engine)
        .unwrap()
        .base
}

fn notify(mut command: Command, options: &[&str], parameters: &str) -> Output {
    command
        .arg("notify")
        .args(options)
        .arg(parameters)
        .output()
        .unwrap()
}

fn assert_done(out: &Output, what: &str) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Done\n",
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `NOTIFIERS` threads, each running `EACH` `aviso notify` one after the other, all at once;
/// every notification is of another flight, all under one base key.
fn notify_concurrently(command: impl Fn() -> Command + Sync, options: &[&str]) {
    let barrier = std::sync::Barrier::new(NOTIFIERS);
    std::thread::scope(|scope| {
        for notifier in 0..NOTIFIERS {
            let (command, barrier) = (&command, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for i in 0..EACH {
                    let parameters = flight(notifier * EACH + i);
                    assert_done(&notify(command(), options, &parameters), &parameters);
                }
            });
        }
    });
}

fn prev_rev(status: &[u8]) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_slice(status)
        .unwrap_or_else(|e| panic!("status {}: {e}", String::from_utf8_lossy(status)));
    json.get("prev_rev").map(|rev| rev.as_u64().unwrap())
}

/// Checks the chain as `--from/--to` replay walks it: from the newest status back through
/// `prev_rev`, every status is the one written with a notification (`statuses`: the status
/// written at each revision), and the walk reaches every notification, each once. (A replay of
/// a window around all of them would deliver them all even from a forked chain, since it replays
/// every key written between the window's ends: a fork moves the ends of narrower windows.)
fn assert_one_chain(
    newest: &KeyValue,
    statuses: &HashMap<u64, Vec<u8>>,
    notifications: &[KeyValue],
) {
    let mut chain = vec![newest.mod_revision];
    let mut link = prev_rev(&newest.value);
    while let Some(revision) = link {
        let status = statuses.get(&revision).unwrap_or_else(|| {
            panic!(
                "the status at {} links to revision {revision}, where no notification was written",
                chain.last().unwrap()
            )
        });
        chain.push(revision);
        link = prev_rev(status);
    }
    chain.reverse();
    let mut written: Vec<u64> = notifications.iter().map(|kv| kv.mod_revision).collect();
    written.sort();
    assert_eq!(written.len(), NOTIFIERS * EACH, "{notifications:?}");
    assert!(
        written.windows(2).all(|w| w[0] < w[1]),
        "two notifications in one transaction: {written:?}"
    );
    assert_eq!(
        chain, written,
        "the chain of statuses (left) misses notifications (right): it forked"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn etcd_store(port: u16) -> Store {
    Store::EtcdRest(EtcdRest::new(
        &[("127.0.0.1".into(), port)],
        false,
        None,
        EtcdAuth::None,
    ))
}

/// The notifications under `base` on etcd and the status written with each.
async fn etcd_history(
    store: &Store,
    base: &str,
) -> (KeyValue, HashMap<u64, Vec<u8>>, Vec<KeyValue>) {
    let newest = store.get(base).await.unwrap().expect("a status");
    let notifications: Vec<KeyValue> = store
        .list(base, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|kv| kv.key != base)
        .collect();
    let mut statuses = HashMap::new();
    for notification in &notifications {
        let revision = notification.mod_revision;
        let status = store.get_at(base, revision).await.unwrap().unwrap();
        if status.mod_revision == revision {
            statuses.insert(revision, status.value);
        }
    }
    (newest, statuses, notifications)
}

fn etcd_command(home: &Path, port: u16, engine: &str) -> Command {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    command
        .env("HOME", home)
        .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
        .env("AVISO_NOTIFICATION_PORT", port.to_string())
        .env("AVISO_NOTIFICATION_ENGINE", engine);
    command
}

#[test]
fn concurrent_notifiers_keep_one_status_chain_on_etcd() {
    for engine in ["etcd_rest", "etcd_grpc"] {
        let etcd = Etcd::start();
        let home = tempfile::tempdir().unwrap();
        notify_concurrently(|| etcd_command(home.path(), etcd.port, engine), &[]);
        let base = base(engine);
        let (newest, statuses, notifications) =
            runtime().block_on(etcd_history(&etcd_store(etcd.port), &base));
        assert_one_chain(&newest, &statuses, &notifications);
        // Each notification was written once.
        assert!(
            notifications.iter().all(|kv| kv.version == 1),
            "{engine}: {notifications:?}"
        );
        assert_eq!(newest.version as usize, NOTIFIERS * EACH, "{engine}");
    }
}

#[test]
fn concurrent_notifiers_keep_one_status_chain_on_the_embedded_store() {
    let home = tempfile::tempdir().unwrap();
    notify_concurrently(
        || {
            let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
            command.env("HOME", home.path());
            command
        },
        &["--test"],
    );
    let base = base("file_based");
    let store = FileStore::open(&home.path().join(".aviso/file_based/store.sqlite")).unwrap();
    // The embedded store keeps every write: the statuses are its history of the base key.
    let (statuses, notifications): (Vec<KeyValue>, Vec<KeyValue>) = store
        .changes_since(&base, 0)
        .unwrap()
        .into_iter()
        .partition(|kv| kv.key == base);
    let newest = store.get(&base).unwrap().unwrap();
    let statuses = statuses
        .into_iter()
        .map(|kv| (kv.mod_revision, kv.value))
        .collect();
    assert_one_chain(&newest, &statuses, &notifications);
}

/// What the proxy does with etcd's answer to the first transaction.
#[derive(Clone, Copy, Debug)]
enum Loss {
    /// Answers 503 instead (a proxy or load balancer giving up).
    ServiceUnavailable,
    /// Closes the connection without an answer.
    Hangup,
}

/// A proxy in front of etcd's gateway, one request per connection, that forwards every
/// request but loses etcd's answer to the first `/v3/kv/txn` as `loss` says. Returns its port
/// and how many transactions it forwarded.
fn lossy_proxy(etcd_port: u16, loss: Loss) -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let transactions = Arc::new(AtomicUsize::new(0));
    let counted = transactions.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let counted = counted.clone();
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
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut upstream = std::net::TcpStream::connect(("127.0.0.1", etcd_port)).unwrap();
                let request = format!(
                    "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
                );
                upstream.write_all(request.as_bytes()).unwrap();
                upstream.write_all(&body).unwrap();
                let mut answer = Vec::new();
                upstream.read_to_end(&mut answer).unwrap();
                if path == "/v3/kv/txn" && counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    // etcd has applied it; the notifier never hears so.
                    match loss {
                        Loss::ServiceUnavailable => {
                            let _ = client.write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            );
                        }
                        Loss::Hangup => {}
                    }
                    return;
                }
                let _ = client.write_all(&answer);
            });
        }
    });
    (port, transactions)
}

#[test]
fn a_notification_whose_answer_is_lost_is_written_once() {
    for loss in [Loss::ServiceUnavailable, Loss::Hangup] {
        let etcd = Etcd::start();
        let home = tempfile::tempdir().unwrap();
        let base = base("etcd_rest");
        let store = etcd_store(etcd.port);
        let runtime = runtime();
        // Once on a fresh base (the status absent), once over an existing status.
        for (round, number) in [(1, 7), (2, 8)] {
            let (port, transactions) = lossy_proxy(etcd.port, loss);
            let parameters = flight(number);
            let out = notify(
                etcd_command(home.path(), port, "etcd_rest"),
                &[],
                &parameters,
            );
            assert_done(&out, &format!("{loss:?}"));
            assert!(
                transactions.load(Ordering::SeqCst) >= 1,
                "{loss:?}: no transaction went through the proxy"
            );
            let key = common::flight_number(&format!("AZ{number}"))
                .keys(&Schema::default_schema(), "etcd_rest")
                .unwrap()
                .key;
            let written = runtime.block_on(store.get(&key)).unwrap().unwrap();
            assert_eq!(
                (written.value.as_slice(), written.version),
                (format!("p{number}").as_bytes(), 1),
                "{loss:?}: the notification was written more than once"
            );
            let status = runtime.block_on(store.get(&base)).unwrap().unwrap();
            assert_eq!(
                status.version, round,
                "{loss:?}: the status was written more than once per notification"
            );
        }
        let (newest, statuses, notifications) = runtime.block_on(etcd_history(&store, &base));
        assert_eq!(notifications.len(), 2);
        let mut chain = vec![newest.mod_revision];
        let mut link = prev_rev(&newest.value);
        while let Some(revision) = link {
            chain.push(revision);
            link = prev_rev(&statuses[&revision]);
        }
        assert_eq!(chain.len(), 2, "{loss:?}: {chain:?}");
    }
}

/// One client notifying many base keys at once (a server such as aviso-rest): notifications of
/// several base keys share transactions, and each base key still has one chain of statuses
/// that reaches every one of its notifications.
#[test]
fn one_client_writes_many_base_keys_in_shared_transactions_with_one_chain_each() {
    const BASES: usize = 20;
    const PER_BASE: usize = 15;
    let etcd = Etcd::start();
    let mut settings = aviso::config::Settings::defaults();
    settings.notification_engine.engine.port = etcd.port;
    settings.notification_engine.engine.host = "127.0.0.1".into();
    settings.notification_engine.endpoints = vec![("127.0.0.1".into(), etcd.port)];
    // ECMWF's dissemination event: a base key per destination.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    let schema = Schema::from_json(&std::fs::read_to_string(&path).unwrap(), "ecmwf").unwrap();
    let client = aviso::Aviso::with_schema(settings, schema);
    let parameters = |base: usize, i: usize| {
        aviso::notification::parse_parameters(&format!(
            "event=dissemination,destination=D{base},target=E1,class=od,expver=1,domain=g,time=0,stream=enfo,step={i},date=20210101,location=p{base}-{i}"
        ))
        .unwrap()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..PER_BASE {
            for base in 0..BASES {
                let (client, parameters) = (client.clone(), parameters(base, i));
                tasks.spawn(async move { client.notify(&parameters).await });
            }
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap_or_else(|e| panic!("{e}"));
        }
    });
    let store = etcd_store(etcd.port);
    let mut revisions_by_base = Vec::new();
    for base in 0..BASES {
        let mut without_payload = parameters(base, 0);
        without_payload.retain(|(name, _)| name != "location");
        let key = client.key(&without_payload).unwrap();
        let (newest, statuses, notifications) = runtime.block_on(etcd_history(&store, &key.base));
        assert_eq!(notifications.len(), PER_BASE, "{}", key.base);
        let mut written: Vec<u64> = notifications.iter().map(|kv| kv.mod_revision).collect();
        written.sort();
        written.dedup();
        // From the newest status back, every transaction that wrote this base is linked once.
        let mut chain = vec![newest.mod_revision];
        let mut link = prev_rev(&newest.value);
        while let Some(revision) = link {
            chain.push(revision);
            link = prev_rev(
                statuses
                    .get(&revision)
                    .unwrap_or_else(|| panic!("{}: a link to {revision}", key.base)),
            );
        }
        chain.reverse();
        assert_eq!(chain, written, "{}: the chain forked", key.base);
        revisions_by_base.push(written);
    }
    // Transactions were shared: some revision wrote notifications of several base keys.
    let shared = revisions_by_base[0]
        .iter()
        .any(|revision| revisions_by_base[1..].iter().any(|r| r.contains(revision)));
    assert!(
        shared,
        "no transaction wrote two base keys: {revisions_by_base:?}"
    );
}
