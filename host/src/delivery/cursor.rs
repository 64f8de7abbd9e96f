//! A listener's cursor: the last revision it finished, in a file of its own (written to a
//! temporary file, synced, then renamed, so a crash never leaves half a cursor).
//!
//! Once a listener has caught up, the file is written after every revision its triggers ran
//! for; while it works through a backlog, at most every [`SAVE_INTERVAL`]. Revisions that were
//! not for it (another listener's notifications on the same base key) are written at most every
//! [`PASSING_SAVE_INTERVAL`]: a thousand listeners on one base key must not write a thousand
//! files for each notification. A crash can only make a listener start a little earlier:
//! notifications are delivered again (or skipped again, if they were not for it), never lost.
//!
//! A listener does not wait for its file: writes happen on a blocking thread, one at a time per
//! cursor, the newest position winning; a stopping listener waits for the last one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a backlog may go without the cursor being saved.
pub const SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// How long revisions that ran no trigger may go without the cursor being saved.
pub const PASSING_SAVE_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Cursor {
    /// `None` for a replay (`--from ... --to ...`), which must not move the saved position.
    writer: Option<Arc<Writer>>,
    revision: u64,
    /// The revision in the file, and when it was written.
    saved: Option<(u64, Instant)>,
    save_interval: Duration,
    passing_save_interval: Duration,
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
    /// A cursor file that exists but cannot be read is an error: starting at `current` would
    /// skip every notification written while the listener was away.
    pub fn open(path: PathBuf, catch_up: bool, current: u64) -> Result<Cursor, CursorError> {
        let saved = if catch_up { read(&path)? } else { None };
        Ok(match saved {
            Some(revision) => {
                tracing::info!("Starting from last notification received (revision {revision})");
                Cursor {
                    writer: Some(Writer::new(path)),
                    revision,
                    saved: Some((revision, Instant::now())),
                    save_interval: SAVE_INTERVAL,
                    passing_save_interval: PASSING_SAVE_INTERVAL,
                }
            }
            None => Cursor::starting_at(path, current),
        })
    }

    /// Has the file say which listener it belongs to (from its next save on).
    pub fn described(self, about: &str) -> Cursor {
        if let Some(writer) = &self.writer {
            let _ = writer.about.set(about.to_string());
        }
        self
    }

    /// A saved cursor that starts at `revision` whatever was saved before (`--from`).
    pub fn starting_at(path: PathBuf, revision: u64) -> Cursor {
        let mut cursor = Cursor {
            writer: Some(Writer::new(path)),
            revision,
            saved: None,
            save_interval: SAVE_INTERVAL,
            passing_save_interval: PASSING_SAVE_INTERVAL,
        };
        cursor.save_now();
        cursor
    }

    /// A cursor that is never saved (a bounded replay).
    pub fn unsaved(revision: u64) -> Cursor {
        Cursor {
            writer: None,
            revision,
            saved: None,
            save_interval: SAVE_INTERVAL,
            passing_save_interval: PASSING_SAVE_INTERVAL,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Records that the listener finished `revision`, for which `triggers_ran` or not. Saved at
    /// once when triggers ran and the listener has `caught_up` (nothing else is waiting);
    /// otherwise once the last save is old enough (see the module's text).
    pub fn advance(&mut self, revision: u64, triggers_ran: bool, caught_up: bool) {
        self.revision = revision;
        let interval = if triggers_ran {
            self.save_interval
        } else {
            self.passing_save_interval
        };
        let due = self.saved.is_none_or(|(_, at)| at.elapsed() >= interval);
        if (triggers_ran && caught_up) || due {
            if let Some(writer) = &self.writer {
                writer.write_soon(self.revision);
            }
            self.saved = Some((self.revision, Instant::now()));
        }
    }

    fn save_now(&mut self) {
        if let Some(writer) = &self.writer {
            writer.write_now(self.revision);
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
            self.save_now();
        } else if let Some(writer) = &self.writer {
            drop(writer.idle());
        }
    }
}

/// Writes what a [`Writer`] has pending when dropped.
struct DrainOnDrop(Arc<Writer>);

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        self.0.drain();
    }
}

