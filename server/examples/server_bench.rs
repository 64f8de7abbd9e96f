//! Benchmarks of the servers (bench/run.sh):
//!
//! `server_bench notify URL COUNT CONCURRENCY BASES`: notifications per second through
//! aviso-rest at URL, from CONCURRENCY HTTP clients at once (each on its own kept-alive
//! connection), spread over BASES base keys (event `lane` of bench/scale_schema.json, one base
//! key per site). Prints `notify COUNT SECONDS RATE`.
//!
//! `server_bench auth ETCD_URL AVISO_AUTH COUNT`: the latency aviso-auth adds to a range request.
//! Starts an authentication and an authorisation server of its own (answering at once) and the
//! aviso-auth binary AVISO_AUTH in front of etcd, then times COUNT range requests one after the
//! other, straight to etcd and through aviso-auth (its caches warm, as in steady use). Prints
//! `auth COUNT DIRECT_P50 DIRECT_P99 PROXIED_P50 PROXIED_P99` in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("notify") if args.len() == 6 => {
            let url = format!("{}/api/v1/notification", args[2].trim_end_matches('/'));
            let count: usize = args[3].parse().expect("COUNT");
            let concurrency: usize = args[4].parse().expect("CONCURRENCY");
            let bases: usize = args[5].parse().expect("BASES");
            notify(url, count, concurrency, bases).await;
        }
        Some("auth") if args.len() == 5 => {
            let count: usize = args[4].parse().expect("COUNT");
            auth(&args[2], &args[3], count).await;
        }
        _ => {
            eprintln!(
                "usage: server_bench notify URL COUNT CONCURRENCY BASES | auth ETCD_URL AVISO_AUTH COUNT"
            );
            std::process::exit(2);
        }
    }
}

async fn notify(url: String, count: usize, concurrency: usize, bases: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let body = move |i: usize| {
        serde_json::json!({
            "event": "lane",
            "request": {"site": format!("s{}", i % bases), "lane": "l", "number": i.to_string()},
            "payload": "bench",
        })
        .to_string()
    };
    // Warm up: the connections, and each base key's first status.
    let warm = aviso_server::gateway::http_client(None).expect("a client");
    for i in 0..bases {
        post(&warm, &url, body(count + i)).await;
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, url) = (next.clone(), url.clone());
        let client = aviso_server::gateway::http_client(None).expect("a client");
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                post(&client, &url, body(i)).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client task");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("notify {count} {seconds:.3} {:.0}", count as f64 / seconds);
}

async fn post(client: &reqwest::Client, url: &str, body: String) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("aviso-rest answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "aviso-rest answered {status}: {text}");
}

/// A JWT naming `username` (aviso-auth reads its claims; no key is configured to check them).
fn jwt(username: &str) -> String {
    use base64::Engine;
    let encode = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(serde_json::json!({"alg": "HS256", "typ": "JWT"})),
        encode(serde_json::json!({"username": username}))
    )
}

/// auth-o-tron's and ECPDS's answers, at once, on one port.
async fn identity_servers() -> u16 {
    use axum::routing::get;
    let token = format!("Bearer {}", jwt("alice"));
    let router = axum::Router::new()
        .route(
            "/authenticate",
            get(move || {
                let token = token.clone();
                async move { ([("authorization", token)], "{}") }
            }),
        )
        .route(
            "/",
            get(|| async {
                axum::Json(
                    serde_json::json!({"success": "yes", "destinationList": [{"name": "SCL"}]}),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

async fn auth(etcd: &str, binary: &str, count: usize) {
    let client = aviso_server::gateway::http_client(None).expect("a client");
    let key = aviso_server::gateway::encode("/ec/diss/SCL/date=20210101,step=1");
    client
        .post(format!("{etcd}/v3/kv/put"))
        .body(
            serde_json::json!({"key": key, "value": aviso_server::gateway::encode("/data/file")})
                .to_string(),
        )
        .send()
        .await
        .expect("etcd answers");
    let identity = identity_servers().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let dir = std::env::temp_dir().join(format!("aviso-auth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let config = dir.join("auth.yaml");
    std::fs::write(
        &config,
        format!(
            "authentication_server:\n  url: http://127.0.0.1:{identity}\nauthorisation_server:\n  url: http://127.0.0.1:{identity}/\n  username: bench\n  password: bench\nbackend:\n  url: {etcd}\nfrontend:\n  port: {port}\n"
        ),
    )
    .expect("the configuration");
    let mut proxy = std::process::Command::new(binary)
        .arg("--config")
        .arg(&config)
        .env("HOME", &dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("aviso-auth starts");
    let proxied = format!("http://127.0.0.1:{port}/v3/kv/range");
    let body = serde_json::json!({"key": key}).to_string();
    let ask = |url: String, auth: bool| {
        let (client, body) = (client.clone(), body.clone());
        async move {
            let mut request = client.post(url).body(body);
            if auth {
                request = request
                    .header("authorization", "Bearer bench-token")
                    .header("x-auth-type", "ecmwf");
            }
            let started = Instant::now();
            let response = request.send().await;
            let ok = matches!(&response, Ok(r) if r.status().is_success());
            if let Ok(response) = response {
                let _ = response.bytes().await;
            }
            (ok, started.elapsed().as_secs_f64() * 1000.0)
        }
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while !ask(proxied.clone(), true).await.0 {
        assert!(
            Instant::now() < deadline,
            "aviso-auth did not answer on port {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let times = |auth: bool| {
        let url = if auth {
            proxied.clone()
        } else {
            format!("{etcd}/v3/kv/range")
        };
        let ask = &ask;
        async move {
            let mut times = Vec::with_capacity(count);
            for _ in 0..count {
                let (ok, ms) = ask(url.clone(), auth).await;
                assert!(ok, "a range request failed");
                times.push(ms);
            }
            times.sort_by(f64::total_cmp);
            times
        }
    };
    let direct = times(false).await;
    let through = times(true).await;
    let _ = proxy.kill();
    let _ = proxy.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let at = |t: &[f64], q: f64| t[((t.len() as f64 * q) as usize).min(t.len() - 1)];
    println!(
        "auth {count} {:.3} {:.3} {:.3} {:.3}",
        at(&direct, 0.5),
        at(&direct, 0.99),
        at(&through, 0.5),
        at(&through, 0.99)
    );
}
