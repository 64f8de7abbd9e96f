//! aviso-rest against real etcd, with pyaviso's own test set-up (the ECMWF schema pushed to the
//! configuration service, `schema_parser: ecmwf`, `remote_schema: true`, `skips` on stream
//! cams): pyaviso's aviso-rest test cases as HTTP requests, binary and plain submissions,
//! validation, the store down, and a provider's CloudEvent reaching our listener and pyaviso's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

struct Site {
    etcd: Etcd,
    home: tempfile::TempDir,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ecmwf")
}

/// The aviso client settings of pyaviso's aviso-rest tests, on this etcd.
fn client_config(port: u16) -> String {
    format!(
        "notification_engine:\n  host: 127.0.0.1\n  port: {port}\n  type: etcd_rest\n  service: aviso/v1\n  polling_interval: 1\nconfiguration_engine:\n  host: 127.0.0.1\n  port: {port}\n  type: etcd_rest\nauth_type: none\nschema_parser: ecmwf\nremote_schema: true\n"
    )
}

impl Site {
    /// etcd with the ECMWF schema pushed as service `aviso/v1`, and a home whose client
    /// configuration uses it.
    fn new() -> Site {
        let site = Site {
            etcd: Etcd::start(),
            home: tempfile::tempdir().unwrap(),
        };
        let folder = site.home.path().join(".aviso");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("config.yaml"), client_config(site.etcd.port)).unwrap();
        let push = site.home.path().join("push");
        std::fs::create_dir_all(&push).unwrap();
        for file in ["event_listener_schema.json", "language.json"] {
            std::fs::copy(fixtures().join(file), push.join(file)).unwrap();
        }
        let out = site
            .client(&aviso_binary().with_file_name("aviso-config"))
            .args([
                "push",
                "aviso/v1",
                "-D",
                push.to_str().unwrap(),
                "-m",
                "schema",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        site
    }

    fn client(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars() {
            if name.starts_with("AVISO_") {
                command.env_remove(name);
            }
        }
        command
            .env("HOME", self.home.path())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(self.home.path());
        command
    }

    /// aviso-rest with pyaviso's test configuration (and `extra` settings), ready.
    fn rest(&self, extra: &str) -> Server {
        let port = free_port();
        let config = self.home.path().join("rest.yaml");
        let aviso: String = client_config(self.etcd.port)
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect();
        std::fs::write(
            &config,
            format!(
                "host: 127.0.0.1\nport: {port}\nserver_type: flask\nskips:\n  stream: [cams]\naviso:\n{aviso}{extra}"
            ),
        )
        .unwrap();
        let mut command = server_command("aviso-rest", self.home.path());
        command
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .arg("--config")
            .arg(&config);
        let server = Server::start(command, self.home.path(), "rest", port);
        wait_until(
            Duration::from_secs(60),
            || http(port, "GET", "/ready", &[], b"").status == 200,
            || server.log(),
        );
        server
    }
}

fn cloud_event(data: Value) -> Value {
    json!({
        "type": "aviso", "specversion": "1.0", "id": "0c02fdc5-148c-43b5-b2fa-cb1f590369ff",
        "source": "/host/user", "time": "2020-03-02T13:34:40.245Z",
        "datacontenttype": "application/json", "data": data,
    })
}

fn dissemination(location: &str) -> Value {
    json!({
        "event": "dissemination",
        "request": {"class": "od", "date": "20190810", "destination": "SCL", "domain": "g",
                    "expver": "1", "step": "1", "stream": "enfo", "time": "0", "target": "E1"},
        "location": location,
    })
}

const DISS_KEY: &str =
    "/ec/diss/SCL/date=20190810,target=E1,class=od,expver=0001,domain=g,time=00,stream=enfo,step=1";

fn mars() -> Value {
    json!({
        "event": "mars",
        "request": {"class": "od", "date": "20190810", "domain": "g", "expver": "1", "step": "1",
                    "stream": "enfo", "time": "0"},
    })
}

fn post(server: &Server, body: &Value) -> Answer {
    http(
        server.port,
        "POST",
        "/api/v1/notification",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn pyavisos_rest_test_cases_answer_as_its_test_suite_expects() {
    let site = Site::new();
    let rest = site.rest("");
    let ok = json!({"message": "Notification successfully submitted"});

    let answer = post(&rest, &cloud_event(dissemination("xxxxxxxx")));
    assert_eq!(
        (answer.status, answer.json()),
        (200, ok.clone()),
        "{}",
        rest.log()
    );
    assert_eq!(value_of(&site.etcd, DISS_KEY).as_deref(), Some("xxxxxxxx"));
    // The admin key the cleaner of aviso-admin reads.
    assert_eq!(keys_under(&site.etcd, "/ec/admin/20190810/").len(), 1);
    let answer = post(&rest, &cloud_event(mars()));
    assert_eq!((answer.status, answer.json()), (200, ok.clone()));
    assert!(
        keys_under(&site.etcd, "/ec/mars/date=20190810")
            .iter()
            .any(|k| k.contains("stream=enfo")),
    );

    let refused = |body: &[u8]| {
        let answer = http(
            rest.port,
            "POST",
            "/api/v1/notification",
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(answer.status, 400, "{}", answer.body);
        answer.json()["message"].as_str().unwrap().to_string()
    };
    assert_eq!(refused(b""), "Invalid notification, Body cannot be empty");
    for (attribute, message) in [
        ("id", "Missing required attributes: {'id'}"),
        ("source", "Missing required attributes: {'source'}"),
        ("type", "Missing required attributes: {'type'}"),
        ("specversion", "Failed to find specversion in HTTP request"),
        ("data", "Invalid notification, 'data' could not be located"),
    ] {
        let mut event = cloud_event(dissemination("x"));
        event.as_object_mut().unwrap().remove(attribute);
        assert_eq!(refused(event.to_string().as_bytes()), message);
    }
    for (field, message) in [
        (
            "event",
            "Invalid notification, 'event' could not be located",
        ),
        (
            "request",
            "Invalid notification, 'request' could not be located",
        ),
    ] {
        let mut data = dissemination("x");
        data.as_object_mut().unwrap().remove(field);
        assert_eq!(refused(cloud_event(data).to_string().as_bytes()), message);
    }
    // Schema validation is the submitter's fault too: 400 (pyaviso: 500).
    let mut data = dissemination("x");
    data["request"]["step"] = json!("-5");
    let message = refused(cloud_event(data).to_string().as_bytes());
    assert!(message.contains("step"), "{message}");
    let mut data = dissemination("x");
    data["request"]["colour"] = json!("red");
    let message = refused(cloud_event(data).to_string().as_bytes());
    assert!(message.contains("colour"), "{message}");
    assert!(refused(b"{not json").starts_with("Invalid notification, the body is not JSON"));

    let answer = http(rest.port, "POST", "/api/v1/notificatio", &[], b"{}");
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["message"], "Server error occurred");
    assert_eq!(
        http(rest.port, "GET", "/api/v1/notification", &[], b"").status,
        405
    );

    // Skipped by `skips: {stream: [cams]}`, before validation: answered, not written.
    let mut data = mars();
    data["request"]["stream"] = json!("cams");
    data["request"]["step"] = json!("not even valid");
    let answer = post(&rest, &cloud_event(data));
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"message": "Notification skipped"}))
    );
    assert!(
        !keys_under(&site.etcd, "/ec/mars/")
            .iter()
            .any(|k| k.contains("cams"))
    );

    // `ttl`: the notification lives that many seconds.
    let mut data = dissemination("short-lived");
    data["request"]["step"] = json!("2");
    data["ttl"] = json!("1");
    assert_eq!(post(&rest, &cloud_event(data)).status, 200);
    let key = DISS_KEY.replace("step=1", "step=2");
    assert_eq!(value_of(&site.etcd, &key).as_deref(), Some("short-lived"));
    wait_until(
        Duration::from_secs(30),
        || value_of(&site.etcd, &key).is_none(),
        || "the notification with ttl 1 did not expire".into(),
    );

    // The counts by event and outcome.
    let metrics = http(rest.port, "GET", "/metrics", &[], b"").body;
    for line in [
        "aviso_rest_notifications_total{event=\"dissemination\",outcome=\"submitted\"} 2",
        "aviso_rest_notifications_total{event=\"mars\",outcome=\"submitted\"} 1",
        "aviso_rest_notifications_total{event=\"mars\",outcome=\"skipped\"} 1",
        "aviso_rest_notifications_total{event=\"dissemination\",outcome=\"invalid\"} 2",
        // Submissions that name no event.
        "aviso_rest_notifications_total{event=\"unknown\",outcome=\"invalid\"} 9",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert!(metrics.contains("aviso_rest_http_request_duration_seconds_bucket{"));
}