/// Writes one cursor's file, off the async threads.
#[derive(Debug)]
struct Writer {
    path: PathBuf,
    /// What the listener listens to, written into the file so that it says what it is.
    about: std::sync::OnceLock<String>,
    state: Mutex<WriterState>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct WriterState {
    /// The newest position not written yet.
    pending: Option<u64>,
    /// A blocking thread is writing.
    busy: bool,
}

impl Writer {
    fn new(path: PathBuf) -> Arc<Writer> {
        Arc::new(Writer {
            path,
            about: std::sync::OnceLock::new(),
            state: Mutex::default(),
            finished: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has `revision` written on a blocking thread (at once outside a runtime).
    fn write_soon(self: &Arc<Writer>, revision: u64) {
        let mut state = self.lock();
        state.pending = Some(revision);
        if state.busy {
            return; // the thread under way writes it next
        }
        state.busy = true;
        drop(state);
        // The write happens when the guard is dropped: on the blocking thread, or here if a
        // runtime shutting down drops the task unrun (so `busy` can never stay set).
        let guard = DrainOnDrop(self.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(guard))),
            Err(_) => drop(guard),
        }
    }

    /// Writes what is pending until nothing is.
    fn drain(&self) {
        loop {
            let revision = {
                let mut state = self.lock();
                match state.pending.take() {
                    Some(revision) => revision,
                    None => {
                        state.busy = false;
                        self.finished.notify_all();
                        return;
                    }
                }
            };
            self.write(revision);
        }
    }

    /// Waits for the write under way, if any; the state it returns has none.
    fn idle(&self) -> MutexGuard<'_, WriterState> {
        let mut state = self.lock();
        while state.busy {
            state = self.finished.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state
    }

    /// Writes `revision` now, after the write under way.
    fn write_now(&self, revision: u64) {
        let mut state = self.idle();
        state.pending = None;
        drop(state);
        self.write(revision);
    }

    fn write(&self, revision: u64) {
        let about = self.about.get().map(String::as_str);
        if let Err(error) = write(&self.path, revision, about) {
            tracing::warn!(
                "Cannot save the listener's position in {}: {error}",
                self.path.display()
            );
        }
    }
}

/// A listener position that exists but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The listener position {} cannot be used: {reason}. Nothing was delivered, so that no notification is skipped: restore the file, or remove it (or listen with --now) to start from the newest notification",
    path.display()
)]
pub struct CursorError {
    pub path: PathBuf,
    pub reason: String,
}

/// The saved revision; `None` when there is no cursor file yet.
fn read(path: &Path) -> Result<Option<u64>, CursorError> {
    let unusable = |reason: String| CursorError {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unusable(format!("it cannot be read ({})", error.kind()))),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| unusable(format!("it is not a position written by aviso ({error})")))?;
    match value.get("revision").and_then(serde_json::Value::as_u64) {
        Some(revision) => Ok(Some(revision)),
        None => Err(unusable(
            "it holds no revision (a whole number under \"revision\")".into(),
        )),
    }
}

/// A saved position: its revision and, when the file says, when it was saved.
pub fn saved_position(path: &Path) -> Result<Option<(u64, Option<String>)>, CursorError> {
    let Some(revision) = read(path)? else {
        return Ok(None);
    };
    let saved_at = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| value.get("saved_at")?.as_str().map(str::to_string));
    Ok(Some((revision, saved_at)))
}

/// Writes a position for the listener `about` describes (`aviso positions --set`).
pub fn save_position(path: &Path, revision: u64, about: &str) -> std::io::Result<()> {
    write(path, revision, Some(about))
}

