//! aviso-auth against real etcd, with an authentication server (auth-o-tron) and ECPDS mocked
//! on loopback: pyaviso's messages and status codes, the S2 fix (every key a request selects is
//! checked), watches streamed and ended on SIGTERM, history, unavailable servers, caching, JWT
//! verification; then our `aviso listen` and pyaviso 1.0.1's listening through it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::*;

/// A request a mock received.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    headers: Vec<(String, String)>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// A loopback HTTP server answering every request with `respond` (or 500 while `failing`),
/// remembering what it received.
struct Mock {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    failing: Arc<AtomicBool>,
}

impl Mock {
    fn start(respond: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let respond = Arc::new(respond);
        let (record, fail) = (received.clone(), failing.clone());
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                let Ok(mut connection) = connection else {
                    continue;
                };
                let (record, fail, respond) = (record.clone(), fail.clone(), respond.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(connection.try_clone().unwrap());
                    let mut lines = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        lines.push(line.trim_end().to_string());
                    }
                    let target = lines
                        .first()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or("/")
                        .to_string();
                    let headers = lines
                        .iter()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
                        .collect();
                    let request = Received { target, headers };
                    record.lock().unwrap().push(request.clone());
                    let reply = if fail.load(Ordering::SeqCst) {
                        Reply {
                            status: 500,
                            headers: vec![],
                            body: "broken".into(),
                        }
                    } else {
                        respond(&request)
                    };
                    let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str(&format!(
                        "content-length: {}\r\nconnection: close\r\n\r\n",
                        reply.body.len()
                    ));
                    let _ = connection.write_all(head.as_bytes());
                    let _ = connection.write_all(reply.body.as_bytes());
                });
            }
        });
        Mock {
            port,
            received,
            failing,
        }
    }

    fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn calls_where(&self, test: impl Fn(&Received) -> bool) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| test(r))
            .count()
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

