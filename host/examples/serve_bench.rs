//! Benchmarks of `aviso serve` (bench/run.sh): the service runs as its own process, started
//! from AVISO_BIN on a service folder written here, on the etcd of `AVISO_NOTIFICATION_PORT`
//! (or the embedded store without it). This process notifies through the library and receives
//! the tenants' `post` triggers on a local HTTP server, so both ends of a delivery are timed on
//! one clock.
//!
//! `serve_bench AVISO_BIN idle TENANTS LISTENERS WINDOW_S`: TENANTS tenants of LISTENERS
//! listeners each, idle: the service's memory (RSS, MiB) and CPU (% of one core) over WINDOW_S
//! seconds, 10 s after it started serving.
//! `serve_bench AVISO_BIN latency COUNT GAP_MS [hostile]`: the quiet tenant's notify → trigger
//! latency over COUNT notifications one every GAP_MS (ms: count, p50, p95, p99, max); with
//! `hostile`, next to a tenant whose plugins loop and flood the log and whose commands hold
//! sandboxes, on every notification of a steady stream beside the quiet tenant's.
//! `serve_bench AVISO_BIN fanout TENANTS LISTENERS`: one notification for all of TENANTS ×
//! LISTENERS listeners: the seconds until the last trigger ran.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aviso::Aviso;
use aviso::config::{CliOverrides, ConfigSources, Program, Settings};

