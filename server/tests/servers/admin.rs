//! aviso-admin against real etcd: the cleaner's deletions, dry run and catch-up of missed days,
//! the compactor's history and compaction, metrics, configuration errors.

use std::path::Path;
use std::time::Duration;

use chrono::{Duration as Days, Utc};

use crate::common::*;

fn day(offset: i64) -> String {
    (Utc::now().date_naive() + Days::days(offset))
        .format("%Y%m%d")
        .to_string()
}

fn config(dir: &Path, etcd: &Etcd, extra: &str) -> std::path::PathBuf {
    let path = dir.join("admin.yaml");
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{port}\n  enabled: false\ncleaner:\n  url: http://127.0.0.1:{port}\nmetrics:\n  port: 0\n{extra}",
            port = etcd.port
        ),
    )
    .unwrap();
    path
}

fn admin(dir: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    server_command("aviso-admin", dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// A day of dissemination and mars notifications, as pyaviso's notify writes them.
fn notifications_of(etcd: &Etcd, day: &str, destinations: &[&str]) {
    for destination in destinations {
        put(etcd, &format!("/ec/admin/{day}/{destination}"), "None");
        for step in ["0", "6"] {
            put(
                etcd,
                &format!("/ec/diss/{destination}/date={day},stream=oper,step={step}"),
                "/data/file",
            );
        }
    }
    put(
        etcd,
        &format!("/ec/mars/date={day},stream=oper,step=0"),
        "None",
    );
}

#[test]
fn the_cleaner_catches_up_every_day_missed_and_a_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    // Retention 3 days, given in the environment (pyaviso crashed on it: a string).
    let (d, d1, d2, d3, kept) = (day(-3), day(-4), day(-5), day(-6), day(-2));
    notifications_of(&etcd, &d3, &["EC1"]);
    notifications_of(&etcd, &d2, &["EC1", "FOO"]);
    notifications_of(&etcd, &d1, &["FOO2"]);
    notifications_of(&etcd, &d, &["FOO"]);
    notifications_of(&etcd, &kept, &["FOO", "EC1"]);
    // Status keys of the bases stay.
    put(&etcd, "/ec/diss/FOO", "{\"date_time\": \"x\"}");
    // The cleaner last ran for day d3: the three days after it were missed.
    put(
        &etcd,
        "/ec/admin/cleaner/progress",
        &format!("{{\"cleaned_through\": \"{d3}\", \"time\": \"then\"}}"),
    );
    let config = config(dir.path(), &etcd, "");
    let before_diss = keys_under(&etcd, "/ec/diss/").len();

    let run = |args: &[&str]| {
        server_command("aviso-admin", dir.path())
            .env("AVISO_ADMIN_CLEANER_RETENTION_PERIOD", "3")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    let log = String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "day {d2}: would delete 7 keys (destinations: EC1 2, FOO 2; admin keys 2; mars 1)"
        )),
        "{log}"
    );
    assert!(log.contains(&format!("day {d1}: would delete")), "{log}");
    assert!(
        log.contains(&format!("day {d}: would delete 4 keys")),
        "{log}"
    );
    assert!(!log.contains(&format!("day {d3}")), "{log}");
    assert_eq!(
        keys_under(&etcd, "/ec/diss/").len(),
        before_diss,
        "a dry run deletes nothing"
    );

    let once = run(&["--once"]);
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(once.status.success(), "{log}");
    for gone in [&d, &d1, &d2] {
        assert!(log.contains(&format!("day {gone}: deleted")), "{log}");
        assert!(keys_under(&etcd, &format!("/ec/admin/{gone}")).is_empty());
        assert!(keys_under(&etcd, &format!("/ec/mars/date={gone}")).is_empty());
    }
    let diss = keys_under(&etcd, "/ec/diss/");
    assert!(
        diss.iter()
            .all(|k| !k.contains(&d) && !k.contains(&d1) && !k.contains(&d2)),
        "{diss:?}"
    );
    // Day d3 was cleaned before (its keys written afterwards are not the cleaner's business
    // any more), the day inside the retention and the status stay.
    assert_eq!(keys_under(&etcd, &format!("/ec/admin/{kept}")).len(), 2);
    assert_eq!(
        keys_under(&etcd, &format!("/ec/diss/FOO/date={kept}")).len(),
        2
    );
    assert!(diss.contains(&"/ec/diss/FOO".to_string()));
    let progress: serde_json::Value =
        serde_json::from_str(&value_of(&etcd, "/ec/admin/cleaner/progress").unwrap()).unwrap();
    assert_eq!(progress["cleaned_through"], d.as_str());

    // Run again the same day: nothing is due.
    let again = run(&["--once"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("Cleaner: no day left to clean"), "{log}");
}