fn jwt(username: &str, secret: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"username": username, "realm": "test", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// auth-o-tron: `Bearer good-<user>` (or `Basic b64(<user>:pw)`) is `<user>`, with a JWT
/// signed with `secret`; `Bearer forged-<user>` gets one signed with another secret; anything
/// else is refused with the challenge `Bearer realm="test"`.
fn auth_o_tron(secret: &'static str) -> Mock {
    Mock::start(move |request| {
        let authorization = request.header("authorization").unwrap_or("");
        let basic = authorization
            .strip_prefix("Basic ")
            .map(|b| String::from_utf8(unb64(b)).unwrap_or_default());
        let user = match (authorization.strip_prefix("Bearer "), basic) {
            (Some(token), _) if token.starts_with("good-") => {
                Some((token["good-".len()..].to_string(), secret))
            }
            (Some(token), _) if token.starts_with("forged-") => {
                Some((token["forged-".len()..].to_string(), "forged"))
            }
            (_, Some(pair)) if pair.ends_with(":pw") => {
                Some((pair.trim_end_matches(":pw").to_string(), secret))
            }
            _ => None,
        };
        match (request.target.as_str(), user) {
            ("/authenticate", Some((user, secret))) => Reply {
                status: 200,
                headers: vec![(
                    "authorization".into(),
                    format!("Bearer {}", jwt(&user, secret)),
                )],
                body: "{}".into(),
            },
            _ => Reply {
                status: 401,
                headers: vec![("www-authenticate".into(), "Bearer realm=\"test\"".into())],
                body: "{\"error\": \"no\"}".into(),
            },
        }
    })
}

/// ECPDS: alice may read SCL, erin nothing; bob is unknown; carol's look-up fails.
fn ecpds() -> Mock {
    Mock::start(|request| {
        let expected = format!("Basic {}", b64("ecpds:secret"));
        if request.header("authorization") != Some(expected.as_str()) {
            return Reply {
                status: 401,
                headers: vec![],
                body: String::new(),
            };
        }
        let user = request.target.split("id=").nth(1).unwrap_or("");
        let body = match user {
            "alice" => json!({"success": "yes", "destinationList": [{"name": "SCL"}]}),
            "erin" => json!({"success": "yes", "destinationList": []}),
            "carol" => json!({"success": "no", "error": "Database unavailable"}),
            other => json!({"success": "no", "error": format!("User {other} not found")}),
        };
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    })
}

/// A running aviso-auth in front of `etcd_port`, with the mocks; `extra` is YAML merged over
/// the base configuration.
struct Proxy {
    server: Server,
    port: u16,
}

fn start_proxy(dir: &Path, etcd_port: u16, auth: &Mock, ecpds: &Mock, extra: &str) -> Proxy {
    let port = free_port();
    let base = dir.join(format!("auth-base-{port}.yaml"));
    std::fs::write(
        &base,
        format!(
            "authentication_server:\n  url: http://127.0.0.1:{auth}\n  retries: 2\n  retry_delay: 0.01\nauthorisation_server:\n  url: http://127.0.0.1:{ecpds}/\n  username: ecpds\n  password: secret\nbackend:\n  url: http://127.0.0.1:{etcd_port}\n  req_timeout: 10\nfrontend:\n  port: {port}\n",
            auth = auth.port,
            ecpds = ecpds.port,
        ),
    )
    .unwrap();
    let overlay = dir.join(format!("auth-{port}.yaml"));
    std::fs::write(&overlay, extra).unwrap();
    let mut command = server_command("aviso-auth", dir);
    command
        .env("AVISO_AUTH_CONFIG", &base)
        .arg("--config")
        .arg(&overlay);
    let server = Server::start(command, dir, &format!("auth-{port}"), port);
    Proxy { server, port }
}

impl Proxy {
    fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        let authorization = format!("Bearer {token}");
        http(
            self.port,
            "POST",
            path,
            &[("authorization", &authorization), ("x-auth-type", "ecmwf")],
            body.to_string().as_bytes(),
        )
    }

    fn range(&self, token: &str, body: &Value) -> Answer {
        self.post("/v3/kv/range", token, body)
    }

    fn metrics(&self) -> String {
        http(self.port, "GET", "/metrics", &[], b"").body
    }
}

/// A range body on `key`, to `end` when given.
fn range_of(key: &str, end: Option<&[u8]>) -> Value {
    match end {
        None => json!({"key": b64(key)}),
        Some(end) => json!({"key": b64(key), "range_end": b64(end)}),
    }
}

/// A prefix range, as listeners ask.
fn prefix(key: &str) -> Value {
    let mut end = key.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    range_of(key, Some(&end))
}

fn assert_message(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.json()["message"], message, "{answer:?}");
}

