//! A listener process (`aviso listen` of ours or pyaviso's) whose stdout is collected in a file,
//! stopped with SIGTERM when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Listening {
    pub child: Child,
    pub out: PathBuf,
}

impl Listening {
    /// Spawns `command` with stdout in `out` and stderr beside it (`.err`), and waits until
    /// stderr contains `ready`.
    pub fn spawn(mut command: Command, out: PathBuf, ready: &str) -> Listening {
        let err = out.with_extension("err");
        let child = command
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains(ready)
        {
            assert!(
                Instant::now() < deadline,
                "listener not ready: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Listening { child, out }
    }

    /// What the listener printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.out.with_extension("err")).unwrap_or_default()
    }

    /// Waits until stderr contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "waited for {text:?} in the log; got {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until stdout contains `text`; returns all of stdout.
    pub fn wait_for_output(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let output = std::fs::read_to_string(&self.out).unwrap_or_default();
            if output.contains(text) {
                return output;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; got {output}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code(); // already stopped: never signal a reused pid
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().ok().and_then(|status| status.code())
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop();
    }
}