#[test]
fn binary_cloudevents_and_plain_json_are_taken_and_telemetry_and_documents_served() {
    let site = Site::new();
    // pyaviso's UDP telemetry, to a receiver of our own here.
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let rest = site.rest(&format!(
        "monitoring:\n  enabled: true\n  transmitter:\n    monitoring_server_port: {}\n    frequency: 0.2\n",
        receiver.local_addr().unwrap().port()
    ));
    let body = dissemination("s3://binary").to_string();
    let answer = http(
        rest.port,
        "POST",
        "/api/v1/notification",
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "42"),
            ("ce-source", "/test"),
            ("ce-type", "aviso"),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        value_of(&site.etcd, DISS_KEY).as_deref(),
        Some("s3://binary")
    );
    let answer = http(
        rest.port,
        "POST",
        "/api/v1/notification",
        &[
            ("ce-specversion", "1.0"),
            ("ce-source", "/test"),
            ("ce-type", "aviso"),
        ],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["message"],
        "Missing required attributes: {'id'}"
    );

    // Plain JSON: `payload` is the schema's payload field (`location`).
    let mut plain = dissemination("");
    plain.as_object_mut().unwrap().remove("location");
    plain["payload"] = json!("s3://plain");
    assert_eq!(post(&rest, &plain).status, 200);
    assert_eq!(
        value_of(&site.etcd, DISS_KEY).as_deref(),
        Some("s3://plain")
    );

    let openapi = http(rest.port, "GET", "/openapi.json", &[], b"").json();
    assert!(openapi["paths"]["/api/v1/notification"]["post"].is_object());
    let home = http(rest.port, "GET", "/", &[], b"");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("POST /api/v1/notification"));
    assert_eq!(
        http(rest.port, "GET", "/health", &[], b"").json()["status"],
        "ok"
    );
}