fn keys_of(answer: &Answer) -> Vec<String> {
    answer.json()["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| String::from_utf8(unb64(kv["key"].as_str().unwrap())).unwrap())
        .collect()
}

#[test]
fn auth_requests_are_authenticated_with_pyavisos_messages_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, "");
    let log = proxy.server.log();
    assert!(
        log.contains("trusted without verifying their signature"),
        "{log}"
    );
    assert!(
        log.contains("frontend.server_type (flask) and frontend.workers (1) are not used"),
        "{log}"
    );
    put(&etcd, "/ec/mars/date=1", "m1");
    let body = prefix("/ec/mars/").to_string();
    let ask = |headers: &[(&str, &str)]| {
        http(proxy.port, "POST", "/v3/kv/range", headers, body.as_bytes())
    };
    let refused = |headers: &[(&str, &str)], message: &str| {
        let answer = ask(headers);
        assert_message(&answer, 401, message);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"auth-o-tron\""),
            "{answer:?}"
        );
    };
    refused(&[], "Missing Authorization header");
    refused(
        &[("authorization", "Bearer good-alice")],
        "Missing X-Auth-Type header",
    );
    refused(
        &[("authorization", "good-alice"), ("x-auth-type", "ecmwf")],
        "Invalid Authorization header format",
    );
    refused(
        &[
            ("authorization", "Basic good-alice"),
            ("x-auth-type", "ecmwf"),
        ],
        "Unsupported authorization scheme",
    );
    refused(
        &[
            ("authorization", "Bearer good-alice"),
            ("x-auth-type", "plain"),
        ],
        "Unsupported authorization scheme",
    );
    refused(
        &[
            ("authorization", "Bearer good-alice"),
            ("x-auth-type", "kerberos"),
        ],
        "Unknown auth type: kerberos",
    );
    assert_eq!(auth.calls(), 0, "nothing was asked for malformed headers");

    // A token the authentication server refuses: its challenge is handed on.
    let answer = ask(&[("authorization", "Bearer bad"), ("x-auth-type", "ecmwf")]);
    assert_message(&answer, 401, "Invalid credentials or unauthorized token");
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"test\"")
    );

    // ecmwf, openid, plain and the legacy EmailKey.
    let plain = format!("Basic {}", b64("alice:pw"));
    for headers in [
        vec![
            ("authorization", "Bearer good-alice"),
            ("x-auth-type", "ecmwf"),
        ],
        vec![
            ("authorization", "Bearer good-alice"),
            ("x-auth-type", "openid"),
        ],
        vec![("authorization", plain.as_str()), ("x-auth-type", "plain")],
        vec![("authorization", "EmailKey alice@example.int:good-alice")],
    ] {
        let answer = ask(&headers);
        assert_eq!(answer.status, 200, "{headers:?}: {answer:?}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(keys_of(&answer), ["/ec/mars/date=1"]);
    }
    // The EmailKey request was the ecmwf token of the first: memoised, not asked again.
    let asked = |token: &str| {
        auth.calls_where(|r| r.header("authorization") == Some(&format!("Bearer {token}")))
    };
    assert_eq!(asked("good-alice"), 2, "ecmwf and openid are two entries");
    let before = auth.calls();
    for _ in 0..2 {
        assert_eq!(proxy.range("good-erin", &prefix("/ec/mars/")).status, 200);
    }
    assert_eq!(
        auth.calls(),
        before + 1,
        "the second was answered from memory"
    );
    // Another client address is another entry.
    let answer = http(
        proxy.port,
        "POST",
        "/v3/kv/range",
        &[
            ("authorization", "Bearer good-erin"),
            ("x-auth-type", "ecmwf"),
            ("x-forwarded-for", "192.0.2.7"),
        ],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(auth.calls(), before + 2);

    let metrics = proxy.metrics();
    for line in [
        "aviso_auth_authentications_total{outcome=\"cached\"} 2",
        "aviso_auth_authentications_total{outcome=\"denied\"} 7",
        "aviso_auth_authorisations_total{outcome=\"allowed\"} 7",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // Unknown routes and methods answer JSON; /health answers.
    let answer = http(proxy.port, "POST", "/v3/kv/put", &[], b"{}");
    assert_message(&answer, 404, "Server error occurred");
    let answer = http(proxy.port, "GET", "/v3/kv/range", &[], b"");
    assert_message(&answer, 405, "Server error occurred");
    assert_eq!(http(proxy.port, "GET", "/health", &[], b"").status, 200);
}

#[test]
fn auth_every_key_a_request_selects_is_authorised() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, "");
    put(&etcd, "/ec/diss/SCL", "{\"status\": 1}");
    put(&etcd, "/ec/diss/SCL/date=1", "scl");
    put(&etcd, "/ec/diss/SCL-2/date=1", "scl-2");
    put(&etcd, "/ec/diss/FOO/date=1", "foo");
    put(&etcd, "/ec/marsh/date=1", "next to mars");
    put(&etcd, "/ec/mars/date=1", "mars");

    // Bodies: pyaviso's 400s, and fields etcd would read that the check would not.
    let raw = |body: &[u8]| {
        http(
            proxy.port,
            "POST",
            "/v3/kv/range",
            &[
                ("authorization", "Bearer good-alice"),
                ("x-auth-type", "ecmwf"),
            ],
            body,
        )
    };
    assert_message(&raw(b""), 400, "Invalid request, Body cannot be empty");
    assert_message(
        &raw(b"not json"),
        400,
        "Invalid request, Body cannot be empty",
    );
    assert_message(
        &proxy.range("good-alice", &json!({"keyyy": b64("/ec/diss/SCL/")})),
        400,
        "Invalid request, unknown field keyyy",
    );
    assert_message(
        &proxy.range("good-alice", &json!({"limit": 1})),
        400,
        "Invalid request, key not found in the body",
    );

    // alice reads SCL's keys, its status key, the open prefixes.
    let answer = proxy.range("good-alice", &prefix("/ec/diss/SCL/"));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(keys_of(&answer), ["/ec/diss/SCL/date=1"]);
    let answer = proxy.range("good-alice", &range_of("/ec/diss/SCL", None));
    assert_eq!(keys_of(&answer), ["/ec/diss/SCL"]);
    let answer = proxy.range("good-alice", &prefix("/ec/mars/"));
    assert_eq!(keys_of(&answer), ["/ec/mars/date=1"]);
    // pyaviso's poll body, nulls included.
    let answer = proxy.range(
        "good-alice",
        &json!({"key": b64("/ec/diss/SCL/"), "range_end": b64("/ec/diss/SCL0"), "limit": 10000, "sort_order": "DESCEND", "sort_target": "KEY", "keys_only": false, "revision": null, "min_mod_revision": 1, "max_mod_revision": null}),
    );
    assert_eq!(keys_of(&answer), ["/ec/diss/SCL/date=1"], "{answer:?}");

    // Another destination, and S2: a start inside SCL with an end past it.
    let forbidden = |body: Value| {
        assert_message(
            &proxy.range("good-alice", &body),
            403,
            "User not allowed to access the resource",
        );
    };
    forbidden(prefix("/ec/diss/FOO/"));
    forbidden(range_of("/ec/diss/FOO/date=1", None));
    forbidden(range_of("/ec/diss/SCL", Some(b"/ec/diss0")));
    forbidden(range_of("/ec/diss/SCL/", Some(b"\0")));
    forbidden(range_of("/ec/diss/SCL", Some(b"/ec/diss/SCL0"))); // takes in SCL-2
    forbidden(json!({"key": b64("/ec/diss/SCL/"), "rangeEnd": b64("/ec/diss0")}));
    forbidden(range_of("/ec/mars", Some(b"/ec/mart\x00")));
    forbidden(range_of("/ec/mars/", Some(b"\0")));
    forbidden(prefix("/ec/"));
    forbidden(prefix("/"));
    forbidden(range_of("/ec/admin/history", None));

    // A revision probe outside the user's keys (our client's): the revision, no keys.
    for probe in [
        json!({"key": b64("/"), "keys_only": true}),
        json!({"key": b64("/ec/diss/FOO/"), "count_only": true}),
    ] {
        let answer = proxy.range("good-alice", &probe);
        assert_eq!(answer.status, 200, "{answer:?}");
        let json = answer.json();
        assert!(json["header"]["revision"].as_str().is_some(), "{json}");
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
    }

    // ECPDS: memoised per user; unknown users 404, its other errors 500.
    let asked = |user: &str| ecpds.calls_where(|r| r.target.ends_with(&format!("id={user}")));
    assert_eq!(asked("alice"), 1, "alice's destinations were asked once");
    let answer = proxy.range("good-bob", &prefix("/ec/diss/SCL/"));
    assert_message(
        &answer,
        404,
        "Error in retrieving destinations for bob, User bob not found",
    );
    let answer = proxy.range("good-carol", &prefix("/ec/diss/SCL/"));
    assert_message(
        &answer,
        500,
        "Error in retrieving destinations for carol, please contact the support team",
    );
    // An open key needs no destinations.
    assert_eq!(proxy.range("good-bob", &prefix("/ec/mars/")).status, 200);
    assert_eq!(asked("bob"), 1);

    let metrics = proxy.metrics();
    for line in [
        "aviso_auth_authorisations_total{outcome=\"forbidden\"} 11",
        "aviso_auth_authorisations_total{outcome=\"revision_only\"} 2",
        "aviso_auth_upstream_errors_total{upstream=\"authorisation\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// Reads a watch stream on `stream` until `done` holds for what came (dechunked).
fn read_stream_until(stream: &mut TcpStream, raw: &mut Vec<u8>, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&dechunked(raw)).into_owned();
        if done(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "waited on the watch; got {text}");
        match stream.read(&mut buffer) {
            Ok(0) => panic!("the watch ended; got {text}"),
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}; got {text}"),
        }
    }
}