/// When each quiet notification was sent, and each arrival's latency.
#[derive(Default)]
struct Timings {
    sent: Vec<Option<Instant>>,
    latencies_ms: Vec<f64>,
    arrivals: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "serve_bench AVISO_BIN idle TENANTS LISTENERS WINDOW_S | latency COUNT GAP_MS [hostile] | fanout TENANTS LISTENERS";
    let (Some(binary), Some(mode)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let number = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|a| a.parse().expect("a whole number"))
            .unwrap_or(default)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let timings: Arc<Mutex<Timings>> = Arc::default();
    let receiver = runtime.block_on(receive(timings.clone()));
    match mode.as_str() {
        "idle" => {
            let (tenants, listeners, window) = (number(2, 100), number(3, 10), number(4, 30));
            write_service(work.path(), receiver, tenants, listeners, false);
            let mut served = Served::start(binary, work.path());
            std::thread::sleep(Duration::from_secs(10));
            let before = served.cpu_ticks();
            std::thread::sleep(Duration::from_secs(window));
            let used = served.cpu_ticks() - before;
            // SAFETY: sysconf takes a plain integer.
            let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
            println!(
                "idle {tenants} {listeners} {:.1} {:.2}",
                served.rss_kib() as f64 / 1024.0,
                used as f64 / ticks / window as f64 * 100.0
            );
            served.stop();
        }
        "latency" => {
            let (count, gap) = (number(2, 300) as usize, number(3, 50));
            let hostile = args.get(4).map(String::as_str) == Some("hostile");
            write_service(work.path(), receiver, 1, 1, hostile);
            let mut served = Served::start(binary, work.path());
            timings.lock().unwrap().sent = vec![None; count];
            let aviso = client(work.path());
            runtime.block_on(async {
                if hostile {
                    // Work queued for the hostile tenant before the measurement starts.
                    for i in 0..100 {
                        aviso
                            .notify(&flight("germany", &format!("H{i}")))
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                for i in 0..count {
                    timings.lock().unwrap().sent[i] = Some(Instant::now());
                    aviso
                        .notify(&flight("italy", &format!("Q{i}")))
                        .await
                        .unwrap();
                    if hostile {
                        let hostile_flight = flight("germany", &format!("S{i}"));
                        aviso.notify(&hostile_flight).await.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(gap)).await;
                }
                wait_for(&timings, count, Duration::from_secs(120)).await;
            });
            let mut values = timings.lock().unwrap().latencies_ms.clone();
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
            served.stop();
        }
        "fanout" => {
            let (tenants, listeners) = (number(2, 100), number(3, 10));
            let everyone = (tenants * listeners) as usize;
            write_service(work.path(), receiver, tenants, listeners, false);
            let mut served = Served::start(binary, work.path());
            timings.lock().unwrap().sent = vec![None; 1];
            let aviso = client(work.path());
            let seconds = runtime.block_on(async {
                let start = Instant::now();
                timings.lock().unwrap().sent[0] = Some(start);
                aviso.notify(&flight("italy", "Q0")).await.unwrap();
                wait_for(&timings, everyone, Duration::from_secs(300)).await;
                start.elapsed().as_secs_f64()
            });
            let arrived = timings.lock().unwrap().arrivals;
            println!("fanout {arrived} {seconds:.3}");
            served.stop();
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

fn flight(country: &str, number: &str) -> Vec<(String, String)> {
    aviso::notification::parse_parameters(&format!(
        "event=flight,country={country},airport=fco,date=20210101,number={number}"
    ))
    .unwrap()
}

/// The library's client on the service's store.
fn client(work: &Path) -> Aviso {
    let overrides = CliOverrides {
        // The embedded store, as the service's, when there is no etcd.
        test: std::env::var_os("AVISO_NOTIFICATION_PORT").is_none(),
        ..CliOverrides::default()
    };
    let sources = ConfigSources::from_process(Program::Aviso, None, overrides);
    let (mut settings, _) = Settings::load(&sources).expect("settings load");
    settings.state_dir = Some(work.join("state"));
    Aviso::new(settings).expect("a client")
}

async fn wait_for(timings: &Mutex<Timings>, arrivals: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while timings.lock().unwrap().arrivals < arrivals && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An HTTP server on a free loopback port that times every quiet notification it is posted.
async fn receive(timings: Arc<Mutex<Timings>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |body: String| {
        let timings = timings.clone();
        async move {
            let arrived = Instant::now();
            let mut timings = timings.lock().unwrap();
            timings.arrivals += 1;
            if let Some(index) = quiet_number(&body)
                && let Some(Some(sent)) = timings.sent.get(index).copied()
            {
                let ms = arrived.duration_since(sent).as_secs_f64() * 1000.0;
                timings.latencies_ms.push(ms);
            }
            "ok"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// `Q<n>` in a posted CloudEvent: the quiet notification's number.
fn quiet_number(body: &str) -> Option<usize> {
    let at = body.find("\"Q")? + 2;
    let digits: String = body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The service folder: `tenants` tenants of `listeners` listeners posting Italian flights to
/// the receiver; with `hostile`, a tenant whose plugins loop and flood and whose commands hold
/// sandboxes for German flights.
fn write_service(
    work: &Path,
    receiver: std::net::SocketAddr,
    tenants: u64,
    listeners: u64,
    hostile: bool,
) {
    let engine = match std::env::var("AVISO_NOTIFICATION_PORT") {
        Ok(port) => format!("{{type: etcd_rest, host: 127.0.0.1, port: {port}}}"),
        Err(_) => "{type: file_based}".into(),
    };
    write(
        &work.join("serve.yaml"),
        &format!(
            "notification_engine: {engine}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\"}}\nplugins: {{concurrent_calls: 64, allow: {{command: true, http: [\"http://{receiver}\", \"http://127.0.0.1:1\"]}}}}\n"
        ),
    );
    let post = format!(
        "  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: post\n        protocol: {{type: cloudevents_http, url: \"http://{receiver}/\"}}\n"
    );
    for tenant in 0..tenants {
        let dir = work.join(format!("tenants/t{tenant}"));
        write(
            &dir.join("listeners/flights.yaml"),
            &format!("listeners:\n{}", post.repeat(listeners as usize)),
        );
    }
    if hostile {
        let dir = work.join("tenants/hostile");
        write(
            &dir.join("tenant.yaml"),
            "plugins: {allow: {command: true}}\nquotas: {concurrent_calls: 8}\n",
        );
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        std::fs::copy(
            aviso_dev_guests::component("aviso_plugin_evil"),
            dir.join("plugins/evil.wasm"),
        )
        .unwrap();
        let attack = |attack: &str| {
            format!(
                "  - event: flight\n    request: {{country: germany}}\n    triggers:\n      - type: plugin\n        path: evil.wasm\n        config: {{attack: {attack}, target: ''}}\n        allow: {{http: ['http://127.0.0.1:1']}}\n        limits: {{timeout: 1}}\n"
            )
        };
        let mut file = String::from("listeners:\n");
        for _ in 0..4 {
            file += &attack("loop");
        }
        file += &attack("log-flood");
        file += &attack("memory");
        for _ in 0..4 {
            file += "  - event: flight\n    request: {country: germany}\n    triggers:\n      - type: command\n        command: sleep 2\n";
        }
        write(&dir.join("listeners/attacks.yaml"), &file);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `aviso serve` running on the folder, its log drained in the background.
struct Served {
    child: Child,
}

impl Served {
    fn start(binary: &str, work: &Path) -> Served {
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(PathBuf::from(work).join("serve.yaml"))
            .current_dir(work)
            .env("AVISO_STATE_DIR", work.join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aviso serve starts");
        let stderr = child.stderr.take().unwrap();
        let (ready, serving) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Serving ")
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(());
                }
                if std::env::var_os("AVISO_BENCH_LOG").is_some() {
                    eprintln!("{line}");
                }
            }
        });
        serving
            .recv_timeout(Duration::from_secs(600))
            .expect("aviso serve serves its tenants");
        Served { child }
    }

    fn stat(&self) -> Vec<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // After the command name in parentheses, which may hold spaces.
        let rest = &text[text.rfind(')').unwrap() + 2..];
        rest.split_whitespace().map(String::from).collect()
    }

    /// User and system CPU time, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let fields = self.stat();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(&mut self) {
        // SAFETY: kill sends a signal to the child's PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}
