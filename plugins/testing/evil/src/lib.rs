//! A hostile plugin for the sandbox tests. Its config's `attack` names what it tries; it
//! returns `Ok` only if the attack succeeded, so a test asserts that it failed.

use std::hint::black_box;
use std::io::Write;

use aviso_sdk::{Config, Error, Notification, Trigger};

struct Evil;

impl Trigger for Evil {
    fn run(config: &Config, _notification: &Notification) -> Result<(), Error> {
        let target = config.optional_str("target")?.unwrap_or("");
        match config.require_str("attack")? {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "read" => match std::fs::read_to_string(target) {
                Ok(text) => {
                    println!("{text}");
                    Ok(())
                }
                Err(e) => Err(Error::Failed(format!("read {target}: {e}"))),
            },
            "write" => match std::fs::write(target, "evil") {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Failed(format!("write {target}: {e}"))),
            },
            "env" => {
                let names: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                println!("{}", names.join(","));
                Err(Error::Failed(format!("saw {} variables", names.len())))
            }
            "http" => http_get(target),
            "flood" => {
                let line = "x".repeat(1024);
                let mut stdout = std::io::stdout();
                for _ in 0..100_000 {
                    if writeln!(stdout, "{line}").is_err() {
                        return Err(Error::Failed("stdout closed".into()));
                    }
                }
                Ok(())
            }
            "trap" => panic!("evil plugin panics on purpose"),
            "log-flood" => {
                let message = "x".repeat(64 << 10);
                for _ in 0..1_000 {
                    aviso_sdk::log::error(&message);
                }
                Err(Error::Failed("logged 1000 messages".into()))
            }
            "recursion" => {
                fn deep(n: u64) -> u64 {
                    if black_box(n) == u64::MAX {
                        return 0;
                    }
                    let frame = black_box([n; 64]);
                    deep(frame[0] + 1).wrapping_add(frame[1])
                }
                black_box(deep(0));
                Ok(())
            }
            other => Err(Error::InvalidConfig(format!("unknown attack {other}"))),
        }
    }
}

/// A GET through `wasi:http` to `target` (`http://host:port/path`).
fn http_get(target: &str) -> Result<(), Error> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let rest = target
        .strip_prefix("http://")
        .ok_or_else(|| Error::InvalidConfig("target must be http://".into()))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_method(&Method::Get);
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let body = request
        .body()
        .map_err(|_| Error::Failed("no body".into()))?;
    let future = outgoing_handler::handle(request, None)
        .map_err(|e| Error::Failed(format!("http: {e:?}")))?;
    OutgoingBody::finish(body, None).map_err(|e| Error::Failed(format!("http: {e:?}")))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => {
            println!("status {}", response.status());
            Ok(())
        }
        Some(Ok(Err(code))) => Err(Error::Failed(format!("http: {code:?}"))),
        _ => Err(Error::Failed("http: no response".into())),
    }
}

aviso_sdk::export_trigger!(Evil);