/// The body of a chunked answer received so far (head included as is).
fn dechunked(raw: &[u8]) -> Vec<u8> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return raw.to_vec();
    };
    let mut out = raw[..split + 4].to_vec();
    let mut data = &raw[split + 4..];
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
        else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || data.len() < start + size {
            out.extend_from_slice(&data[start.min(data.len())..]);
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

#[test]
fn auth_watches_stream_what_the_user_may_read_and_end_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let mut proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, "");
    let create = |key: &str, end: &[u8]| json!({"create_request": {"key": b64(key), "range_end": b64(end), "start_revision": revision(&etcd) + 1, "progress_notify": true}});
    assert_message(
        &proxy.post(
            "/v3/watch",
            "good-alice",
            &create("/ec/diss/FOO/", b"/ec/diss/FOO0"),
        ),
        403,
        "User not allowed to access the resource",
    );
    assert_message(
        &proxy.post(
            "/v3/watch",
            "good-alice",
            &create("/ec/diss/SCL/", b"/ec/diss0"),
        ),
        403,
        "User not allowed to access the resource",
    );
    assert_message(
        &proxy.post(
            "/v3/watch",
            "good-alice",
            &json!({"cancel_request": {"watch_id": 0}}),
        ),
        400,
        "Invalid request, the body must be one create_request",
    );
    let two = format!(
        "{}{}",
        create("/ec/diss/SCL/", b"/ec/diss/SCL0"),
        create("/", b"\0")
    );
    let answer = http(
        proxy.port,
        "POST",
        "/v3/watch",
        &[
            ("authorization", "Bearer good-alice"),
            ("x-auth-type", "ecmwf"),
        ],
        two.as_bytes(),
    );
    assert_eq!(answer.status, 400, "{answer:?}");

    // A watch alice may have: its creation, then what is written under SCL, not elsewhere.
    let body = create("/ec/diss/SCL/", b"/ec/diss/SCL0").to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        stream,
        "POST /v3/watch HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer good-alice\r\nx-auth-type: ecmwf\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    read_stream_until(&mut stream, &mut raw, |text| {
        text.contains("\"created\":true")
    });
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    wait_until(
        Duration::from_secs(30),
        || proxy.metrics().contains("aviso_auth_open_watches 1"),
        || proxy.metrics(),
    );
    put(&etcd, "/ec/diss/FOO/date=2", "not for alice");
    put(&etcd, "/ec/diss/SCL/date=2", "for alice");
    let written = b64("/ec/diss/SCL/date=2");
    read_stream_until(&mut stream, &mut raw, |text| text.contains(&written));
    assert!(!String::from_utf8_lossy(&raw).contains(&b64("/ec/diss/FOO/date=2")));

    // SIGTERM: the watch ends and the server stops, without waiting for etcd.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(proxy.server.process.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the watch did not end on SIGTERM"
        );
    }
    assert!(raw.ends_with(b"0\r\n\r\n"), "the stream ended properly");
    assert_eq!(
        exit_of(&mut proxy.server.process),
        Some(0),
        "{}",
        proxy.server.log()
    );
    assert!(proxy.server.log().contains("aviso-auth stopped"));
}

