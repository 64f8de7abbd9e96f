//! The post trigger's `cloudevents_aws` protocol against moto's AWS emulator (from PyPI): the
//! message published to SNS reaches an SQS queue subscribed to the topic, and is checked there.
//! `scripts/test.sh` installs moto and sets `MOTO_SERVER`; without it the test is skipped
//! locally and fails under CI.

use crate::common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{FLIGHT_KEY, flight, load, runtime};
use serde_json::Value;

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Option<Moto> {
    let program = match std::env::var_os("MOTO_SERVER") {
        Some(p) => p,
        None if std::env::var_os("CI").is_some() => {
            panic!("MOTO_SERVER must point to moto_server under CI")
        }
        None => {
            eprintln!("MOTO_SERVER not set: skipping the SNS test");
            return None;
        }
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto { child, port };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(moto);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto_server did not start listening on port {port}");
}

/// One query-API call to moto (it does not check signatures, only the service in the scope).
fn call(port: u16, service: &str, params: &[(&str, &str)]) -> String {
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let request = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/x-www-form-urlencoded\r\nauthorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {text}"))
        + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

fn unescape_xml(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_publish_reaches_a_subscribed_queue() {
    let Some(moto) = moto() else { return };
    let port = moto.port;
    let topic = between(
        &call(
            port,
            "sns",
            &[
                ("Action", "CreateTopic"),
                ("Name", "aviso"),
                ("Version", "2010-03-31"),
            ],
        ),
        "<TopicArn>",
        "</TopicArn>",
    )
    .to_string();
    let queue_url = between(
        &call(
            port,
            "sqs",
            &[
                ("Action", "CreateQueue"),
                ("QueueName", "flights"),
                ("Version", "2012-11-05"),
            ],
        ),
        "<QueueUrl>",
        "</QueueUrl>",
    )
    .to_string();
    call(
        port,
        "sns",
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &topic),
            ("Protocol", "sqs"),
            ("Endpoint", "arn:aws:sqs:us-east-1:123456789012:flights"),
            ("Version", "2010-03-31"),
        ],
    );

    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: post
        protocol:
          type: cloudevents_aws
          arn: {topic}
          region_name: us-east-1
          endpoint_url: http://127.0.0.1:{port}/
          aws_access_key_id: AKIDTEST
          aws_secret_access_key: secret
          MessageAttributes:
            attribute1:
              DataType: String
              StringValue: valueAttribute1
          cloudevents:
            type: aviso_topic
            source: my_test
"
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");

    let received = call(
        port,
        "sqs",
        &[
            ("Action", "ReceiveMessage"),
            ("QueueUrl", &queue_url),
            ("MaxNumberOfMessages", "10"),
            ("Version", "2012-11-05"),
        ],
    );
    let envelope: Value =
        serde_json::from_str(&unescape_xml(between(&received, "<Body>", "</Body>"))).unwrap();
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(envelope["Subject"], "aviso_topic");
    assert_eq!(
        envelope["MessageAttributes"]["attribute1"]["Value"],
        "valueAttribute1"
    );
    let event: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "aviso_topic");
    assert_eq!(event["source"], "my_test");
    assert_eq!(event["data"], flight(Some("Landed")).to_json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_settings_are_checked_at_load() {
    let (runtime, _) = runtime();
    for (protocol, message) in [
        (
            "{type: cloudevents_aws, region_name: us-east-2, aws_access_key_id: a, aws_secret_access_key: b}",
            "arn is a mandatory field",
        ),
        (
            "{type: cloudevents_aws, arn: 'arn:aws:sns:x', aws_access_key_id: a, aws_secret_access_key: b}",
            "region_name is a mandatory field",
        ),
        (
            "{type: cloudevents_aws, arn: 'arn:aws:sns:x', region_name: us-east-2, aws_access_key_id: a, aws_secret_access_key: b, MessageAttributes: {a: {DataType: String}}}",
            "MessageAttributes.a.StringValue is a mandatory field",
        ),
    ] {
        let yaml = format!("      - type: post\n        protocol: {protocol}\n");
        let error = runtime
            .load(&common::specs(&yaml))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{protocol}: {error}");
    }
}
