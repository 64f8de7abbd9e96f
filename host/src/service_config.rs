//! Versioned configuration files of a service in etcd (`aviso-config`), in pyaviso's layout:
//! the files of service `S` under `/ec/config/S/<relative path>`, raw bytes, and a status record
//! at `/ec/config/S` (pyaviso's status JSON, its `message` the pusher's). Every change is one
//! transaction; history is etcd's own, which `revert` reads back.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::store::{Change, Store, StoreError, status};

/// Where all services live.
pub const CONFIG_PREFIX: &str = "/ec/config/";
/// pyaviso's hard cap on a configuration file, whatever `max_file_size` says.
pub const HARD_MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServiceConfigError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
    #[error("Error in retrieving older versions of service {service}: {reason}")]
    History { service: String, reason: String },
    #[error("Invalid service name {service:?}: {reason}")]
    InvalidService {
        service: String,
        reason: &'static str,
    },
}

/// The configuration files of services, in one store.
pub struct ServiceConfig {
    store: Store,
    writer: status::Writer,
    max_file_bytes: u64,
}

/// The keys of one service.
struct ServiceKeys {
    /// The status record: `/ec/config/S`.
    root: String,
    /// Where its files are: `/ec/config/S/`.
    files: String,
}

impl ServiceKeys {
    /// The keys of `service`, a name such as `aviso/v1`. A name that is empty, starts or ends
    /// with `/`, or has an empty, `.` or `..` part is refused: as a prefix it would reach other
    /// services' keys (an unset shell variable turned `remove $SVC -f` into "remove all").
    fn of(service: &str) -> Result<ServiceKeys, ServiceConfigError> {
        let refuse = |reason| {
            Err(ServiceConfigError::InvalidService {
                service: service.to_string(),
                reason,
            })
        };
        if service.trim().is_empty() {
            return refuse("it is empty");
        }
        if service.starts_with('/') || service.ends_with('/') {
            return refuse("it must not start or end with '/'");
        }
        if service
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return refuse("each part between '/' must be a name (not empty, '.' or '..')");
        }
        let root = format!("{CONFIG_PREFIX}{service}");
        let files = format!("{root}/");
        Ok(ServiceKeys { root, files })
    }
}

impl ServiceConfig {
    /// `max_file_size_kib`: the `configuration_engine.max_file_size` setting (KiB).
    pub fn new(store: Store, writer: status::Writer, max_file_size_kib: u64) -> ServiceConfig {
        ServiceConfig {
            store,
            writer,
            max_file_bytes: (max_file_size_kib.saturating_mul(1024)).min(HARD_MAX_FILE_BYTES),
        }
    }

    /// Pushes every regular file under `dir` (recursively) as the service's files, with a new
    /// status carrying `message`; with `delete`, the service's files not pushed are removed.
    /// Returns the local paths pushed; nothing is written when there are none.
    pub async fn push(
        &self,
        service: &str,
        dir: &Path,
        message: &str,
        delete: bool,
    ) -> Result<Vec<PathBuf>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        if !dir.is_dir() {
            return Err(ServiceConfigError::Io(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        let mut pushed = Vec::new();
        let mut changes = Vec::new();
        for path in files {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size > self.max_file_bytes {
                tracing::warn!(
                    "File {} is {size} bytes, more than the {} allowed; not pushed",
                    path.display(),
                    self.max_file_bytes
                );
                continue;
            }
            let value = std::fs::read(&path).map_err(|e| {
                ServiceConfigError::Io(format!("cannot read {}: {e}", path.display()))
            })?;
            let relative = path.strip_prefix(dir).expect("walked under dir");
            let key = format!("{}{}", keys.files, relative.to_string_lossy());
            changes.push(Change::Put(key, value));
            pushed.push(path);
        }
        if pushed.is_empty() {
            return Ok(pushed);
        }
        if delete {
            let kept: std::collections::HashSet<&str> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::Put(key, _) => Some(key.as_str()),
                    _ => None,
                })
                .collect();
            let stale: Vec<Change> = self
                .store
                .list(&keys.files, None)
                .await?
                .into_iter()
                .filter(|kv| !kept.contains(kv.key.as_str()))
                .map(|kv| Change::Delete(kv.key))
                .collect();
            changes.splice(0..0, stale);
        }
        let previous = self.store.get(&keys.root).await?;
        let status = status::next_status(
            &self.writer,
            message,
            previous.as_ref().map(|kv| (keys.root.as_str(), kv)),
        );
        changes.push(Change::Put(keys.root, status.into_bytes()));
        self.store.apply(&changes).await?;
        Ok(pushed)
    }