#[test]
fn auth_compacted_history_is_history_not_available() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, "");
    put(&etcd, "/ec/mars/date=1", "first");
    let old = revision(&etcd);
    put(&etcd, "/ec/mars/date=1", "second");
    etcd.compact_to_newest();
    let answer = proxy.range(
        "good-alice",
        &json!({"key": b64("/ec/mars/date=1"), "revision": old}),
    );
    assert_message(&answer, 400, "History not available");
    // etcd's gRPC code too, which our client reads.
    assert_eq!(answer.json()["code"], 11, "{answer:?}");
    let answer = proxy.range("good-alice", &range_of("/ec/mars/date=1", None));
    assert_eq!(answer.status, 200);
    assert_eq!(
        unb64(answer.json()["kvs"][0]["value"].as_str().unwrap()),
        b"second"
    );
}

#[test]
fn auth_servers_that_fail_are_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    // No cache: every request asks both servers.
    let proxy = start_proxy(
        dir.path(),
        etcd.port,
        &auth,
        &ecpds,
        "cache:\n  CACHE_TYPE: \"null\"\n",
    );
    let unavailable = |answer: &Answer| {
        assert_message(
            answer,
            503,
            "Service currently unavailable, please try again later",
        );
        assert_eq!(answer.header("retry-after"), Some("30"), "{answer:?}");
    };
    assert_eq!(
        proxy.range("good-alice", &prefix("/ec/diss/SCL/")).status,
        200
    );
    assert_eq!(
        proxy.range("good-alice", &prefix("/ec/diss/SCL/")).status,
        200
    );
    assert_eq!(auth.calls(), 2, "nothing memoised with CACHE_TYPE null");
    assert_eq!(ecpds.calls(), 2);

    // The authentication server fails: the first try and the 2 retries configured, then 503.
    auth.fail(true);
    let before = auth.calls();
    unavailable(&proxy.range("good-alice", &prefix("/ec/mars/")));
    assert_eq!(auth.calls(), before + 3);
    auth.fail(false);

    // ECPDS fails.
    ecpds.fail(true);
    unavailable(&proxy.range("good-alice", &prefix("/ec/diss/SCL/")));
    ecpds.fail(false);

    // etcd is gone.
    etcd.kill();
    unavailable(&proxy.range("good-alice", &prefix("/ec/mars/")));
    let metrics = proxy.metrics();
    for upstream in ["authentication", "authorisation", "backend"] {
        assert!(
            metrics.contains(&format!(
                "aviso_auth_upstream_errors_total{{upstream=\"{upstream}\"}} 1"
            )),
            "{upstream} in {metrics}"
        );
    }
    assert!(
        metrics.contains("aviso_auth_authentications_total{outcome=\"unavailable\"} 1"),
        "{metrics}"
    );
}