#[test]
fn without_a_progress_record_the_cleaner_starts_at_the_oldest_day_with_admin_keys() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let (old, older) = (day(-20), day(-30));
    notifications_of(&etcd, &older, &["SCL"]);
    notifications_of(&etcd, &old, &["SCL"]);
    notifications_of(&etcd, &day(-1), &["SCL"]);
    let config = config(dir.path(), &etcd, "");
    let once = admin(dir.path(), &config, &["--once"]);
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(once.status.success(), "{log}");
    // pyaviso cleaned only today − 15 days; both old days are gone here.
    assert!(
        keys_under(&etcd, &format!("/ec/diss/SCL/date={older}")).is_empty(),
        "{log}"
    );
    assert!(
        keys_under(&etcd, &format!("/ec/diss/SCL/date={old}")).is_empty(),
        "{log}"
    );
    assert_eq!(
        keys_under(&etcd, &format!("/ec/diss/SCL/date={}", day(-1))).len(),
        2
    );
    // Every day from the oldest to today − 15 was looked at, once.
    assert_eq!(log.matches("Cleaner: day ").count(), 16, "{log}");
}

#[test]
fn the_compactor_keeps_pyavisos_history_and_compacts_what_left_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    for i in 0..5 {
        put(&etcd, "/ec/diss/SCL/date=1", &format!("v{i}"));
    }
    let old = revision(&etcd);
    for i in 0..5 {
        put(&etcd, "/ec/diss/SCL/date=1", &format!("w{i}"));
    }
    let recent = revision(&etcd);
    let stamp = |offset: i64| {
        format!(
            "{}T00:00:00.000000Z",
            (Utc::now().date_naive() + Days::days(offset)).format("%Y-%m-%d")
        )
    };
    let history = serde_json::json!([
        {"revision": old, "timestamp": stamp(-20)},
        {"revision": recent, "timestamp": stamp(-2)},
    ]);
    put(&etcd, "/ec/admin/history", &history.to_string());
    let path = dir.path().join("admin.yaml");
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{port}\n  retention_period: 16\ncleaner:\n  enabled: false\n",
            port = etcd.port
        ),
    )
    .unwrap();

    let dry = admin(dir.path(), &path, &["--dry-run"]);
    let log = String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success(), "{log}");
    assert!(
        log.contains(&format!("would compact the history up to revision {old}")),
        "{log}"
    );
    assert_eq!(
        value_of(&etcd, "/ec/admin/history").unwrap(),
        history.to_string()
    );

    let now = revision(&etcd);
    let once = admin(dir.path(), &path, &["--once"]);
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(once.status.success(), "{log}");
    assert!(
        log.contains(&format!("compacted the history up to revision {old}")),
        "{log}"
    );
    let kept: serde_json::Value =
        serde_json::from_str(&value_of(&etcd, "/ec/admin/history").unwrap()).unwrap();
    assert_eq!(
        kept,
        serde_json::json!([
            {"revision": recent, "timestamp": stamp(-2)},
            {"revision": now, "timestamp": stamp(0)},
        ])
    );
    // Before the compacted revision, history is gone; after it, still there.
    let read_at = |rev: u64| {
        etcd_post(
            &etcd,
            "kv/range",
            &format!(
                "{{\"key\": \"{}\", \"revision\": {rev}}}",
                b64("/ec/diss/SCL/date=1")
            ),
            None,
        )
    };
    assert!(read_at(old - 1).contains("required revision has been compacted"));
    assert!(read_at(old + 1).starts_with("HTTP/1.1 200"));
}