/// `{"revision": N, "listener": "...", "saved_at": "..."}`: the position, what it is the
/// position of (store, base key, event and request, or name), and when it was written.
fn write(path: &Path, revision: u64, about: Option<&str>) -> std::io::Result<()> {
    let dir = path.parent().expect("cursor files live in a directory");
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    let mut record = serde_json::json!({"revision": revision});
    if let Some(about) = about {
        record["listener"] = serde_json::Value::String(about.to_string());
    }
    record["saved_at"] = serde_json::Value::String(
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    writeln!(file, "{record}")?;
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
        let mut cursor = Cursor::open(path.clone(), true, 5).unwrap();
        assert_eq!(cursor.revision(), 5);
        cursor.advance(9, true, true);
        assert_eq!(Cursor::open(path.clone(), true, 20).unwrap().revision(), 9);
        assert_eq!(
            Cursor::open(path.clone(), false, 20).unwrap().revision(),
            20
        );
    }

    #[test]
    fn an_unusable_cursor_is_an_error_never_a_silent_start_at_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        for (content, reason) in [
            ("garbage", "it is not a position written by aviso"),
            ("{}", "it holds no revision"),
            ("{\"revision\": \"12\"}", "it holds no revision"),
            ("", "it is not a position written by aviso"),
        ] {
            std::fs::write(&path, content).unwrap();
            let error = Cursor::open(path.clone(), true, 30).unwrap_err();
            assert!(error.reason.starts_with(reason), "{content:?}: {error}");
            assert!(error.to_string().contains(&path.display().to_string()));
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                content,
                "left as it was"
            );
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let error = Cursor::open(path.clone(), true, 30).unwrap_err();
        assert!(error.reason.starts_with("it cannot be read"), "{error}");
        // --now does not need the old position.
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(Cursor::open(path, false, 30).unwrap().revision(), 30);
    }

    #[test]
    fn a_backlog_is_saved_now_and_then_and_when_the_listener_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        let mut cursor = Cursor::open(path.clone(), true, 5).unwrap();
        cursor.save_interval = Duration::MAX;
        cursor.advance(6, true, false);
        assert_eq!(
            read(&path).unwrap(),
            Some(5),
            "saved less often while behind"
        );
        cursor.advance(7, true, true);
        assert_eq!(
            read(&path).unwrap(),
            Some(7),
            "saved at once when caught up"
        );
        cursor.advance(8, true, false);
        drop(cursor);
        assert_eq!(
            read(&path).unwrap(),
            Some(8),
            "saved when the listener stops"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_in_the_background_keep_the_newest_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        let mut cursor = Cursor::open(path.clone(), true, 5).unwrap();
        for revision in 6..500 {
            cursor.advance(revision, true, true);
        }
        drop(cursor);
        assert_eq!(
            read(&path).unwrap(),
            Some(499),
            "the last position, once the cursor is gone"
        );
    }

    #[test]
    fn a_runtime_shutting_down_neither_loses_nor_hangs_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        let mut cursor = Cursor::open(path.clone(), true, 5).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for revision in 6..50 {
                cursor.advance(revision, true, true);
            }
        });
        runtime.shutdown_background();
        drop(cursor);
        assert_eq!(read(&path).unwrap(), Some(49));
    }

    #[test]
    fn revisions_for_other_listeners_are_saved_now_and_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path_for(dir.path(), "listener");
        let mut cursor = Cursor::open(path.clone(), true, 5).unwrap();
        cursor.passing_save_interval = Duration::MAX;
        cursor.advance(6, false, true);
        assert_eq!(
            read(&path).unwrap(),
            Some(5),
            "no trigger ran: not saved at once"
        );
        cursor.advance(7, true, true);
        assert_eq!(
            read(&path).unwrap(),
            Some(7),
            "a trigger ran: saved at once"
        );
        cursor.passing_save_interval = Duration::ZERO;
        cursor.advance(8, false, true);
        assert_eq!(
            read(&path).unwrap(),
            Some(8),
            "saved once the interval passed"
        );
        cursor.passing_save_interval = Duration::MAX;
        cursor.advance(9, false, true);
        drop(cursor);
        assert_eq!(
            read(&path).unwrap(),
            Some(9),
            "saved when the listener stops"
        );
    }
}
