//! `aviso serve` on the embedded store: tenants' listeners from one service, each confined to
//! its own folder and to what the policy grants, a refused tenant next to running ones, log
//! lines tagged with the tenant, and `--check`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{self, listening::Listening, test_plugin, wait_until};
use sha2::{Digest, Sha256};

fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET path` with an optional bearer token: the status and the JSON body.
fn get(address: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let (status, body) = get_text(address, path, token);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// `GET path`: the status and the body as text.
fn get_text(address: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A service folder: serve.yaml on the embedded store, and three tenants: alpha (Italian
/// flights, into a log file of its own, and a plugin of its own folder), beta (Italian and
/// German flights), evil (a log path into alpha's folder and a command reading a secret).
fn service(root: &Path) -> PathBuf {
    let file = root.join("serve.yaml");
    write(
        &file,
        &format!(
            "notification_engine: {{type: file_based}}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\", admin_token_sha256: {}}}\n",
            sha256("admin-token")
        ),
    );
    let tenants = root.join("tenants");
    std::fs::create_dir_all(tenants.join("alpha/plugins")).unwrap();
    write(
        &tenants.join("alpha/tenant.yaml"),
        &format!("token_sha256: {}\n", sha256("alpha-token")),
    );
    std::fs::copy(test_plugin("noop"), tenants.join("alpha/plugins/noop.wasm")).unwrap();
    write(
        &tenants.join("alpha/listeners/flights.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: flights.log\n      - type: plugin\n        path: noop.wasm\n",
    );
    write(
        &tenants.join("beta/listeners/all.yaml"),
        "listeners:\n  - event: flight\n    request: {country: [italy, germany]}\n    triggers:\n      - type: log\n        path: sub/all.log\n",
    );
    write(
        &tenants.join("evil/listeners/x.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: ../../alpha/logs/flights.log\n",
    );
    file
}

fn aviso(root: &Path) -> std::process::Command {
    let mut command = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")));
    // Notifications go to the service's embedded store, in its state folder.
    command
        .env("HOME", root)
        .env("AVISO_STATE_DIR", root.join("state"));
    command
}

#[test]
fn check_reports_each_tenant() {
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    let tenants = root.path().join("tenants");
    // More ways out: a plugin that is not the tenant's, the command trigger, a name that
    // cannot be a tenant's.
    write(
        &tenants.join("gamma/listeners/x.yaml"),
        &format!(
            "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: plugin\n        path: {}\n",
            test_plugin("noop")
        ),
    );
    write(
        &tenants.join("delta/listeners/x.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: command\n        command: cat /etc/aviso/key\n",
    );
    write(&tenants.join("bad name/listeners/x.yaml"), "");
    let out = aviso(root.path())
        .args(["serve", "--config", file.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(255), "{report}");
    let line = |tenant: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("{tenant}: ")))
            .unwrap_or_else(|| panic!("no line for {tenant}: {report}"))
            .to_string()
    };
    assert_eq!(
        line("alpha"),
        "alpha: ready, 1 listener(s) on /tmp/aviso/flight/"
    );
    assert_eq!(
        line("beta"),
        "beta: ready, 1 listener(s) on /tmp/aviso/flight/"
    );
    assert!(
        line("evil").ends_with("log path ../../alpha/logs/flights.log must be a file name or a relative path without '..': a tenant's log files are kept in its own folder"),
        "{}",
        line("evil")
    );
    assert!(
        line("gamma").contains("is not one of the tenant's plugins: a tenant's listener names a file of its plugins/ folder (it has none)"),
        "{}",
        line("gamma")
    );
    assert!(
        line("delta").contains("the site has not granted it to tenant delta"),
        "{}",
        line("delta")
    );
    assert!(line("bad name").contains("cannot be a tenant's name"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 tenant(s) refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tenants_receive_their_notifications_each_in_its_own_folder() {
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    let mut command = aviso(root.path());
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let mut served = Listening::spawn(command, root.path().join("serve.out"), "Serving ");
    let log = served.log();
    assert!(
        log.contains("Serving 2 tenant(s) on 1 base key(s) at the embedded store "),
        "{log}"
    );
    assert!(log.contains("Tenant evil is refused: "), "{log}");
    for notification in [
        "event=flight,country=Italy,airport=fco,date=20210101,number=AZ1,payload=x",
        "event=flight,country=Germany,airport=fra,date=20210101,number=LH1",
    ] {
        let out = aviso(root.path())
            .args(["notify", "--test", notification])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let logs = root.path().join("state/tenants");
    let alpha = logs.join("alpha/logs/flights.log");
    let beta = logs.join("beta/logs/sub/all.log");
    wait_until(
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&beta)
                .map(|t| t.lines().count() == 2)
                .unwrap_or(false)
                && std::fs::read_to_string(&alpha).is_ok_and(|t| !t.is_empty())
        },
        || served.log(),
    );
    let alpha_log = std::fs::read_to_string(&alpha).unwrap();
    assert_eq!(alpha_log.lines().count(), 1, "{alpha_log}");
    assert!(alpha_log.contains("'number': 'AZ1'"), "{alpha_log}");
    // Every delivery line says whose it is; evil wrote nothing anywhere.
    let log = served.log();
    assert!(
        log.contains("[alpha] Notification /tmp/aviso/flight/20210101/italy/FCO/AZ1 (revision 1): 2 trigger(s) run, all succeeded"),
        "{log}"
    );
    assert!(
        log.contains("[beta] Notification /tmp/aviso/flight/20210101/germany/FRA/LH1 (revision 2): 1 trigger(s) run, all succeeded"),
        "{log}"
    );
    assert!(!logs.join("evil").exists());
    // The management API: health and readiness for anyone, tenants' state by token.
    let address = log
        .lines()
        .find_map(|l| l.strip_prefix("Management API on http://"))
        .unwrap_or_else(|| panic!("no API address in {log}"))
        .to_string();
    assert_eq!(
        get(&address, "/health", None),
        (200, serde_json::json!({"status": "alive"}))
    );
    assert_eq!(
        get(&address, "/ready", None),
        (200, serde_json::json!({"ready": true}))
    );
    let (status, all) = get(&address, "/v1/tenants", Some("admin-token"));
    assert_eq!(status, 200, "{all}");
    let states: Vec<(String, String)> = all["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("alpha".into(), "running".into()),
            ("beta".into(), "running".into()),
            ("evil".into(), "refused".into())
        ]
    );
    let (status, alpha) = get(&address, "/v1/tenants/alpha", Some("alpha-token"));
    assert_eq!(status, 200, "{alpha}");
    assert_eq!(alpha["listeners"], 1);
    assert_eq!(
        alpha["base_keys"],
        serde_json::json!(["/tmp/aviso/flight/"])
    );
    assert_eq!(alpha["dead_letters"], 0);
    // A tenant's token reaches that tenant only; no token, a wrong one, an unknown tenant.
    for (path, token, code, said) in [
        (
            "/v1/tenants/beta",
            Some("alpha-token"),
            403,
            "this token is tenant alpha's: it reaches /v1/tenants/alpha only",
        ),
        (
            "/v1/tenants",
            Some("alpha-token"),
            403,
            "the list of tenants is for the administrator; tenant alpha may read /v1/tenants/alpha",
        ),
        (
            "/v1/tenants/alpha",
            None,
            401,
            "this route needs a token: Authorization: Bearer <token>",
        ),
        (
            "/v1/tenants/alpha",
            Some("guess"),
            401,
            "the token is not valid",
        ),
        (
            "/v1/tenants/nobody",
            Some("admin-token"),
            404,
            "there is no tenant nobody",
        ),
    ] {
        assert_eq!(
            get(&address, path, token),
            (code, serde_json::json!({"error": said})),
            "{path} with {token:?}"
        );
    }
    // Prometheus's view, by tenant.
    let (status, metrics) = get_text(&address, "/metrics", None);
    assert_eq!(status, 200, "{metrics}");
    for line in [
        "aviso_notifications_total{tenant=\"alpha\",outcome=\"delivered\"} 1",
        "aviso_notifications_total{tenant=\"beta\",outcome=\"delivered\"} 2",
        "aviso_trigger_runs_total{tenant=\"alpha\",trigger=\"plugin\",outcome=\"ok\"} 1",
        "aviso_trigger_runs_total{tenant=\"alpha\",trigger=\"log\",outcome=\"ok\"} 1",
        "aviso_delivery_seconds_count{tenant=\"beta\"} 2",
        "aviso_tenants{state=\"running\"} 2",
        "aviso_tenants{state=\"refused\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert_eq!(served.stop(), Some(0));
    // Each tenant keeps its own position.
    for tenant in ["alpha", "beta"] {
        let cursors = logs.join(tenant).join("cursors");
        assert_eq!(std::fs::read_dir(&cursors).unwrap().count(), 1, "{tenant}");
    }
}

/// The example of examples/serve runs as its demo script says (with this build's aviso).
#[test]
fn the_shipped_example_runs() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = common::clean_command(Path::new("bash"))
        .arg(repository.join("examples/serve/demo.sh"))
        .env("AVISO", env!("CARGO_BIN_EXE_aviso"))
        .env("HOME", home.path())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(repository.join("examples/serve/state"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("alpha: ready, 1 listener(s) on /tmp/aviso/flight/\nbeta: ready, 1 listener(s) on /tmp/aviso/flight/\n"),
        "{stdout}"
    );
    let alpha = stdout
        .split("--- what tenant alpha received:\n")
        .nth(1)
        .and_then(|rest| rest.split("--- what tenant beta received:\n").next())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(alpha.matches("Notification received").count(), 1, "{alpha}");
    assert!(alpha.contains("'number': 'AZ203'"), "{alpha}");
    let beta = stdout
        .split("--- what tenant beta received:\n")
        .nth(1)
        .unwrap();
    assert_eq!(beta.matches("Notification received").count(), 2, "{beta}");
    assert!(stdout.contains("Stopping"), "{stdout}");
}

/// Killed (SIGKILL) while notifications arrive, on etcd: after a restart every tenant has every
/// notification written meanwhile; nothing is lost. The service file names etcd as config.yaml
/// would.
#[test]
fn a_killed_service_loses_nothing_on_etcd() {
    let etcd = common::etcd::Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    write(
        &file,
        &format!(
            "notification_engine: {{type: etcd_rest, host: 127.0.0.1, port: {}, polling_interval: 1, automatic_retry_delay: 1}}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\"}}\n",
            etcd.port
        ),
    );
    let notify = |number: usize| {
        notify_on_etcd(
            root.path(),
            etcd.port,
            &format!("event=flight,country=Italy,airport=fco,date=20210101,number=N{number}"),
        )
    };
    let start = |name: &str| {
        let mut command = aviso(root.path());
        command.args(["serve", "--config", file.to_str().unwrap()]);
        Listening::spawn(command, root.path().join(name), "Serving ")
    };
    let alpha = root.path().join("state/tenants/alpha/logs/flights.log");
    let beta = root.path().join("state/tenants/beta/logs/sub/all.log");
    let received = |log: &Path, number: usize| {
        std::fs::read_to_string(log).is_ok_and(|t| t.contains(&format!("'number': 'N{number}'")))
    };
    let mut served = start("first.out");
    for number in 0..10 {
        notify(number);
    }
    wait_until(
        Duration::from_secs(60),
        || received(&alpha, 0),
        || served.log(),
    );
    served.child.kill().unwrap(); // SIGKILL: no position saved on the way out
    served.child.wait().unwrap();
    for number in 10..20 {
        notify(number);
    }
    let served = start("second.out");
    wait_until(
        Duration::from_secs(60),
        || (0..20).all(|n| received(&alpha, n) && received(&beta, n)),
        || {
            format!(
                "{}\nalpha: {}\nbeta: {}",
                served.log(),
                std::fs::read_to_string(&alpha).unwrap_or_default(),
                std::fs::read_to_string(&beta).unwrap_or_default()
            )
        },
    );
    assert!(
        served
            .log()
            .contains("[alpha] Catching up on /tmp/aviso/flight/"),
        "{}",
        served.log()
    );
}

#[test]
fn logs_can_be_json_lines_with_the_tenant_apart() {
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("log_format: json\n{text}")).unwrap();
    let mut command = aviso(root.path());
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let mut served = Listening::spawn(command, root.path().join("serve.out"), "Serving ");
    let out = aviso(root.path())
        .args([
            "notify",
            "--test",
            "event=flight,country=Italy,airport=fco,date=20210101,number=AZ1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    wait_until(
        Duration::from_secs(60),
        || {
            served.log().lines().any(|line| {
                line.contains("\"tenant\":\"beta\"") && line.contains("\"Notification ")
            })
        },
        || served.log(),
    );
    assert_eq!(served.stop(), Some(0));
    let records: Vec<serde_json::Value> = served
        .log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let delivered = records
        .iter()
        .find(|r| {
            r["tenant"] == "alpha" && r["message"].as_str().unwrap().starts_with("Notification ")
        })
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(delivered["level"], "INFO");
    assert!(delivered["time"].as_str().unwrap().ends_with('Z'));
    assert!(records.iter().any(|r| {
        r["level"] == "ERROR"
            && r["message"]
                .as_str()
                .unwrap()
                .starts_with("Tenant evil is refused")
    }));
}

/// SIGHUP reads the tenants again: a new tenant starts, a removed one stops, a tenant whose new
/// files are refused keeps running its previous version, with the reason in its status.
#[test]
fn a_reload_applies_each_tenant_s_changes_alone() {
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    let tenants = root.path().join("tenants");
    let mut command = aviso(root.path());
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let mut served = Listening::spawn(command, root.path().join("serve.out"), "Serving ");
    let address = served
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("Management API on http://"))
        .unwrap()
        .to_string();

    write(
        &tenants.join("gamma/listeners/new.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: gamma.log\n",
    );
    write(
        &tenants.join("alpha/listeners/flights.yaml"),
        "listeners: [broken\n",
    );
    std::fs::remove_dir_all(tenants.join("beta")).unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(served.child.id() as i32, libc::SIGHUP) };
    wait_until(
        Duration::from_secs(60),
        || served.log().matches("Serving ").count() >= 2,
        || served.log(),
    );
    let log = served.log();
    assert!(log.contains("Reloading the tenants"), "{log}");
    assert!(
        log.contains("Tenant alpha: its files are refused, its previous version keeps running: "),
        "{log}"
    );

    let out = aviso(root.path())
        .args([
            "notify",
            "--test",
            "event=flight,country=Italy,airport=fco,date=20210101,number=AZ9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let state = root.path().join("state/tenants");
    let has = |path: &Path| std::fs::read_to_string(path).is_ok_and(|t| t.contains("AZ9"));
    wait_until(
        Duration::from_secs(60),
        || has(&state.join("alpha/logs/flights.log")) && has(&state.join("gamma/logs/gamma.log")),
        || served.log(),
    );
    assert!(
        !has(&state.join("beta/logs/sub/all.log")),
        "beta was removed"
    );
    // The status says it too.
    let (status, all) = get(&address, "/v1/tenants", Some("admin-token"));
    assert_eq!(status, 200, "{all}");
    let tenants: Vec<&serde_json::Value> = all["tenants"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = tenants
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "evil", "gamma"]);
    assert_eq!(tenants[0]["state"], "running");
    assert!(
        tenants[0]["reason"].as_str().is_some_and(|r| {
            r.starts_with("its files are refused, its previous version keeps running: ")
        }),
        "{all}"
    );
    assert_eq!(tenants[2]["state"], "running");
    assert_eq!(served.stop(), Some(0));
}

/// The management API's address, from the service's log.
fn api_address(served: &Listening) -> String {
    served
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("Management API on http://"))
        .unwrap_or_else(|| panic!("no API address in {}", served.log()))
        .to_string()
}

/// `aviso notify` of `flight` to the etcd on `port`.
fn notify_on_etcd(root: &Path, port: u16, flight: &str) {
    let out = common::clean_command(Path::new(env!("CARGO_BIN_EXE_aviso")))
        .env("HOME", root)
        .env("AVISO_NOTIFICATION_HOST", "127.0.0.1")
        .env("AVISO_NOTIFICATION_PORT", port.to_string())
        .args(["notify", flight])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `aviso serve` on `root/serve.yaml`, once it serves; its log in `root/serve.out`.
fn serve_in(root: &Path) -> Listening {
    let mut command = aviso(root);
    command
        .args(["serve", "--config", "serve.yaml"])
        .current_dir(root);
    Listening::spawn(command, root.join("serve.out"), "Serving ")
}

/// Notifies one flight into the service's embedded store.
fn notify_flight(root: &Path, country: &str, number: usize) {
    let out = aviso(root)
        .args([
            "notify",
            "--test",
            &format!("event=flight,country={country},airport=xxx,date=20210101,number=N{number}"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hostile_tenant_does_not_hold_up_a_quiet_one() {
    hostile_next_to_quiet(None);
}

#[test]
fn a_hostile_tenant_does_not_hold_up_a_quiet_one_on_etcd() {
    let etcd = common::etcd::Etcd::start();
    hostile_next_to_quiet(Some(etcd.port));
}

/// The service on the embedded store, or on the etcd of `etcd_port`.
fn hostile_next_to_quiet(etcd_port: Option<u16>) {
    // Eight sandboxes for everyone. For a burst of notifications, the hostile tenant loops
    // and holds sandboxes with slow commands from a dozen listeners; the noisy one bombs its
    // memory and floods its log; the quiet one logs each of its flights.
    let root = tempfile::tempdir().unwrap();
    let engine = match etcd_port {
        Some(port) => format!("{{type: etcd_rest, host: 127.0.0.1, port: {port}}}"),
        None => "{type: file_based}".to_string(),
    };
    let notify = |country: &str, number: usize| match etcd_port {
        Some(port) => notify_on_etcd(
            root.path(),
            port,
            &format!("event=flight,country={country},airport=xxx,date=20210101,number=N{number}"),
        ),
        None => notify_flight(root.path(), country, number),
    };
    write(
        &root.path().join("serve.yaml"),
        &format!(
            "notification_engine: {engine}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\", admin_token_sha256: {}}}\nplugins: {{concurrent_calls: 8, allow: {{command: true, http: [\"http://127.0.0.1:1\"]}}}}\n",
            sha256("admin-token")
        ),
    );
    let tenants = root.path().join("tenants");
    for tenant in ["hostile", "noisy"] {
        std::fs::create_dir_all(tenants.join(tenant).join("plugins")).unwrap();
        std::fs::copy(
            test_plugin("evil"),
            tenants.join(tenant).join("plugins/evil.wasm"),
        )
        .unwrap();
    }
    let attack = |attack: &str, extra: &str| {
        format!(
            "  - event: flight\n    request: {{country: germany}}\n    triggers:\n      - type: plugin\n        path: evil.wasm\n        config: {{attack: {attack}, target: ''}}\n        allow: {{http: ['http://127.0.0.1:1']}}\n{extra}"
        )
    };
    write(
        &tenants.join("hostile/tenant.yaml"),
        "plugins: {allow: {command: true}}\nquotas: {cpu_seconds_per_minute: 1, concurrent_calls: 6}\n",
    );
    let mut hostile = String::from("listeners:\n");
    // Its time limit outlasts a slow command: the loop waits for one of the tenant's slots
    // (which the commands may have taken first), then runs until the CPU quota stops it.
    hostile += &attack(
        "loop",
        "        limits: {timeout: 30}\n        required: true\n",
    );
    for _ in 0..12 {
        hostile += "  - event: flight\n    request: {country: germany}\n    triggers:\n      - type: command\n        command: sleep 10\n";
    }
    write(&tenants.join("hostile/listeners/attacks.yaml"), &hostile);
    write(
        &tenants.join("noisy/tenant.yaml"),
        "quotas: {memory_per_call: 32, log_bytes_per_minute: 2000}\n",
    );
    write(
        &tenants.join("noisy/listeners/attacks.yaml"),
        &format!(
            "listeners:\n{}{}",
            attack("memory", ""),
            attack("log-flood", "")
        ),
    );
    write(
        &tenants.join("quiet/listeners/flights.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: flights.log\n",
    );
    let mut served = serve_in(root.path());
    assert!(
        served
            .log()
            .contains("Serving 3 tenant(s) on 1 base key(s)"),
        "{}",
        served.log()
    );
    let address = api_address(&served);
    for number in 0..30 {
        notify("Germany", number);
    }
    for number in 0..5 {
        notify("Italy", number);
    }
    // The slow commands alone are 30 × 12 × 10 s of work: were the quiet tenant's calls
    // queued behind them, its flights would take most of an hour.
    let quiet_log = root.path().join("state/tenants/quiet/logs/flights.log");
    wait_until(
        Duration::from_secs(120),
        || std::fs::read_to_string(&quiet_log).is_ok_and(|t| t.lines().count() == 5),
        || served.log(),
    );
    // The loop ran the hostile tenant a whole minute's CPU time into debt: suspended, said
    // with why, in its status and its metrics. On a machine busy with other tests, its calls
    // get little CPU before their timeout, and the debt takes longer to build.
    wait_until(
        Duration::from_secs(300),
        || {
            served
                .log()
                .contains("[hostile] Tenant hostile: suspended for ")
        },
        || served.log(),
    );
    let (status, body) = get(&address, "/v1/tenants/hostile", Some("admin-token"));
    assert_eq!(status, 200, "{body}");
    let usage = &body["quota_use"];
    assert!(usage["suspensions"].as_u64() >= Some(1), "{body}");
    assert!(usage["cpu_seconds_total"].as_f64() > Some(1.0), "{body}");
    let (_, metrics) = get_text(&address, "/metrics", None);
    assert!(
        metrics.contains("aviso_suspensions_total{tenant=\"hostile\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aviso_plugin_cpu_seconds_total{tenant=\"hostile\"}"),
        "{metrics}"
    );
    // The memory bomb hit its tenant's 32 MiB per call; the log flood was cut at its quota.
    served.wait_for_log("memory limit of 32 MiB exceeded");
    served.wait_for_log(
        "[noisy] Tenant noisy: its plugins logged more than 2000 bytes in a minute (quotas.log_bytes_per_minute)",
    );
    // The quiet tenant was never throttled, and the service kept answering.
    let (_, quiet) = get(&address, "/v1/tenants/quiet", Some("admin-token"));
    assert_eq!(quiet["quota_use"]["state"], "normal", "{quiet}");
    assert_eq!(quiet["quota_use"]["suspensions"], 0, "{quiet}");
    assert_eq!(quiet["last_errors"], serde_json::json!([]), "{quiet}");
    assert_eq!(
        quiet["positions"].as_array().map(Vec::len),
        Some(1),
        "{quiet}"
    );
    assert!(
        quiet["positions"][0]["revision"].as_u64() > Some(30),
        "{quiet}"
    );
    // The hostile tenant's status shows its last failures, with why.
    wait_until(
        Duration::from_secs(60),
        || {
            let (_, hostile) = get(&address, "/v1/tenants/hostile", Some("admin-token"));
            hostile["last_errors"].as_array().is_some_and(|errors| {
                errors.iter().any(|e| {
                    e["error"]
                        .as_str()
                        .is_some_and(|t| t.contains("the tenant is suspended"))
                        && e["key"].as_str().is_some_and(|k| k.contains("germany"))
                })
            })
        },
        || {
            get(&address, "/v1/tenants/hostile", Some("admin-token"))
                .1
                .to_string()
        },
    );
    assert_eq!(get(&address, "/health", None).0, 200);
    served.stop();
}

#[test]
fn a_changed_tenant_restarts_alone_noticed_without_a_signal() {
    // Tenant "held" runs a command that waits for a gate file; tenant "steady" logs its flights.
    let root = tempfile::tempdir().unwrap();
    let (gate, started) = (root.path().join("gate"), root.path().join("started"));
    write(
        &root.path().join("serve.yaml"),
        "notification_engine: {type: file_based}\nstate_dir: state\ntenants_dir: tenants\napi: {listen: \"127.0.0.1:0\"}\nplugins: {allow: {command: true}}\n",
    );
    let tenants = root.path().join("tenants");
    write(
        &tenants.join("held/tenant.yaml"),
        "plugins: {allow: {command: true}}\n",
    );
    let held = tenants.join("held/listeners/flights.yaml");
    write(
        &held,
        &format!(
            "listeners:\n  - event: flight\n    request: {{country: germany}}\n    triggers:\n      - type: command\n        command: 'touch {}; while [ ! -f {} ]; do sleep 0.1; done'\n",
            started.display(),
            gate.display()
        ),
    );
    write(
        &tenants.join("steady/listeners/flights.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: flights.log\n",
    );
    let mut served = serve_in(root.path());
    notify_flight(root.path(), "Germany", 1);
    wait_until(
        Duration::from_secs(60),
        || started.exists(),
        || served.log(),
    );
    // Its listener file changes: noticed without SIGHUP; it restarts once its running
    // trigger has finished, which the gate holds back.
    write(
        &held,
        "listeners:\n  - event: flight\n    request: {country: germany}\n    triggers:\n      - type: log\n        path: new.log\n",
    );
    served.wait_for_log("[held] Tenant held: its files changed, restarting it");
    // Meanwhile the other tenant goes on: its flight is delivered while held's restart waits.
    notify_flight(root.path(), "Italy", 2);
    let steady = root.path().join("state/tenants/steady/logs/flights.log");
    wait_until(
        Duration::from_secs(60),
        || std::fs::read_to_string(&steady).is_ok_and(|t| t.contains("N2")),
        || served.log(),
    );
    assert_eq!(
        served.log().matches("Serving ").count(),
        1,
        "held's restart waits for its running trigger: {}",
        served.log()
    );
    std::fs::write(&gate, "").unwrap();
    wait_until(
        Duration::from_secs(60),
        || served.log().matches("Serving ").count() >= 2,
        || served.log(),
    );
    // Its new version takes the next flight; the one its old version finished is not run again.
    notify_flight(root.path(), "Germany", 3);
    let new_log = root.path().join("state/tenants/held/logs/new.log");
    wait_until(
        Duration::from_secs(60),
        || std::fs::read_to_string(&new_log).is_ok_and(|t| t.contains("N3")),
        || served.log(),
    );
    let logged = std::fs::read_to_string(&new_log).unwrap();
    assert!(!logged.contains("N1"), "{logged}");
    assert_eq!(logged.lines().count(), 1, "{logged}");
    // Steady was not restarted.
    assert!(
        !served.log().contains("Tenant steady: its files changed"),
        "{}",
        served.log()
    );
    assert_eq!(served.stop(), Some(0));
}

#[test]
fn a_stop_waits_for_running_triggers_up_to_its_timeout() {
    // A command that never ends by itself; the service may wait 1 s for it when stopped.
    let root = tempfile::tempdir().unwrap();
    let (gate, runs) = (root.path().join("gate"), root.path().join("runs"));
    write(
        &root.path().join("serve.yaml"),
        "notification_engine: {type: file_based}\nstate_dir: state\ntenants_dir: tenants\napi: {listen: \"127.0.0.1:0\"}\nplugins: {allow: {command: true}}\nstop_timeout: 1\n",
    );
    let tenants = root.path().join("tenants");
    write(
        &tenants.join("held/tenant.yaml"),
        "plugins: {allow: {command: true}}\n",
    );
    write(
        &tenants.join("held/listeners/flights.yaml"),
        &format!(
            "listeners:\n  - event: flight\n    request: {{country: germany}}\n    triggers:\n      - type: command\n        command: 'echo run >> {}; while [ ! -f {} ]; do sleep 0.1; done'\n",
            runs.display(),
            gate.display()
        ),
    );
    let start = || serve_in(root.path());
    let mut served = start();
    notify_flight(root.path(), "Germany", 1);
    wait_until(Duration::from_secs(60), || runs.exists(), || served.log());
    assert_eq!(served.stop(), Some(130));
    let log = served.log();
    assert!(
        log.contains("Stopping: running triggers have 1 s to finish (stop_timeout"),
        "{log}"
    );
    assert!(
        log.contains("Stopping at once: 1 running command(s) killed; the notifications they were for will be delivered again"),
        "{log}"
    );
    // Started again, the notification whose command was killed is delivered again.
    std::fs::write(&gate, "").unwrap();
    let mut served = start();
    wait_until(
        Duration::from_secs(60),
        || std::fs::read_to_string(&runs).is_ok_and(|t| t.lines().count() == 2),
        || served.log(),
    );
    served.wait_for_log("(revision 1)");
    assert_eq!(served.stop(), Some(0));
}

/// `METHOD path` with a token and a body: the status and the JSON answer.
fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn listeners_and_plugins_change_through_the_api() {
    let root = tempfile::tempdir().unwrap();
    let file = service(root.path());
    let tenants = root.path().join("tenants");
    let mut command = aviso(root.path());
    command.args(["serve", "--config", file.to_str().unwrap()]);
    let mut served = Listening::spawn(command, root.path().join("serve.out"), "Serving ");
    let address = api_address(&served);
    let token = Some("alpha-token");
    let put =
        |path: &str, token: Option<&str>, body: &[u8]| request(&address, "PUT", path, token, body);

    // A new listener file, applied at once: the answer is the tenant's new status.
    let listener = b"listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: api.log\n";
    let (status, body) = put("/v1/tenants/alpha/listeners/api.yaml", token, listener);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["state"].clone(), body["listeners"].clone()),
        ("running".into(), 2.into())
    );
    assert!(tenants.join("alpha/listeners/api.yaml").exists());
    notify_flight(root.path(), "Italy", 1);
    let api_log = root.path().join("state/tenants/alpha/logs/api.log");
    wait_until(
        Duration::from_secs(60),
        || std::fs::read_to_string(&api_log).is_ok_and(|t| t.contains("N1")),
        || served.log(),
    );

    // A broken one is refused with why, and not written: the running version goes on.
    let (status, body) = put(
        "/v1/tenants/alpha/listeners/bad.yaml",
        token,
        b"listeners: [broken\n",
    );
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(
            &tenants
                .join("alpha/listeners/bad.yaml")
                .display()
                .to_string()
        ),
        "{error}"
    );
    assert!(!tenants.join("alpha/listeners/bad.yaml").exists());
    // A listener reaching for what the tenant may not have: refused the same way.
    let (status, body) = put(
        "/v1/tenants/alpha/listeners/evil.yaml",
        token,
        b"listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n      - type: log\n        path: ../../beta/logs/x.log\n",
    );
    assert_eq!(status, 422, "{body}");

    // Plugins: a WebAssembly file is taken, anything else is not.
    let noop = std::fs::read(test_plugin("noop")).unwrap();
    let (status, body) = put("/v1/tenants/alpha/plugins/other.wasm", token, &noop);
    assert_eq!(status, 200, "{body}");
    let (status, body) = put("/v1/tenants/alpha/plugins/junk.wasm", token, b"#!/bin/sh\n");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{body}"
    );

    // Names, kinds, tokens.
    let (status, body) = put("/v1/tenants/alpha/listeners/x.txt", token, listener);
    assert_eq!(status, 400, "{body}");
    let (status, _) = put("/v1/tenants/alpha/secrets/x.yaml", token, listener);
    assert_eq!(status, 404);
    let (status, body) = put("/v1/tenants/beta/listeners/x.yaml", token, listener);
    assert_eq!(status, 403, "{body}");
    let (status, _) = put("/v1/tenants/alpha/listeners/x.yaml", None, listener);
    assert_eq!(status, 401);
    let (status, _) = put(
        "/v1/tenants/nobody/listeners/x.yaml",
        Some("admin-token"),
        listener,
    );
    assert_eq!(status, 404);

    // Deleting: the administrator may too; a file that is not there is a 404.
    let (status, body) = request(
        &address,
        "DELETE",
        "/v1/tenants/alpha/listeners/api.yaml",
        Some("admin-token"),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["listeners"], 1, "{body}");
    assert!(!tenants.join("alpha/listeners/api.yaml").exists());
    let (status, _) = request(
        &address,
        "DELETE",
        "/v1/tenants/alpha/listeners/api.yaml",
        token,
        b"",
    );
    assert_eq!(status, 404);
    assert_eq!(served.stop(), Some(0));
}

#[test]
fn the_api_answers_over_https_with_api_tls() {
    let root = tempfile::tempdir().unwrap();
    let certificates = root.path().join("certs");
    std::fs::create_dir_all(&certificates).unwrap();
    common::certificates::make_certificates(&certificates);
    let serve_yaml = |key: &str| {
        format!(
            "notification_engine: {{type: file_based}}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\", admin_token_sha256: {}, tls: {{certificate: certs/server.pem, key: {key}}}}}\n",
            sha256("admin-token")
        )
    };
    write(
        &root.path().join("serve.yaml"),
        &serve_yaml("certs/server.key"),
    );
    write(
        &root.path().join("tenants/alpha/listeners/flights.yaml"),
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n",
    );
    let mut served = serve_in(root.path());
    let address = served
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("Management API on https://"))
        .unwrap_or_else(|| panic!("no https address in {}", served.log()))
        .to_string();
    // Over TLS, trusting the test CA: the API answers.
    let https_get = |path: &str, token: Option<&str>| -> String {
        use std::io::{Read, Write};
        let tcp = std::net::TcpStream::connect(&address).unwrap();
        let mut stream = rustls::StreamOwned::new(
            common::certificates::trusting(&certificates.join("ca.pem")),
            tcp,
        );
        let authorization = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let health = https_get("/health", None);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("{\"status\":\"alive\"}"), "{health}");
    let tenant = https_get("/v1/tenants/alpha", Some("admin-token"));
    assert!(tenant.starts_with("HTTP/1.1 200"), "{tenant}");
    // Plain HTTP gets no answer from it.
    let (status, _) = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (String::from_utf8_lossy(&answer).contains("200 OK"), ())
    };
    assert!(!status, "plain HTTP was answered");
    assert_eq!(served.stop(), Some(0));

    // A key that cannot be read: the service does not start, and says which setting.
    write(
        &root.path().join("serve.yaml"),
        &serve_yaml("certs/missing.key"),
    );
    let out = aviso(root.path())
        .args(["serve", "--config", "serve.yaml"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the private key") && stderr.contains("(api.tls.key)"),
        "{stderr}"
    );
}

#[test]
fn a_tenant_s_folders_never_reach_the_service_s_own_files() {
    // The site grants a folder holding the service's state, tenants and key file; a tenant
    // asking for it is refused, one asking for a folder beside them runs.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::create_dir_all(root.path().join("state/tenants")).unwrap();
    write(
        &root.path().join("serve.yaml"),
        &format!(
            "notification_engine: {{type: file_based}}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:0\"}}\nplugins: {{allow: {{read: [\"{}\"]}}}}\n",
            root.path().display()
        ),
    );
    let listener = |folder: &Path| {
        format!(
            "listeners:\n  - event: flight\n    request: {{country: italy}}\n    triggers:\n      - type: plugin\n        path: noop.wasm\n        allow: {{read: [\"{}\"]}}\n",
            folder.display()
        )
    };
    for (tenant, folder) in [
        ("nosy", root.path().to_path_buf()),
        ("peeking", root.path().join("state/tenants")),
        ("tidy", root.path().join("data")),
    ] {
        let dir = root.path().join("tenants").join(tenant);
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        std::fs::copy(test_plugin("noop"), dir.join("plugins/noop.wasm")).unwrap();
        write(
            &dir.join("tenant.yaml"),
            &format!("plugins: {{allow: {{read: [\"{}\"]}}}}\n", folder.display()),
        );
        write(&dir.join("listeners/x.yaml"), &listener(&folder));
    }
    let out = aviso(root.path())
        .args(["serve", "--config", "serve.yaml", "--check"])
        .current_dir(root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    let line = |tenant: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{tenant}: ")))
            .unwrap_or_else(|| panic!("no line for {tenant} in {stdout}"))
            .to_string()
    };
    assert!(
        line("nosy").contains(&format!(
            "plugins.allow.read grants {}, which reaches the service's state",
            root.path().display()
        )),
        "{stdout}"
    );
    assert!(
        line("peeking").contains(
            "which reaches the service's state (every tenant's positions, dead letters and logs)"
        ),
        "{stdout}"
    );
    assert!(line("tidy").starts_with("tidy: ready"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_far_behind_is_let_go_and_holds_no_one_back() {
    use aviso::config::{CliOverrides, ConfigSources, Program, Settings};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("config.yaml"),
        "notification_engine: {type: file_based, polling_interval: 1}\n",
    );
    let sources = ConfigSources {
        system_file: PathBuf::from("/nonexistent/aviso/config.yaml"),
        home_dir: None,
        config_file: Some(root.path().join("config.yaml")),
        env: Box::new(|_| None),
        cli: CliOverrides::default(),
        program: Program::Aviso,
    };
    let mut settings = Settings::load(&sources).unwrap().0;
    settings.state_dir = Some(root.path().join("state"));
    let aviso = aviso::Aviso::with_schema(settings, aviso::schema::Schema::default_schema());
    let store = Arc::new(aviso.open_store().unwrap());
    // Two listeners on one base key: one quick, one stuck until the gate opens.
    let document = aviso::yaml::parse(
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n  - event: flight\n    request: {country: italy, airport: fco}\n    triggers: [{type: echo}]\n",
    )
    .unwrap();
    let mut set =
        aviso::listener::parse_listeners(&document, "test", aviso.schema(), "file_based").unwrap();
    type Received = Arc<Mutex<Vec<String>>>;
    let (quick, slow): (Received, Received) = Default::default();
    let gate = Arc::new(AtomicBool::new(false));
    let record = |into: Received, gate: Option<Arc<AtomicBool>>| {
        aviso::listener::TriggerSpec::function(move |n| {
            while gate.as_ref().is_some_and(|g| !g.load(Ordering::SeqCst)) {
                std::thread::sleep(Duration::from_millis(5));
            }
            into.lock().unwrap().push(n.request["number"].clone());
            Ok(())
        })
    };
    set.listeners[0].triggers = vec![record(quick.clone(), None)];
    set.listeners[1].triggers = vec![record(slow.clone(), Some(gate.clone()))];
    let runtime = aviso.trigger_runtime().unwrap();
    let (_stopping, stop) = tokio::sync::watch::channel(false);
    let current = aviso
        .current_revision(&store, None, &stop)
        .await
        .unwrap()
        .unwrap();
    let active = aviso
        .active_listeners(&store, &runtime, vec![set], false, None, current)
        .await
        .unwrap();
    // A queue of four revisions per listener, instead of thousands.
    let (hub, _failures) = aviso::delivery::Hub::letting_go_at(
        store.clone(),
        aviso.feed_settings(),
        aviso.retry_policy(),
        4,
    );
    let group = hub.start(active).await;
    let numbers: Vec<String> = (0..20).map(|i| format!("N{i}")).collect();
    for number in &numbers {
        let parameters = aviso::notification::parse_parameters(&format!(
            "event=flight,country=italy,airport=fco,date=20210101,number={number}"
        ))
        .unwrap();
        aviso.notify(&parameters).await.unwrap();
    }
    // The quick listener has every notification while the stuck one still waits on its first.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while quick.lock().unwrap().len() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*quick.lock().unwrap(), numbers);
    assert!(slow.lock().unwrap().is_empty());
    // Let go by the shared feed, the stuck one then reads on its own: all, once, in order.
    gate.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while slow.lock().unwrap().len() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*slow.lock().unwrap(), numbers);
    group.stop().await;
}
