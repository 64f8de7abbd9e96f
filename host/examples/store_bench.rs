//! Benchmarks of notify and delivery through the library, against the store the configuration
//! names (e.g. `AVISO_NOTIFICATION_PORT` for a local etcd). `bench/run.sh` runs them next to
//! pyaviso's equivalents.
//!
//! `store_bench throughput COUNT [CONCURRENCY]`: notifications written per second, one after the
//! other or CONCURRENCY at a time (distinct keys).
//! `store_bench latency COUNT GAP_MS`: time from calling `notify` to the trigger running,
//! through a live listener in the same process (a function trigger), one notification every
//! GAP_MS milliseconds.
//! `store_bench latency COUNT GAP_MS plugin`: the same with the no-op plugin before the
//! function; `... neighbours`: that, next to hostile listeners on the same base key: plugins that loop, allocate, flood
//! the log and stdout, trap, and slow commands that hold sandboxes; one of their notifications
//! goes out with every tenth of ours.
//! `store_bench catchup COUNT [plugin|function]`: a listener with a Rust plugin trigger (the
//! no-op test plugin; or a Rust function, as pyaviso's `function` trigger) stops; COUNT
//! notifications are written; the time from the listener's restart until the trigger ran for
//! the last of them.
//! `store_bench scale LISTENERS BASES COUNT GAP_MS BURST`: LISTENERS listeners of the `lane`
//! event (see `bench/scale_schema.json`) spread over BASES base keys, each notification for one
//! of them in turn: latency over COUNT notifications one every GAP_MS, then the rate at which a
//! BURST of notifications sent 64 at a time is delivered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aviso::config::{CliOverrides, ConfigSources, Program, Settings};
use aviso::listener::TriggerSpec;
use aviso::{Aviso, yaml};

