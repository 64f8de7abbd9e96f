//! Benchmarks of the servers (bench/run.sh):
//!
//! `rest_bench notify URL COUNT CONCURRENCY BASES`: notifications per second through aviso-rest
//! at URL, from CONCURRENCY HTTP clients at once (each on its own kept-alive connection), spread
//! over BASES base keys (event `lane` of bench/scale_schema.json, one base key per site).
//! Prints `notify COUNT SECONDS RATE`.

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
        _ => {
            eprintln!("usage: rest_bench notify URL COUNT CONCURRENCY BASES");
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
