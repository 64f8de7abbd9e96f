//! A real etcd (Debian's `etcd-server`), alone or as a cluster, on free loopback ports in
//! temporary directories, stopped by PID when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Child,
    pub port: u16,
    peer: u16,
    name: String,
    cluster: String,
    dir: tempfile::TempDir,
    /// Serving clients over TLS with `server.pem` from this directory, signed by its `ca.pem`.
    tls: Option<PathBuf>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::cluster(1).remove(0)
    }

    /// One member serving clients over TLS only, with the certificates of
    /// [`super::certificates::make_certificates`] in `certificates`.
    pub fn start_tls(certificates: &Path) -> Etcd {
        let (port, peer) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let name = "member0".to_string();
        let cluster = format!("{name}=http://127.0.0.1:{peer}");
        let tls = Some(certificates.to_path_buf());
        let child = spawn(&dir, &name, port, peer, &cluster, tls.as_deref());
        let etcd = Etcd {
            child,
            port,
            peer,
            name,
            cluster,
            dir,
            tls,
        };
        etcd.wait_until_ready();
        etcd
    }

    /// A cluster of `size` members on loopback, each in its own directory.
    pub fn cluster(size: usize) -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("member{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, peer))| {
                let dir = tempfile::tempdir().unwrap();
                let name = format!("member{i}");
                let child = spawn(&dir, &name, *port, *peer, &cluster, None);
                Etcd {
                    child,
                    port: *port,
                    peer: *peer,
                    name,
                    cluster: cluster.clone(),
                    dir,
                    tls: None,
                }
            })
            .collect();
        for member in &members {
            member.wait_until_ready();
        }
        members
    }

    /// Kills this member (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Freezes this member (SIGSTOP), as a paused VM: its connections stay open, nothing answers.
    pub fn pause(&self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
    }

    /// Lets a paused member go on (SIGCONT).
    pub fn resume(&self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }

    /// Kills etcd and starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(
            &self.dir,
            &self.name,
            self.port,
            self.peer,
            &self.cluster,
            self.tls.as_deref(),
        );
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !answers(self.port, self.tls.as_deref()) {
            assert!(
                Instant::now() < deadline,
                "etcd did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn spawn(
    dir: &tempfile::TempDir,
    name: &str,
    port: u16,
    peer: u16,
    cluster: &str,
    tls: Option<&Path>,
) -> Child {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let client_url = format!("{scheme}://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut command = Command::new("etcd");
    if let Some(certificates) = tls {
        command
            .arg("--cert-file")
            .arg(certificates.join("server.pem"))
            .arg("--key-file")
            .arg(certificates.join("server.key"));
    }
    command
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--name", name])
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args([
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd starts (Debian package etcd-server; scripts/setup.sh installs it)")
}

/// Whether etcd's gateway answers a range request with 200 (over TLS trusting the test CA
/// in `tls`, when given).
fn answers(port: u16, tls: Option<&Path>) -> bool {
    use std::io::{Read, Write};
    let Ok(tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut stream: Box<dyn ReadWrite> = match tls {
        None => Box::new(tcp),
        Some(certificates) => Box::new(rustls::StreamOwned::new(
            super::certificates::trusting(&certificates.join("ca.pem")),
            tcp,
        )),
    };
    let body = "{\"key\": \"Lw==\"}";
    let request = format!(
        "POST /v3/kv/range HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// POSTs to etcd's gateway (test set-up) and returns the raw HTTP answer.
pub fn etcd_post(etcd: &Etcd, path: &str, body: &str, token: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", etcd.port)).unwrap();
    let auth = token
        .map(|t| format!("authorization: {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /v3/{path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

impl Etcd {
    /// Compacts the history up to the newest revision: every older revision is gone.
    pub fn compact_to_newest(&self) {
        let answer = etcd_post(self, "kv/range", r#"{"key": "Lw=="}"#, None);
        let revision: u64 = answer
            .split("\"revision\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no revision in {answer}"));
        let answer = etcd_post(
            self,
            "kv/compaction",
            &format!("{{\"revision\": {revision}}}"),
            None,
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
