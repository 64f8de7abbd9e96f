//! Dead letters: notifications a listener gave up on. When a `required` trigger still fails
//! after every attempt of the retry policy, the notification and what failed are appended to
//! `dead-letters.jsonl` in the state folder (one JSON record a line, synced before the listener
//! moves on), so that nothing is dropped without a trace. `aviso dead-letters list` shows them,
//! `replay` runs their failed triggers again and `drop` forgets them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One notification a listener gave up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// `<revision>-<12 hex digits>`: unique per listener and key.
    pub id: String,
    /// When it was given up on (UTC, RFC 3339).
    pub time: String,
    /// What the listener listens to (its cursor identity).
    pub listener: String,
    pub event: String,
    pub key: String,
    pub revision: u64,
    /// The stored value: the payload, or `None` when there is none.
    pub payload: Option<String>,
    /// How many times its triggers were run.
    pub attempts: u32,
    pub failed: Vec<FailedTrigger>,
}

/// A required trigger that failed, with its last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTrigger {
    /// Its position in the listener's `triggers`, from 0.
    pub index: usize,
    pub trigger: String,
    pub error: String,
}

impl DeadLetter {
    pub fn id_for(listener: &str, key: &str, revision: u64) -> String {
        let digest = Sha256::digest(format!("{listener}|{key}").as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("{revision}-{hex}")
    }
}

/// The dead-letter file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot {action} the dead letters {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the dead letters {} are damaged at line {line}: {reason}; fix or remove that line", path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The dead letters of one state folder, shared by every listener and process using it.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    pub fn in_dir(state_dir: &Path) -> DeadLetters {
        DeadLetters {
            path: state_dir.join("dead-letters.jsonl"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `letter` and syncs it to disk.
    pub fn record(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        let io = |action| {
            let path = self.path.clone();
            move |source| DeadLetterError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create the folder of"))?;
        }
        let _lock = self.lock()?;
        let mut line = serde_json::to_string(letter).expect("a dead letter is JSON");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("open"))?;
        file.write_all(line.as_bytes()).map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))
    }

    /// Every dead letter, oldest first.
    pub fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(DeadLetterError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(number, line)| {
                serde_json::from_str(line).map_err(|e| DeadLetterError::Damaged {
                    path: self.path.clone(),
                    line: number + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Forgets the dead letters with these ids (the file is rewritten whole, then renamed over
    /// the old one, so a crash leaves one or the other).
    pub fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        if ids.is_empty() || !self.path.exists() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        let letters = self.list()?;
        let before = letters.len();
        let kept: Vec<&DeadLetter> = letters.iter().filter(|l| !ids.contains(&l.id)).collect();
        let mut text = String::new();
        for letter in &kept {
            text.push_str(&serde_json::to_string(letter).expect("a dead letter is JSON"));
            text.push('\n');
        }
        let temporary = self.path.with_extension("jsonl.new");
        let io = |action| {
            let path = self.path.clone();
            move |source| DeadLetterError::Io {
                action,
                path,
                source,
            }
        };
        let mut file = std::fs::File::create(&temporary).map_err(io("rewrite"))?;
        file.write_all(text.as_bytes()).map_err(io("rewrite"))?;
        file.sync_all().map_err(io("sync"))?;
        std::fs::rename(&temporary, &self.path).map_err(io("replace"))?;
        Ok(before - kept.len())
    }

    /// An exclusive lock between the processes that write the file (a listener appending, a
    /// command rewriting), held until the guard is dropped.
    fn lock(&self) -> Result<std::fs::File, DeadLetterError> {
        let path = self.path.with_extension("lock");
        let io = |source| DeadLetterError::Io {
            action: "lock",
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a descriptor this function owns; the lock ends with the file.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(id: &str) -> DeadLetter {
        DeadLetter {
            id: id.into(),
            time: "2026-11-29T00:00:00Z".into(),
            listener: "v2|file x|/b/|flight|{}".into(),
            event: "flight".into(),
            key: "/b/k".into(),
            revision: 7,
            payload: None,
            attempts: 3,
            failed: vec![FailedTrigger {
                index: 0,
                trigger: "command (exit 1)".into(),
                error: "exit status 1".into(),
            }],
        }
    }

    #[test]
    fn letters_are_kept_in_order_and_removed_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::in_dir(&dir.path().join("state"));
        assert_eq!(letters.list().unwrap(), []);
        for id in ["a", "b", "c"] {
            letters.record(&letter(id)).unwrap();
        }
        let ids: Vec<String> = letters.list().unwrap().into_iter().map(|l| l.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(letters.remove(&["b".into(), "zz".into()]).unwrap(), 1);
        let ids: Vec<String> = letters.list().unwrap().into_iter().map(|l| l.id).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::in_dir(dir.path());
        letters.record(&letter("a")).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(letters.path())
            .unwrap();
        file.write_all(b"{\"id\": \"half\n").unwrap();
        let error = letters.list().unwrap_err().to_string();
        assert!(error.contains("damaged at line 2"), "{error}");
        assert!(error.contains("dead-letters.jsonl"), "{error}");
    }
}