    /// The service's files: each one's path relative to the service, and its bytes.
    pub async fn contents(
        &self,
        service: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let files = self.store.list(&keys.files, None).await?;
        Ok(files
            .into_iter()
            .map(|kv| (kv.key[keys.files.len()..].to_string(), kv.value))
            .collect())
    }

    /// Writes the service's files under `dir` (each atomically); with `delete`, `dir` is emptied
    /// first. Returns the local paths written.
    pub async fn pull(
        &self,
        service: &str,
        dir: &Path,
        delete: bool,
    ) -> Result<Vec<PathBuf>, ServiceConfigError> {
        let files = self.contents(service).await?;
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let io = |what: &str, path: &Path, e: std::io::Error| {
            ServiceConfigError::Io(format!("cannot {what} {}: {e}", path.display()))
        };
        if delete && dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| io("remove", dir, e))?;
        }
        let mut written = Vec::new();
        for (relative, content) in files {
            let Some(path) = safe_join(dir, &relative) else {
                tracing::warn!(
                    "Key {}{relative} does not name a file below the service; skipped",
                    ServiceKeys::of(service)?.files
                );
                continue;
            };
            let parent = path.parent().unwrap_or(dir);
            std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
            let mut temporary =
                tempfile::NamedTempFile::new_in(parent).map_err(|e| io("write in", parent, e))?;
            std::io::Write::write_all(&mut temporary, &content)
                .map_err(|e| io("write", temporary.path(), e))?;
            temporary
                .persist(&path)
                .map_err(|e| io("write", &path, e.error))?;
            written.push(path);
        }
        Ok(written)
    }

    /// The keys of the service's files, without deleting anything (`remove` without `-f`).
    pub async fn files(&self, service: &str) -> Result<Vec<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let mut files: Vec<String> = self
            .store
            .list(&keys.files, None)
            .await?
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        files.sort();
        Ok(files)
    }

    /// Deletes the service's files and status (only this service: `svc/v1` leaves `svc/v10`
    /// alone). Returns the deleted keys in key order.
    pub async fn remove(&self, service: &str) -> Result<Vec<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let mut changes = vec![Change::DeletePrefix(keys.files.clone())];
        if keys.root != keys.files {
            changes.push(Change::Delete(keys.root));
        }
        let mut deleted: Vec<String> = self
            .store
            .apply(&changes)
            .await?
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        deleted.sort();
        Ok(deleted)
    }

    /// Undoes the last change of the service (a push, or a revert): its files and status become
    /// what they were just before it, files that change added or removed included, in one
    /// transaction. Returns the keys written or deleted; empty when there is nothing to revert.
    pub async fn revert(&self, service: &str) -> Result<Vec<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let Some(current_status) = self.store.get(&keys.root).await? else {
            return Ok(Vec::new());
        };
        if current_status.version <= 1 {
            // Only one change ever: nothing before it to go back to.
            return Ok(Vec::new());
        }
        let before = current_status.mod_revision - 1;
        let history = |e: StoreError| ServiceConfigError::History {
            service: service.to_string(),
            reason: e.message,
        };
        let old_files = self
            .store
            .list(&keys.files, Some(before))
            .await
            .map_err(history)?;
        let old_status = self
            .store
            .get_at(&keys.root, before)
            .await
            .map_err(history)?
            .ok_or_else(|| ServiceConfigError::History {
                service: service.to_string(),
                reason: format!("no status at revision {before} (compacted?)"),
            })?;
        let current_files = self.store.list(&keys.files, None).await?;
        let mut changes = Vec::new();
        let mut touched = Vec::new();
        for kv in &current_files {
            if !old_files.iter().any(|old| old.key == kv.key) {
                changes.push(Change::Delete(kv.key.clone()));
                touched.push(kv.key.clone());
            }
        }
        for old in &old_files {
            let unchanged = current_files
                .iter()
                .any(|kv| kv.key == old.key && kv.value == old.value);
            if !unchanged {
                changes.push(Change::Put(old.key.clone(), old.value.clone()));
                touched.push(old.key.clone());
            }
        }
        changes.push(Change::Put(keys.root.clone(), old_status.value));
        touched.push(keys.root);
        self.store.apply(&changes).await?;
        touched.sort();
        Ok(touched)
    }

    /// The service's status as pyaviso prints it (`json.dumps(indent=4, sort_keys=True)` with
    /// the record's `version`); `None` when the service has none.
    pub async fn status(&self, service: &str) -> Result<Option<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let Some(kv) = self.store.get(&keys.root).await? else {
            return Ok(None);
        };
        let mut record: serde_json::Map<String, Value> = serde_json::from_slice(&kv.value)
            .map_err(|e| {
                ServiceConfigError::Io(format!("the status at {} is not JSON: {e}", keys.root))
            })?;
        record.insert("version".into(), Value::from(kv.version));
        Ok(Some(python_indented(&Value::Object(record), 0)))
    }
}