#[test]
fn auth_jwts_are_verified_when_a_key_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("right-secret"), ecpds());
    let key = dir.path().join("jwt.key");
    std::fs::write(&key, "right-secret\n").unwrap();
    let proxy = start_proxy(
        dir.path(),
        etcd.port,
        &auth,
        &ecpds,
        &format!(
            "authentication_server:\n  jwt_key: {}\n  jwt_algorithm: HS256\n",
            key.display()
        ),
    );
    assert!(!proxy.server.log().contains("without verifying"));
    assert_eq!(proxy.range("good-alice", &prefix("/ec/mars/")).status, 200);
    let answer = proxy.range("forged-alice", &prefix("/ec/mars/"));
    assert_message(&answer, 401, "Invalid credentials or unauthorized token");
    assert!(
        proxy.server.log().contains("InvalidSignature"),
        "{}",
        proxy.server.log()
    );
}

#[test]
fn auth_configuration_errors_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.yaml");
    let run = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let out = server_command("aviso-auth", dir.path())
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, text) = run("frontend:\n  port: 0\n");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "authorisation_server.username and authorisation_server.password must be set"
        ),
        "{text}"
    );
    let (code, text) = run(
        "authorisation_server:\n  protected_keys: []\nauthentication_server:\n  jwt_key: /nowhere/key\n",
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("authentication_server.jwt_key: cannot read /nowhere/key"),
        "{text}"
    );
    let (code, text) = run("authorisation_server:\n  protected_keys: []\nfrontend:\n  prot: 1\n");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown field `prot`"), "{text}");
}