#[test]
fn with_etcd_down_a_notification_is_answered_503_and_never_200() {
    let mut site = Site::new();
    let rest = site.rest("");
    site.etcd.kill();
    let answer = post(&rest, &cloud_event(dissemination("lost?")));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.header("retry-after"), Some("30"));
    assert_eq!(http(rest.port, "GET", "/ready", &[], b"").status, 503);
    site.etcd.restart();
    let answer = post(&rest, &cloud_event(dissemination("kept")));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(value_of(&site.etcd, DISS_KEY).as_deref(), Some("kept"));
}

#[test]
fn a_providers_cloudevent_reaches_our_listener_and_pyavisos() {
    let site = Site::new();
    let rest = site.rest("");
    let listener = site.home.path().join("scl.yaml");
    std::fs::write(
        &listener,
        "listeners:\n  - event: dissemination\n    request:\n      destination: SCL\n    triggers:\n      - type: echo\n",
    )
    .unwrap();
    let mut command = site.client(&aviso_binary());
    command
        .env("AVISO_AUTOMATIC_RETRY_DELAY", "1")
        .args(["listen", listener.to_str().unwrap()]);
    let ours = Listening::spawn(command, site.home.path().join("ours.out"), "Listening to");
    let theirs = pyaviso().map(|python| {
        let mut command = site.client(&python);
        command.args(["listen", listener.to_str().unwrap()]);
        Listening::spawn(command, site.home.path().join("theirs.out"), "Listening to")
    });

    let answer = post(&rest, &cloud_event(dissemination("s3://provider/file")));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let received = ours.wait_for_output("s3://provider/file");
    assert!(received.contains("\"destination\": \"SCL\""), "{received}");
    if let Some(theirs) = theirs {
        let received = theirs.wait_for_output("s3://provider/file");
        assert!(received.contains("\"destination\": \"SCL\""), "{received}");
    }
}