fn parameters(i: usize, payload: Option<&str>) -> Vec<(String, String)> {
    let mut text = format!("event=flight,country=Italy,airport=fco,date=20210101,number=B{i}");
    if let Some(payload) = payload {
        text.push_str(&format!(",payload={payload}"));
    }
    aviso::notification::parse_parameters(&text).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sources = ConfigSources::from_process(Program::Aviso, None, CliOverrides::default());
    let (settings, _) = Settings::load(&sources).expect("settings load");
    if std::env::var_os("AVISO_BENCH_LOG").is_some() {
        aviso::cli::logging::init_default();
    }
    let aviso = Aviso::new(settings).expect("a client");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("throughput") => {
            let count: usize = args.get(1).map(|c| c.parse().unwrap()).unwrap_or(2000);
            let concurrency: usize = args.get(2).map(|c| c.parse().unwrap()).unwrap_or(1);
            runtime.block_on(async {
                let start = Instant::now();
                notify_concurrently(&aviso, count, concurrency).await;
                let seconds = start.elapsed().as_secs_f64();
                println!(
                    "throughput {count} {seconds:.3} {:.0}",
                    count as f64 / seconds
                );
            });
        }
        Some("latency") => {
            let count: usize = args.get(1).map(|c| c.parse().unwrap()).unwrap_or(1000);
            let gap = Duration::from_millis(args.get(2).map(|g| g.parse().unwrap()).unwrap_or(5));
            let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; count]));
            let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
            let with_neighbours = args.get(3).map(String::as_str) == Some("neighbours");
            let with_plugin = with_neighbours || args.get(3).map(String::as_str) == Some("plugin");
            let document = yaml::parse(&if with_plugin {
                plugin_listeners(with_neighbours)
            } else {
                "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n".to_string()
            })
            .unwrap();
            let mut set =
                aviso::listener::parse_listeners(&document, "bench", aviso.schema(), "etcd_rest")
                    .unwrap();
            let (sent_in, latencies_in) = (sent.clone(), latencies.clone());
            let measure = TriggerSpec::function(move |n| {
                let arrived = Instant::now();
                let Some(number) = n.request["number"].strip_prefix('B') else {
                    return Ok(()); // a neighbour's notification
                };
                let index: usize = number.parse().map_err(|_| "bad number".to_string())?;
                if let Some(Some(at)) = sent_in.lock().unwrap().get(index) {
                    latencies_in
                        .lock()
                        .unwrap()
                        .push(arrived.duration_since(*at).as_secs_f64() * 1000.0);
                }
                Ok(())
            });
            if with_plugin {
                // After the no-op plugin: the time includes a sandboxed call among the neighbours.
                set.listeners[0].triggers.push(measure);
            } else {
                set.listeners[0].triggers = vec![measure];
            }
            runtime.block_on(async {
                let (stop_sender, stop) = tokio::sync::watch::channel(false);
                // The listener and the notifier run side by side in this one task.
                let listening = aviso.listen_to(vec![set], false, None, stop);
                let notifying = async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    for i in 0..count {
                        sent.lock().unwrap()[i] = Some(Instant::now());
                        aviso.notify(&parameters(i, None)).await.expect("notify");
                        if with_neighbours && i % 10 == 0 {
                            let neighbour = format!(
                                "event=flight,country=Italy,airport=fco,date=20210101,number=NB{i}"
                            );
                            let neighbour =
                                aviso::notification::parse_parameters(&neighbour).unwrap();
                            aviso.notify(&neighbour).await.expect("notify");
                        }
                        tokio::time::sleep(gap).await;
                    }
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while latencies.lock().unwrap().len() < count && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let _ = stop_sender.send(true);
                };
                let (listened, ()) = tokio::join!(listening, notifying);
                listened.expect("listening works");
            });
            let mut values = latencies.lock().unwrap().clone();
            values.sort_by(f64::total_cmp);
            let pick = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
            println!(
                "latency {} {:.2} {:.2} {:.2} {:.2}",
                values.len(),
                pick(0.5),
                pick(0.95),
                pick(0.99),
                values.last().copied().unwrap_or(f64::NAN)
            );
        }
        Some("catchup") => {
            let count: usize = args.get(1).map(|c| c.parse().unwrap()).unwrap_or(100_000);
            let document = yaml::parse(&format!(
                "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: plugin\n        path: {}/aviso_plugin_noop.wasm\n",
                env!("AVISO_WASM_PLUGINS_DIR")
            ))
            .unwrap();
            let mut set =
                aviso::listener::parse_listeners(&document, "bench", aviso.schema(), "etcd_rest")
                    .unwrap();
            if args.get(2).map(String::as_str) == Some("function") {
                set.listeners[0].triggers = vec![TriggerSpec::function(|_| Ok(()))];
            }
            // The listener saves its cursor (the last revision whose triggers all ran) as soon
            // as it has caught up: that is when the last trigger ran.
            let cursors = aviso::config::home_dir()
                .expect("HOME is set")
                .join(".aviso/cursors");
            let cursor_at_least = move |revision: u64| {
                std::fs::read_dir(&cursors)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|entry| {
                        std::fs::read_to_string(entry.path())
                            .ok()
                            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                            .and_then(|value| value["revision"].as_u64())
                            .is_some_and(|saved| saved >= revision)
                    })
            };
            let listen_until = |catch_up: bool, stop_when: Box<dyn Fn() -> bool>| {
                let (stop_sender, stop) = tokio::sync::watch::channel(false);
                let listening = aviso.listen_to(vec![set.clone()], catch_up, None, stop);
                async move {
                    let stopping = async {
                        while !stop_when() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        let _ = stop_sender.send(true);
                    };
                    let (listened, ()) = tokio::join!(listening, stopping);
                    listened.expect("listening works");
                }
            };
            runtime.block_on(async {
                // The first run leaves a cursor; what is written after it is missed.
                let started = Instant::now();
                listen_until(
                    false,
                    Box::new(move || started.elapsed() > Duration::from_secs(1)),
                )
                .await;
                let written = Instant::now();
                notify_concurrently(&aviso, count, 64).await;
                let last = aviso
                    .open_store()
                    .expect("the store")
                    .revision()
                    .await
                    .expect("the store's revision");
                eprintln!("wrote {count} in {:.2} s", written.elapsed().as_secs_f64());
                let start = Instant::now();
                listen_until(true, Box::new(move || cursor_at_least(last))).await;
                let seconds = start.elapsed().as_secs_f64();
                println!("catchup {count} {seconds:.3} {:.0}", count as f64 / seconds);
            });
        }
        Some("scale") => {
            let number = |i: usize, default: usize| {
                args.get(i).map(|c| c.parse().unwrap()).unwrap_or(default)
            };
            let shape = Scale {
                listeners: number(1, 100),
                bases: number(2, 1),
                count: number(3, 1000),
                gap: Duration::from_millis(number(4, 5) as u64),
                burst: number(5, 5000),
            };
            runtime.block_on(scale(&aviso, shape));
        }
        _ => eprintln!(
            "usage: store_bench throughput COUNT [CONCURRENCY] | latency COUNT GAP_MS [plugin|neighbours] | catchup COUNT [plugin|function] | scale LISTENERS BASES COUNT GAP_MS BURST"
        ),
    }
}

/// The shape of a `scale` run.
struct Scale {
    listeners: usize,
    bases: usize,
    count: usize,
    gap: Duration,
    burst: usize,
}

impl Scale {
    /// The parameters of notification `number`, for listener `number % listeners`.
    fn notification(&self, number: usize) -> Vec<(String, String)> {
        let listener = number % self.listeners;
        aviso::notification::parse_parameters(&format!(
            "event=lane,site=s{},lane=l{listener},number={number}",
            listener % self.bases
        ))
        .unwrap()
    }
}