/// Regular files under `dir`, recursively (symbolic links to files included, as `os.walk`).
pub(crate) fn collect_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), ServiceConfigError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ServiceConfigError::Io(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| ServiceConfigError::Io(format!("cannot read {}: {e}", path.display())))?;
        if file_type.is_dir() {
            collect_files(&path, files)?;
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// `dir/relative`, unless `relative` would leave `dir` (a hostile key such as `../x`).
pub(crate) fn safe_join(dir: &Path, relative: &str) -> Option<PathBuf> {
    let relative = Path::new(relative);
    let normal = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (normal && !relative.as_os_str().is_empty()).then(|| dir.join(relative))
}

/// Python's `json.dumps(value, indent=4, sort_keys=True)` (ASCII-escaped).
fn python_indented(value: &Value, depth: usize) -> String {
    let pad = |d: usize| " ".repeat(4 * d);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}{}: {}",
                        pad(depth + 1),
                        status::json_string(k),
                        python_indented(&map[*k], depth + 1)
                    )
                })
                .collect();
            format!("{{\n{}\n{}}}", items.join(",\n"), pad(depth))
        }
        Value::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items
                .iter()
                .map(|v| format!("{}{}", pad(depth + 1), python_indented(v, depth + 1)))
                .collect();
            format!("[\n{}\n{}]", items.join(",\n"), pad(depth))
        }
        Value::String(text) => status::json_string(text),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_printed_as_python_prints_it() {
        let value: Value = serde_json::from_str(
            r#"{"message": "caf\u00e9", "prev_rev": 3, "etcd_user": null, "version": 2}"#,
        )
        .unwrap();
        assert_eq!(
            python_indented(&value, 0),
            "{\n    \"etcd_user\": null,\n    \"message\": \"caf\\u00e9\",\n    \"prev_rev\": 3,\n    \"version\": 2\n}"
        );
    }

    #[test]
    fn pulled_keys_never_leave_the_directory() {
        let dir = Path::new("/tmp/x");
        assert_eq!(
            safe_join(dir, "a/b.json"),
            Some(PathBuf::from("/tmp/x/a/b.json"))
        );
        assert_eq!(safe_join(dir, "../etc/passwd"), None);
        assert_eq!(safe_join(dir, "/etc/passwd"), None);
        assert_eq!(safe_join(dir, ""), None);
    }

    #[test]
    fn a_service_is_its_status_key_and_the_folder_below() {
        let keys = ServiceKeys::of("svc/v1").unwrap();
        assert_eq!(
            (keys.root.as_str(), keys.files.as_str()),
            ("/ec/config/svc/v1", "/ec/config/svc/v1/")
        );
    }

    #[test]
    fn names_that_would_reach_other_services_are_refused() {
        for (name, reason) in [
            ("", "it is empty"),
            ("  ", "it is empty"),
            ("/", "it must not start or end with '/'"),
            ("svc/", "it must not start or end with '/'"),
            ("/svc", "it must not start or end with '/'"),
            (
                "svc//v1",
                "each part between '/' must be a name (not empty, '.' or '..')",
            ),
            (
                "svc/../other",
                "each part between '/' must be a name (not empty, '.' or '..')",
            ),
            (
                ".",
                "each part between '/' must be a name (not empty, '.' or '..')",
            ),
        ] {
            let error = ServiceKeys::of(name).err().expect(name).to_string();
            assert_eq!(error, format!("Invalid service name {name:?}: {reason}"));
        }
    }
}