const DISS: &str = "event=dissemination,destination=SCL,target=E1,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101";

/// A home with ECMWF's schema (dissemination under `/ec/diss/{destination}`), alice's token,
/// and listener files for SCL and FOO.
fn listener_home(root: &Path, name: &str) -> PathBuf {
    let home = root.join(name);
    let folder = home.join(".aviso/service_configuration");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/ecmwf/expanded_event_listener_schema.json"),
        folder.join("event_listener_schema.json"),
    )
    .unwrap();
    std::fs::write(home.join("key"), "good-alice\n").unwrap();
    for destination in ["SCL", "FOO"] {
        std::fs::write(
            home.join(format!("{destination}.yaml")),
            format!(
                "listeners:\n  - event: dissemination\n    request:\n      destination: {destination}\n    triggers:\n      - type: echo\n"
            ),
        )
        .unwrap();
    }
    home
}

/// `program listen <destination>.yaml` through the proxy, as alice with auth_type ecmwf.
fn listen_through(
    mut command: std::process::Command,
    home: &Path,
    proxy: &Proxy,
    destination: &str,
) -> std::process::Command {
    command
        .env("HOME", home)
        .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
        .env("AVISO_NOTIFICATION_PORT", proxy.port.to_string())
        .env("AVISO_AUTH_TYPE", "ecmwf")
        .env("AVISO_USERNAME", "alice")
        .env("AVISO_KEY_FILE", home.join("key"))
        .env("AVISO_POLLING_INTERVAL", "1")
        .env("AVISO_AUTOMATIC_RETRY_DELAY", "1")
        .env("PYTHONUNBUFFERED", "1")
        .args(["listen", &format!("{}/{destination}.yaml", home.display())]);
    command
}

