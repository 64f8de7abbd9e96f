//! A real etcd (Debian's `etcd-server`), alone or as a cluster, on free loopback ports in
//! temporary directories, stopped by PID when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Child,
    pub port: u16,
    peer: u16,
    name: String,
    cluster: String,
    dir: tempfile::TempDir,
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
                let child = spawn(&dir, &name, *port, *peer, &cluster);
                Etcd {
                    child,
                    port: *port,
                    peer: *peer,
                    name,
                    cluster: cluster.clone(),
                    dir,
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

    /// Kills etcd and starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.dir, &self.name, self.port, self.peer, &self.cluster);
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !answers(self.port) {
            assert!(
                Instant::now() < deadline,
                "etcd did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn spawn(dir: &tempfile::TempDir, name: &str, port: u16, peer: u16, cluster: &str) -> Child {
    let client_url = format!("http://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    Command::new("etcd")
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

/// Whether etcd's gateway answers a range request with 200.
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
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

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