#[test]
fn a_scheduled_admin_serves_metrics_with_etcds_size_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let port = free_port();
    let path = dir.path().join("admin.yaml");
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{e}\ncleaner:\n  url: http://127.0.0.1:{e}\nmetrics:\n  port: {port}\n",
            e = etcd.port
        ),
    )
    .unwrap();
    let mut command = server_command("aviso-admin", dir.path());
    command.arg("--config").arg(&path);
    let mut server = Server::start(command, dir.path(), "admin", port);
    let log = server.log();
    assert!(
        log.contains("Compactor runs every day at 00:00:00 (local time)"),
        "{log}"
    );
    let metrics = || http(port, "GET", "/metrics", &[], b"").body;
    wait_until(
        Duration::from_secs(30),
        || {
            metrics()
                .lines()
                .any(|l| l.starts_with("aviso_admin_etcd_db_size_bytes ") && !l.ends_with(" 0.0"))
        },
        metrics,
    );
    assert_eq!(http(port, "GET", "/health", &[], b"").status, 200);
    assert_eq!(server.process.stop(), Some(0), "{}", server.log());
}

#[test]
fn a_wrong_setting_or_an_unreachable_etcd_is_named_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.yaml");
    std::fs::write(&path, "cleaner:\n  scheduled_time: \"25:99\"\n").unwrap();
    let out = admin(dir.path(), &path, &["--once"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("cleaner.scheduled_time: \"25:99\" is not a time of day"),
        "{text}"
    );
    std::fs::write(&path, "cleaner:\n  retention_period: soon\n").unwrap();
    let out = admin(dir.path(), &path, &["--once"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("Invalid aviso-admin configuration"), "{text}");

    let port = free_port();
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{port}\ncleaner:\n  url: http://127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    let out = admin(dir.path(), &path, &["--once"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "Compactor: etcd at http://127.0.0.1:{port}/v3/kv/range did not answer"
        )),
        "{text}"
    );
    assert!(text.contains("Cleaner: etcd at"), "{text}");
}

#[test]
fn a_scheduled_admin_runs_each_job_at_its_time_of_day() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    let port = free_port();
    // A few seconds from now, local time (as pyaviso's schedule, and the child's time zone).
    let soon = (chrono::Local::now() + Days::seconds(3)).format("%H:%M:%S");
    let path = dir.path().join("admin.yaml");
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{e}\n  scheduled_time: \"{soon}\"\ncleaner:\n  url: http://127.0.0.1:{e}\n  scheduled_time: \"{soon}\"\nmetrics:\n  port: {port}\n",
            e = etcd.port
        ),
    )
    .unwrap();
    let mut command = server_command("aviso-admin", dir.path());
    command.arg("--config").arg(&path);
    let mut server = Server::start(command, dir.path(), "admin", port);
    wait_until(
        Duration::from_secs(60),
        || {
            let log = server.log();
            log.contains("Compactor: recorded revision") && log.contains("Cleaner: ")
        },
        || server.log(),
    );
    assert!(value_of(&etcd, "/ec/admin/history").is_some());
    let metrics = http(port, "GET", "/metrics", &[], b"").body;
    for job in ["compactor", "cleaner"] {
        let line = format!("aviso_admin_runs_total{{job=\"{job}\",outcome=\"success\"}} 1");
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert_eq!(server.process.stop(), Some(0), "{}", server.log());
}

#[test]
fn a_corrupt_history_or_progress_record_is_said_and_started_anew() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start();
    put(&etcd, "/ec/admin/history", "{not a list");
    put(&etcd, "/ec/admin/cleaner/progress", "\u{0}garbage");
    notifications_of(&etcd, &day(-20), &["SCL"]);
    let path = dir.path().join("admin.yaml");
    std::fs::write(
        &path,
        format!(
            "compactor:\n  url: http://127.0.0.1:{e}\ncleaner:\n  url: http://127.0.0.1:{e}\n",
            e = etcd.port
        ),
    )
    .unwrap();
    let once = admin(dir.path(), &path, &["--once"]);
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(once.status.success(), "{log}");
    assert!(
        log.contains("The compaction history at /ec/admin/history cannot be read"),
        "{log}"
    );
    assert!(
        log.contains("The cleaner's progress record at /ec/admin/cleaner/progress cannot be read"),
        "{log}"
    );
    // Both are written again, readable; the old day was cleaned from the oldest admin key.
    let history: serde_json::Value =
        serde_json::from_str(&value_of(&etcd, "/ec/admin/history").unwrap()).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1);
    let progress: serde_json::Value =
        serde_json::from_str(&value_of(&etcd, "/ec/admin/cleaner/progress").unwrap()).unwrap();
    assert_eq!(progress["cleaned_through"], day(-15).as_str());
    assert!(keys_under(&etcd, &format!("/ec/diss/SCL/date={}", day(-20))).is_empty());
}
