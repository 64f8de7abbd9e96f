//! Helpers of the servers' end-to-end tests: real etcd (the host's test helpers, shared by
//! path), the binaries, servers started and stopped by PID.
#![allow(dead_code)]

#[path = "../../../../host/tests/integration/common/certificates.rs"]
pub mod certificates;
#[path = "../../../../host/tests/integration/common/etcd.rs"]
pub mod etcd;
#[path = "../../../../host/tests/integration/common/listening.rs"]
pub mod listening;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use etcd::{Etcd, etcd_post};
pub use listening::Listening;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command for a binary of this crate (`aviso-rest`, `aviso-auth`, `aviso-admin`), without
/// the `AVISO_*` variables of whoever runs the tests, with `home` as its home.
pub fn server_command(binary: &str, home: &Path) -> Command {
    let program = match binary {
        "aviso-rest" => env!("CARGO_BIN_EXE_aviso-rest"),
        "aviso-auth" => env!("CARGO_BIN_EXE_aviso-auth"),
        "aviso-admin" => env!("CARGO_BIN_EXE_aviso-admin"),
        other => panic!("no binary {other}"),
    };
    clean(Command::new(program), home)
}

/// The `aviso` client binary of the workspace (built by `cargo test --workspace`, or
/// `cargo build -p aviso`), beside this test's directory.
pub fn aviso_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).unwrap();
    let aviso = target.join("aviso");
    assert!(
        aviso.exists(),
        "{} is missing: build it first with `cargo build -p aviso`",
        aviso.display()
    );
    aviso
}

pub fn aviso_command(home: &Path) -> Command {
    clean(Command::new(aviso_binary()), home)
}

fn clean(mut command: Command, home: &Path) -> Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("AVISO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("HOME", home);
    command
}

/// pyaviso 1.0.1's `aviso` (`PYAVISO_BIN`, set by `scripts/test.sh`). Without it the pyaviso
/// half of a test is skipped locally, and fails under CI.
pub fn pyaviso() -> Option<PathBuf> {
    match std::env::var_os("PYAVISO_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("PYAVISO_BIN must point to pyaviso's `aviso` under CI")
        }
        None => {
            eprintln!("PYAVISO_BIN not set: skipping the comparison with pyaviso");
            None
        }
    }
}

pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, failure: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{}", failure());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a new connection, read to its end (`connection: close`).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
}

/// A server process started by a test, stopped (SIGTERM, then waited for) when dropped.
pub struct Server {
    pub process: Listening,
    pub port: u16,
}

impl Server {
    /// Starts `command`, which serves on `port`, and waits for its `listening on` line.
    pub fn start(command: Command, dir: &Path, name: &str, port: u16) -> Server {
        let process = Listening::spawn(command, dir.join(format!("{name}.out")), "listening on");
        Server { process, port }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A key and value written straight to etcd's gateway (test set-up).
pub fn put(etcd: &Etcd, key: &str, value: &str) {
    let body = serde_json::json!({"key": b64(key), "value": b64(value)}).to_string();
    let answer = etcd_post(etcd, "kv/put", &body, None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The keys under `prefix`, read from etcd's gateway.
pub fn keys_under(etcd: &Etcd, prefix: &str) -> Vec<String> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let body = serde_json::json!({"key": b64(prefix), "range_end": b64(end), "keys_only": true})
        .to_string();
    let answer = etcd_post(etcd, "kv/range", &body, None);
    let json: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| String::from_utf8(unb64(kv["key"].as_str().unwrap())).unwrap())
        .collect()
}

/// The value of a key, read from etcd's gateway.
pub fn value_of(etcd: &Etcd, key: &str) -> Option<String> {
    let body = serde_json::json!({"key": b64(key)}).to_string();
    let answer = etcd_post(etcd, "kv/range", &body, None);
    let json: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json["kvs"]
        .as_array()?
        .first()
        .map(|kv| String::from_utf8(unb64(kv["value"].as_str().unwrap_or(""))).unwrap())
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// etcd's current revision.
pub fn revision(etcd: &Etcd) -> u64 {
    let answer = etcd_post(etcd, "kv/range", r#"{"key": "Lw==", "limit": 1}"#, None);
    let json: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json["header"]["revision"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}
