//! The embedded store (`file_based`, `--test`): one SQLite file, written in transactions, with
//! a global revision counter like etcd's and the history of every write, so that listeners
//! catch up on everything they missed, even several writes of one key.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::{KeyValue, StoreError};

/// A connection to the embedded store.
pub struct FileStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 0), current INTEGER NOT NULL);
INSERT OR IGNORE INTO revision (id, current) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS kv_mod_revision ON kv (mod_revision);
CREATE TABLE IF NOT EXISTS history (
    revision INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    expires_at REAL,
    written_at REAL NOT NULL,
    PRIMARY KEY (revision, key)
);
";

fn error(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    let said = crate::cause::strip_os_error_number(&e.to_string());
    // SQLite writes beside the store file too; a read-only one among them is easy to miss.
    let hint = if said.contains("readonly database") || said.contains("Permission denied") {
        format!(
            " (this user must be able to write {0}, the files beside it ({0}.lock, -wal, -shm) and their folder: check their owner and permissions)",
            path.display()
        )
    } else {
        no_room(path).unwrap_or_default()
    };
    StoreError::new(format!(
        "{what} the embedded store {}: {said}{hint}",
        path.display()
    ))
}

/// Why the store may have no room to write, for messages: SQLite says "disk I/O error" when a
/// full disk stops it making its shared-memory file, and so does a file size limit.
fn no_room(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::ffi::CString::new(path.parent()?.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(3) and getrlimit(2) only fill the structures they are given.
    let (mut disk, mut limit) =
        unsafe { (std::mem::zeroed::<libc::statvfs>(), std::mem::zeroed()) };
    if unsafe { libc::statvfs(dir.as_ptr(), &mut disk) } == 0 {
        // Both are u64 on 64-bit Linux, not on every target.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(disk.f_bavail) * u64::from(disk.f_frsize);
        if free < 1024 * 1024 {
            return Some(format!(
                " (no room left on its file system: {} KiB free)",
                free / 1024
            ));
        }
    }
    let limited = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY;
    limited.then(|| {
        format!(
            " (files are limited to {} bytes here: ulimit -f)",
            limit.rlim_cur
        )
    })
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An exclusive lock on `<store>.lock`, held while a process sets the store up; the lock lives
/// as long as the open file.
struct SetupLock {
    _file: std::fs::File,
}

impl SetupLock {
    fn take(store: &Path) -> std::io::Result<SetupLock> {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))?;
        // SAFETY: flock(2) on a descriptor we own; it waits until the lock is ours.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Closing the file (dropping the lock) releases it.
        Ok(SetupLock { _file: file })
    }
}

