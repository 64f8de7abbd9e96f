//! A listener's cursor: the last revision it finished, in a file of its own (written to a
//! temporary file, synced, then renamed, so a crash never leaves half a cursor).
//!
//! While a listener is working through a backlog the file is written at most every
//! [`SAVE_INTERVAL`]; once it has caught up, after every revision. A crash can only make it
//! start a little earlier: notifications are delivered again, never skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a backlog may go without the cursor being saved.
pub const SAVE_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct Cursor {
    /// `None` for a replay (`--from ... --to ...`), which must not move the saved position.
    path: Option<PathBuf>,
    revision: u64,
    /// The revision in the file, and when it was written.
    saved: Option<(u64, Instant)>,
    save_interval: Duration,
}

impl Cursor {
    /// The cursor file of the listener described by `identity` (its store, event, request and
    /// triggers) in `dir`.
    pub fn path_for(dir: &Path, identity: &str) -> PathBuf {
        let digest = Sha256::digest(identity.as_bytes());
        let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        dir.join(format!("{name}.json"))
    }

    /// Resumes from the saved cursor when `catch_up` and one exists, else starts at `current`.
    pub fn open(path: PathBuf, catch_up: bool, current: u64) -> Cursor {
        let saved = if catch_up { read(&path) } else { None };
        match saved {
            Some(revision) => {
                tracing::info!("Starting from last notification received (revision {revision})");
                Cursor {
                    path: Some(path),
                    revision,
                    saved: Some((revision, Instant::now())),
                    save_interval: SAVE_INTERVAL,
                }
            }
            None => Cursor::starting_at(path, current),
        }
    }

    /// A saved cursor that starts at `revision` whatever was saved before (`--from`).
    pub fn starting_at(path: PathBuf, revision: u64) -> Cursor {
        let mut cursor = Cursor {
            path: Some(path),
            revision,
            saved: None,
            save_interval: SAVE_INTERVAL,
        };
        cursor.save();
        cursor
    }

    /// A cursor that is never saved (a bounded replay).
    pub fn unsaved(revision: u64) -> Cursor {
        Cursor {
            path: None,
            revision,
            saved: None,
            save_interval: SAVE_INTERVAL,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Records that the listener finished `revision`. Saved at once when `caught_up` (nothing
    /// else is waiting), otherwise once the last save is [`SAVE_INTERVAL`] old.
    pub fn advance(&mut self, revision: u64, caught_up: bool) {
        self.revision = revision;
        let due = self
            .saved
            .is_none_or(|(_, at)| at.elapsed() >= self.save_interval);
        if caught_up || due {
            self.save();
        }
    }

    fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if let Err(error) = write(path, self.revision) {
            tracing::warn!(
                "Cannot save the listener's position in {}: {error}",
                path.display()
            );
        }
        self.saved = Some((self.revision, Instant::now()));
    }
}

impl Drop for Cursor {
    /// A listener that stops mid-backlog keeps the position it reached.
    fn drop(&mut self) {
        if self
            .saved
            .is_some_and(|(revision, _)| revision != self.revision)
        {
            self.save();
        }
    }
}

fn read(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(
                "Ignoring the unreadable listener position {}: {error}",
                path.display()
            );
            return None;
        }
    };
    value.get("revision")?.as_u64()
}

fn write(path: &Path, revision: u64) -> std::io::Result<()> {
    let dir = path.parent().expect("cursor files live in a directory");
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(file, "{{\"revision\": {revision}}}")?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_a_restart_unless_told_to_start_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener A");
        assert_ne!(path, Cursor::path_for(dir.path(), "listener B"));
        let mut cursor = Cursor::open(path.clone(), true, 5);
        assert_eq!(cursor.revision(), 5);
        cursor.advance(9, true);
        assert_eq!(Cursor::open(path.clone(), true, 20).revision(), 9);
        assert_eq!(Cursor::open(path.clone(), false, 20).revision(), 20);
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(Cursor::open(path, true, 30).revision(), 30);
    }

    #[test]
    fn a_backlog_is_saved_now_and_then_and_when_the_listener_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        let mut cursor = Cursor::open(path.clone(), true, 5);
        cursor.save_interval = Duration::MAX;
        cursor.advance(6, false);
        assert_eq!(read(&path), Some(5), "saved less often while behind");
        cursor.advance(7, true);
        assert_eq!(read(&path), Some(7), "saved at once when caught up");
        cursor.advance(8, false);
        drop(cursor);
        assert_eq!(read(&path), Some(8), "saved when the listener stops");
    }
}