/// Waits until the process ends; its exit status.
fn exit_of(listening: &mut Listening) -> Option<i32> {
    let log = listening.out.with_extension("err");
    let mut status = None;
    wait_until(
        Duration::from_secs(60),
        || {
            status = listening.child.try_wait().unwrap();
            status.is_some()
        },
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    status.unwrap().code()
}

/// How many requests the proxy let through to etcd.
fn allowed(proxy: &Proxy) -> u64 {
    proxy
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix("aviso_auth_authorisations_total{outcome=\"allowed\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn auth_listeners_listen_through_the_proxy_to_their_destinations_only() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, "");
    // Notifications are written straight to etcd (the proxy only reads).
    let notify = |home: &Path, location: &str| {
        let out = aviso_command(home)
            .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
            .env("AVISO_NOTIFICATION_PORT", etcd.port.to_string())
            .args(["notify", &format!("{DISS},location={location}")])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Done\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // Ours watches through the proxy.
    let home = listener_home(dir.path(), "ours");
    let ours = listen_through(aviso_command(&home), &home, &proxy, "SCL");
    let listener = Listening::spawn(ours, home.join("scl.out"), "Listening to");
    notify(&home, "s3://bucket/from-etcd");
    listener.wait_for_output("s3://bucket/from-etcd");
    // It asked the store's revision through its own base key, as pyaviso does (so it also
    // works through a proxy that refuses everything else, as ECMWF's).
    assert!(
        !proxy.metrics().contains("outcome=\"revision_only\""),
        "{}",
        proxy.metrics()
    );
    assert!(
        proxy.metrics().contains("aviso_auth_open_watches 1"),
        "{}",
        proxy.metrics()
    );
    // FOO is not alice's: refused, and said so.
    let foo = listen_through(aviso_command(&home), &home, &proxy, "FOO");
    let mut refused = Listening::spawn(
        foo,
        home.join("foo.out"),
        "User not allowed to access the resource",
    );
    let code = exit_of(&mut refused);
    let log = refused.log();
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("User not allowed to access the resource"),
        "{log}"
    );
    drop(listener);

    // pyaviso 1.0.1 polls kv/range through the proxy the same way.
    let Some(python) = pyaviso() else { return };
    let home = listener_home(dir.path(), "theirs");
    let theirs = listen_through(std::process::Command::new(&python), &home, &proxy, "SCL");
    let before = allowed(&proxy);
    let listener = Listening::spawn(theirs, home.join("scl.out"), "Listening to");
    // pyaviso starts after the revision it reads once listening: wait for that and a poll.
    wait_until(
        Duration::from_secs(30),
        || allowed(&proxy) >= before + 2,
        || listener.log(),
    );
    notify(&home, "s3://bucket/for-pyaviso");
    listener.wait_for_output("s3://bucket/for-pyaviso");
    let foo = listen_through(std::process::Command::new(&python), &home, &proxy, "FOO");
    // pyaviso says the status only: "403 Client Error: FORBIDDEN".
    let mut refused = Listening::spawn(foo, home.join("foo.out"), "403");
    let code = exit_of(&mut refused);
    assert_eq!(code, Some(255), "{}", refused.log());
}

#[test]
fn auth_sends_pyavisos_telemetry_when_monitoring_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (auth, ecpds) = (auth_o_tron("unused"), ecpds());
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let extra = format!(
        "authentication_server:\n  monitor: true\nauthorisation_server:\n  monitor: true\nbackend:\n  monitor: true\nmonitoring:\n  enabled: true\n  transmitter:\n    monitoring_server_port: {}\n    frequency: 0.2\n",
        receiver.local_addr().unwrap().port()
    );
    let proxy = start_proxy(dir.path(), etcd.port, &auth, &ecpds, &extra);
    for _ in 0..2 {
        assert_eq!(
            proxy.range("good-alice", &prefix("/ec/diss/SCL/")).status,
            200
        );
    }
    // The response times (with authentication, authorisation and backend parts) and the users
    // arrive, in the form aviso-monitoring's receiver takes.
    let (mut times, mut parts, mut users) = (0, [0u64; 3], Vec::new());
    let mut buffer = [0u8; 65536];
    while times < 2 || users.is_empty() {
        let size = receiver.recv(&mut buffer).expect("a telemetry datagram");
        let datagram: Value = serde_json::from_slice(&buffer[..size]).unwrap();
        assert_eq!(datagram["component_name"], "aviso-auth", "{datagram}");
        assert!(datagram["time"].as_f64().unwrap() > 0.0);
        let telemetry = &datagram["telemetry"];
        match datagram["telemetry_type"].as_str().unwrap() {
            "auth_resp_time" => {
                times += telemetry["auth_resp_time_counter"].as_u64().unwrap();
                for (count, part) in parts.iter_mut().zip(["att", "ats", "be"]) {
                    *count += telemetry[format!("auth_resp_time_{part}_counter")]
                        .as_u64()
                        .unwrap_or(0);
                }
            }
            "auth_users_counter" => {
                users.extend(
                    telemetry["auth_users_counter_values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|u| u.as_str().unwrap().to_string()),
                );
            }
            other => panic!("telemetry of type {other}: {datagram}"),
        }
    }
    assert_eq!(times, 2);
    assert!(parts.iter().all(|count| *count > 0), "{parts:?}");
    assert_eq!(users, ["alice"]);
}
