//! The post trigger over HTTPS against a server whose certificate comes from a test CA (made
//! with the `openssl` command): refused while the CA is unknown, accepted with `verify: false`,
//! and accepted with verification once the CA is trusted through `SSL_CERT_FILE`.
//! One test function, because it changes the process environment.

#[path = "integration/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{FLIGHT_KEY, flight, runtime};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTPS server answering 200 to every request; returns its port and the bodies received.
async fn https_server(dir: &Path) -> (u16, Arc<Mutex<Vec<String>>>) {
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                // A failed handshake (the client refused our certificate) is part of the test.
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length: usize = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            recorded.lock().unwrap().push(text[end + 4..].to_string());
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, bodies)
}

fn post(url: &str, verify: Option<bool>) -> String {
    let verify = verify
        .map(|v| format!("          verify: {v}\n"))
        .unwrap_or_default();
    format!(
        "      - type: post\n        protocol:\n          type: cloudevents_http\n          url: {url}\n          timeout: 10\n{verify}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_certificates_are_verified_unless_verify_is_false() {
    let dir = tempfile::tempdir().unwrap();
    common::certificates::make_certificates(dir.path());
    let (port, bodies) = https_server(dir.path()).await;
    let url = format!("https://localhost:{port}/hook");
    // SAFETY (edition 2024 `set_var`/`remove_var`): this test binary has one test, and nothing
    // else reads the environment while it runs these lines.
    unsafe {
        std::env::remove_var("SSL_CERT_FILE");
        std::env::remove_var("REQUESTS_CA_BUNDLE");
    }

    let (runtime, _) = runtime();
    let triggers = common::load(&runtime, &post(&url, None)).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0]
        .result
        .clone()
        .expect_err("an unknown CA must be refused");
    assert!(error.contains("HTTP request failed"), "{error}");
    assert!(
        bodies.lock().unwrap().is_empty(),
        "nothing may be sent to an unverified server"
    );

    let triggers = common::load(&runtime, &post(&url, Some(false))).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 2).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    assert_eq!(bodies.lock().unwrap().len(), 1);

    unsafe { std::env::set_var("SSL_CERT_FILE", dir.path().join("ca.pem")) };
    let triggers = common::load(&runtime, &post(&url, None)).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 3).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let received = bodies.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert!(
        received[1].contains("\"data\": {\"event\": \"flight\""),
        "{}",
        received[1]
    );
}