/// A listener measured (the no-op plugin; the function is added in code), and hostile neighbours
/// on the same base key if asked.
fn plugin_listeners(with_neighbours: bool) -> String {
    let plugins = env!("AVISO_WASM_PLUGINS_DIR");
    let mut file = format!(
        "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: plugin\n        path: {plugins}/aviso_plugin_noop.wasm\n"
    );
    if !with_neighbours {
        return file;
    }
    // AVISO_BENCH_NEIGHBOURS narrows the set (e.g. "loop,loop,sleep"), to see what costs what.
    let chosen = std::env::var("AVISO_BENCH_NEIGHBOURS")
        .unwrap_or_else(|_| "loop,loop,memory,log-flood,flood,trap,sleep,sleep".into());
    for attack in chosen.split(',').filter(|a| *a != "sleep") {
        file.push_str(&format!(
            "  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: plugin\n        path: {plugins}/aviso_plugin_evil.wasm\n        config: {{attack: {attack}}}\n        allow: {{http: []}}\n        limits: {{timeout: 5, memory: 64}}\n"
        ));
    }
    for _ in chosen.split(',').filter(|a| *a == "sleep") {
        file.push_str("  - event: flight\n    request: {country: italy}\n    triggers: [{type: command, command: 'sleep 2'}]\n");
    }
    file
}

/// Latency, then burst delivery rate, with many listeners (`scale` mode).
async fn scale(aviso: &Aviso, shape: Scale) {
    let mut text = String::from("listeners:\n");
    for i in 0..shape.listeners {
        text.push_str(&format!(
            "  - event: lane\n    request: {{site: s{}, lane: l{i}}}\n    triggers: [{{type: echo}}]\n",
            i % shape.bases
        ));
    }
    let document = yaml::parse(&text).unwrap();
    let mut set =
        aviso::listener::parse_listeners(&document, "bench", aviso.schema(), "etcd_rest").unwrap();
    let total = shape.count + shape.burst;
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let arrived: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let arrivals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let trigger = {
        let (arrived, arrivals) = (arrived.clone(), arrivals.clone());
        TriggerSpec::function(move |n| {
            let at = Instant::now();
            let number: usize = n.request["number"]
                .parse()
                .map_err(|_| "bad number".to_string())?;
            if let Some(slot) = arrived.lock().unwrap().get_mut(number) {
                slot.get_or_insert(at);
            }
            arrivals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    };
    for listener in &mut set.listeners {
        listener.triggers = vec![trigger.clone()];
    }
    let wait_for = |target: usize, limit: Duration| {
        let arrivals = arrivals.clone();
        async move {
            let deadline = Instant::now() + limit;
            while arrivals.load(std::sync::atomic::Ordering::Relaxed) < target
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let listening = aviso.listen_to(vec![set], false, None, stop);
    let measuring = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for number in 0..shape.count {
            sent.lock().unwrap()[number] = Some(Instant::now());
            aviso
                .notify(&shape.notification(number))
                .await
                .expect("notify");
            tokio::time::sleep(shape.gap).await;
        }
        wait_for(shape.count, Duration::from_secs(60)).await;
        let burst_start = Instant::now();
        let next = std::sync::atomic::AtomicUsize::new(shape.count);
        let worker = || async {
            loop {
                let number = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if number >= total {
                    return;
                }
                aviso
                    .notify(&shape.notification(number))
                    .await
                    .expect("notify");
            }
        };
        futures_join_all((0..64).map(|_| worker()).collect()).await;
        wait_for(total, Duration::from_secs(120)).await;
        let burst_seconds = burst_start.elapsed().as_secs_f64();
        let _ = stop_sender.send(true);
        burst_seconds
    };
    let (listened, burst_seconds) = tokio::join!(listening, measuring);
    listened.expect("listening works");
    let (sent, arrived) = (sent.lock().unwrap(), arrived.lock().unwrap());
    let mut latencies: Vec<f64> = (0..shape.count)
        .filter_map(|i| Some(arrived[i]?.duration_since(sent[i]?).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let delivered = arrived[shape.count..].iter().flatten().count();
    println!(
        "scale {} {} {} {:.2} {:.2} {:.2} {:.2} {delivered} {burst_seconds:.3} {:.0}",
        shape.listeners,
        shape.bases,
        latencies.len(),
        pick(0.5),
        pick(0.95),
        pick(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        delivered as f64 / burst_seconds
    );
}

/// Sends `count` notifications (distinct keys), `concurrency` at a time.
async fn notify_concurrently(aviso: &Aviso, count: usize, concurrency: usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= count {
                return;
            }
            aviso
                .notify(&parameters(i, Some("x")))
                .await
                .expect("notify");
        }
    };
    futures_join_all((0..concurrency).map(|_| worker()).collect()).await;
}

/// Runs the futures concurrently in this task.
async fn futures_join_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