impl FileStore {
    /// The embedded store in a state folder (`~/.aviso` by default): `file_based/store.sqlite`.
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("file_based").join("store.sqlite")
    }

    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<FileStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| error("cannot create", path, e))?;
        }
        // Setting up a new store (WAL mode, tables) takes locks SQLite does not wait for:
        // processes started at once on a fresh store take turns here instead of failing with
        // "database is locked".
        let _setting_up = SetupLock::take(path).map_err(|e| error("cannot lock", path, e))?;
        let connection = Connection::open(path).map_err(|e| error("cannot open", path, e))?;
        // Several processes (a listener, notifiers) share the file: wait for each other's locks.
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| error("cannot open", path, e))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| error("cannot open", path, e))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(|e| error("cannot prepare", path, e))?;
        Ok(FileStore {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store's current revision (0 before the first write).
    pub fn revision(&self) -> Result<u64, StoreError> {
        let connection = self.connection();
        connection
            .query_row("SELECT current FROM revision WHERE id = 0", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|r| r as u64)
            .map_err(|e| error("cannot read", &self.path, e))
    }

    /// The live value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let connection = self.connection();
        connection
            .query_row(
                "SELECT key, value, create_revision, mod_revision, version FROM kv
                 WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![key, now_seconds()],
                row_to_kv,
            )
            .optional()
            .map_err(|e| error("cannot read", &self.path, e))
    }

    /// Writes every pair in one transaction, at one new revision; with `ttl_seconds`, every
    /// pair expires together (like one etcd lease). Returns the revision.
    pub fn put_all(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<u64, StoreError> {
        let written = self.write(pairs, ttl_seconds, &[])?;
        Ok(written.expect("an unconditional write is never refused"))
    }

    /// [`FileStore::put_all`] only if `key` was last written at `mod_revision` (0: only if it
    /// does not exist); `Ok(None)`, with nothing written, when it was not. The check and the
    /// write are one transaction, so concurrent writers cannot both pass it.
    pub fn put_all_if(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
        unchanged: &[(String, u64)],
    ) -> Result<Option<u64>, StoreError> {
        self.write(pairs, ttl_seconds, unchanged)
    }

    fn write(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
        unchanged: &[(String, u64)],
    ) -> Result<Option<u64>, StoreError> {
        let mut connection = self.connection();
        // IMMEDIATE takes the write lock first: nobody writes between the check and the write.
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| error("cannot write", &self.path, e))?;
        let now = now_seconds();
        transaction
            .execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                params![now],
            )
            .map_err(|e| error("cannot write", &self.path, e))?;
        for (key, expected) in unchanged {
            let current: Option<i64> = transaction
                .query_row(
                    "SELECT mod_revision FROM kv WHERE key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| error("cannot read", &self.path, e))?;
            if current.unwrap_or(0) as u64 != *expected {
                return Ok(None); // dropping the transaction rolls it back
            }
        }
        let revision: i64 = transaction
            .query_row(
                "UPDATE revision SET current = current + 1 WHERE id = 0 RETURNING current",
                [],
                |row| row.get(0),
            )
            .map_err(|e| error("cannot write", &self.path, e))?;
        let expires_at = ttl_seconds.map(|ttl| now + ttl as f64);
        for (key, value) in pairs {
            let (create_revision, version): (i64, i64) = transaction
                .query_row(
                    "INSERT INTO kv (key, value, create_revision, mod_revision, version, expires_at)
                     VALUES (?1, ?2, ?3, ?3, 1, ?4)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision,
                         version = kv.version + 1, expires_at = excluded.expires_at
                     RETURNING create_revision, version",
                    params![key, value, revision, expires_at],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(|e| error("cannot write", &self.path, e))?;
            transaction
                .execute(
                    "INSERT INTO history (revision, key, value, create_revision, version, expires_at, written_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![revision, key, value, create_revision, version, expires_at, now],
                )
                .map_err(|e| error("cannot write", &self.path, e))?;
        }
        transaction
            .commit()
            .map_err(|e| error("cannot write", &self.path, e))?;
        Ok(Some(revision as u64))
    }

    /// Every write under `prefix` after `after_revision` that has not expired, in revision
    /// order (then key order within one revision).
    pub fn changes_since(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT key, value, create_revision, revision, version FROM history
                 WHERE revision > ?1 AND substr(key, 1, ?2) = ?3 AND (expires_at IS NULL OR expires_at > ?4)
                 ORDER BY revision, key",
            )
            .map_err(|e| error("cannot read", &self.path, e))?;
        let rows = statement
            .query_map(
                params![
                    after_revision as i64,
                    prefix.chars().count() as i64,
                    prefix,
                    now_seconds()
                ],
                row_to_kv,
            )
            .map_err(|e| error("cannot read", &self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| error("cannot read", &self.path, e))
    }
}

impl FileStore {
    /// The revisions written under `prefix` in a time window (seconds since the epoch, UTC):
    /// the first after `from`, and the last at or before `to`. `None` when there is none.
    pub fn revisions_between(
        &self,
        prefix: &str,
        from: f64,
        to: Option<f64>,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let connection = self.connection();
        let window: (Option<i64>, Option<i64>) = connection
            .query_row(
                "SELECT min(revision), max(revision) FROM history
                 WHERE substr(key, 1, ?1) = ?2 AND written_at > ?3 AND written_at <= ?4",
                params![
                    prefix.chars().count() as i64,
                    prefix,
                    from,
                    to.unwrap_or(f64::MAX)
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| error("cannot read", &self.path, e))?;
        Ok(match window {
            (Some(first), Some(last)) => Some((first as u64, last as u64)),
            _ => None,
        })
    }
}

fn row_to_kv(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        value: row.get(1)?,
        create_revision: row.get::<_, i64>(2)? as u64,
        mod_revision: row.get::<_, i64>(3)? as u64,
        version: row.get::<_, i64>(4)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, value: &str) -> (String, Vec<u8>) {
        (key.to_string(), value.as_bytes().to_vec())
    }

    #[test]
    fn a_fresh_store_opened_by_many_at_once_works_for_all() {
        for round in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.sqlite");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|i| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let store = FileStore::open(&path)?;
                        if i % 2 == 0 {
                            store.put_all(&[pair(&format!("/k/{i}"), "v")], None)?;
                        } else {
                            store.get("/k/0")?;
                        }
                        Ok::<(), StoreError>(())
                    })
                })
                .collect();
            for opener in openers {
                opener
                    .join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
            assert_eq!(FileStore::open(&path).unwrap().revision().unwrap(), 4);
        }
    }

    #[test]
    fn writes_are_transactions_with_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("s.sqlite")).unwrap();
        assert_eq!(store.revision().unwrap(), 0);
        let r1 = store
            .put_all(&[pair("/a/1", "x"), pair("/a/", "status")], None)
            .unwrap();
        let r2 = store.put_all(&[pair("/a/1", "y")], None).unwrap();
        assert_eq!((r1, r2), (1, 2));
        let kv = store.get("/a/1").unwrap().unwrap();
        assert_eq!(
            (
                kv.value.as_slice(),
                kv.create_revision,
                kv.mod_revision,
                kv.version
            ),
            (b"y".as_slice(), 1, 2, 2)
        );
        assert_eq!(store.get("/nope").unwrap(), None);

        // Every write is kept: two writes of one key are two changes.
        let changes = store.changes_since("/a/", 0).unwrap();
        assert_eq!(
            changes
                .iter()
                .map(|kv| (kv.key.as_str(), kv.mod_revision, kv.version))
                .collect::<Vec<_>>(),
            vec![("/a/", 1, 1), ("/a/1", 1, 1), ("/a/1", 2, 2)]
        );
        assert!(store.changes_since("/a/", 2).unwrap().is_empty());
        assert!(store.changes_since("/b/", 0).unwrap().is_empty());
    }

    #[test]
    fn a_conditional_write_applies_only_over_the_revision_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("s.sqlite")).unwrap();
        // 0: only while the key does not exist.
        assert_eq!(
            store.put_all_if(&[pair("/b/", "s1")], None, &[("/b/".into(), 0)]),
            Ok(Some(1))
        );
        assert_eq!(
            store.put_all_if(&[pair("/b/", "s2")], None, &[("/b/".into(), 0)]),
            Ok(None)
        );
        assert_eq!(
            store.put_all_if(
                &[pair("/b/1", "x"), pair("/b/", "s2")],
                None,
                &[("/b/".into(), 1)]
            ),
            Ok(Some(2))
        );
        // A second writer that read revision 1 too is refused, and nothing of it is written:
        // not even a revision.
        assert_eq!(
            store.put_all_if(
                &[pair("/b/2", "y"), pair("/b/", "s3")],
                None,
                &[("/b/".into(), 1)]
            ),
            Ok(None)
        );
        assert_eq!(store.revision().unwrap(), 2);
        assert_eq!(store.get("/b/2").unwrap(), None);
        assert_eq!(store.get("/b/").unwrap().unwrap().value, b"s2");
    }

    #[test]
    fn several_connections_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = FileStore::open(&path).unwrap();
        let reader = FileStore::open(&path).unwrap();
        writer.put_all(&[pair("/k", "v")], None).unwrap();
        assert_eq!(reader.revision().unwrap(), 1);
        assert_eq!(reader.get("/k").unwrap().unwrap().value, b"v");
    }

    #[test]
    fn expired_keys_disappear() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("s.sqlite")).unwrap();
        store.put_all(&[pair("/t", "v")], Some(0)).unwrap();
        assert_eq!(store.get("/t").unwrap(), None);
        store.put_all(&[pair("/t2", "v")], Some(3600)).unwrap();
        assert!(store.get("/t2").unwrap().is_some());
    }
}
