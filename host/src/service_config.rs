//! Versioned configuration files of a service in etcd (`aviso-config`), in pyaviso's layout:
//! the files of service `S` under `/ec/config/S/<relative path>`, raw bytes, and a status record
//! at `/ec/config/S` (pyaviso's status JSON, its `message` the pusher's). Every change is one
//! transaction; history is etcd's own, which `revert` reads back.
//!
//! Services nest (`aviso` and `aviso/v1`), so the keys under `/ec/config/` are read as a
//! filesystem: a key with other keys under `key/` is a folder, the status record of the service
//! of that name; a key with nothing under it is a file of the nearest service above it. Every
//! operation on a service touches its own files and status only, never those of a service
//! nested in it, above it, or beside it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::store::open::OpenError;
use crate::store::{Change, KeyValue, Store, StoreError, status};

/// Where all services live.
pub const CONFIG_PREFIX: &str = "/ec/config/";
/// pyaviso's hard cap on a configuration file, whatever `max_file_size` says.
pub const HARD_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// etcd refuses transactions with more operations than this (its `--max-txn-ops` default).
const MAX_OPERATIONS: usize = 128;

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
    /// The operation would touch another service's keys (or mix a file and a folder of one
    /// name), so nothing was done.
    #[error("Cannot {action} service {service}: {reason}")]
    Refused {
        action: &'static str,
        service: String,
        reason: String,
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
    /// Its name, such as `aviso/v1`.
    name: String,
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
        Ok(ServiceKeys {
            name: service.to_string(),
            root,
            files,
        })
    }

    /// The status keys of the services above this one, nearest first (`/ec/config/a/b`, then
    /// `/ec/config/a`, for `a/b/c`).
    fn ancestors(&self) -> impl Iterator<Item = &str> {
        let name = &self.root[CONFIG_PREFIX.len()..];
        name.rmatch_indices('/')
            .map(|(at, _)| &self.root[..CONFIG_PREFIX.len() + at])
    }

    /// `key` relative to the service's folder.
    fn relative<'a>(&self, key: &'a str) -> &'a str {
        key.strip_prefix(self.files.as_str()).unwrap_or(key)
    }

    fn refuse(&self, action: &'static str, reason: String) -> ServiceConfigError {
        ServiceConfigError::Refused {
            action,
            service: self.name.clone(),
            reason,
        }
    }
}

/// What is under a service's folder, by owner.
struct Folder {
    /// The service's own files, in key order.
    files: Vec<KeyValue>,
    /// The status keys of the services nested in it (`/ec/config/aviso/v1` in `aviso`),
    /// outermost only, in key order; they and everything under them are theirs.
    nested: Vec<String>,
}

impl Folder {
    /// Splits the keys under a folder: a key with other keys under `key/` cannot be a file (a
    /// file and a folder cannot share a name), so it is a nested service's status and that
    /// service owns it and everything under it.
    fn of(listed: Vec<KeyValue>) -> Folder {
        let all: std::collections::BTreeSet<&str> =
            listed.iter().map(|kv| kv.key.as_str()).collect();
        let has_children = |key: &str| {
            let folder = format!("{key}/");
            all.range(folder.as_str()..)
                .next()
                .is_some_and(|next| next.starts_with(&folder))
        };
        let roots: std::collections::BTreeSet<String> = all
            .iter()
            .filter(|key| has_children(key))
            .map(|key| key.to_string())
            .collect();
        // Under a nested root: the key itself or one of its folders is a root.
        let under_a_root = |key: &str| {
            roots.contains(key)
                || key
                    .match_indices('/')
                    .any(|(at, _)| roots.contains(&key[..at]))
        };
        let nested = roots
            .iter()
            .filter(|root| {
                !root
                    .match_indices('/')
                    .any(|(at, _)| roots.contains(&root[..at]))
            })
            .cloned()
            .collect();
        let files = listed
            .into_iter()
            .filter(|kv| !under_a_root(&kv.key))
            .collect();
        Folder { files, nested }
    }

    /// The nested service that the file `key` would collide with: `key` is its status key,
    /// lies under it, or is a folder holding it.
    fn collision(&self, key: &str) -> Option<&str> {
        self.nested
            .iter()
            .find(|root| collides(key, root))
            .map(|root| &root[CONFIG_PREFIX.len()..])
    }
}

/// Whether two keys cannot both be files: they are equal, or one is a folder of the other.
fn collides(a: &str, b: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    a == b || under(a, b) || under(b, a)
}

impl ServiceConfig {
    /// The configuration engine's store, as the settings describe it.
    pub fn open(settings: &crate::config::Settings) -> Result<ServiceConfig, OpenError> {
        let store = crate::store::open::configuration_store(settings)?;
        let writer = crate::store::open::status_writer(settings, &store)?;
        Ok(ServiceConfig::new(
            store,
            writer,
            settings.configuration_engine.max_file_size,
        ))
    }

    /// `max_file_size_kib`: the `configuration_engine.max_file_size` setting (KiB).
    pub fn new(store: Store, writer: status::Writer, max_file_size_kib: u64) -> ServiceConfig {
        ServiceConfig {
            store,
            writer,
            max_file_bytes: (max_file_size_kib.saturating_mul(1024)).min(HARD_MAX_FILE_BYTES),
        }
    }

    /// The keys under the service's folder (as they were at `revision` when given), by owner.
    async fn folder(
        &self,
        keys: &ServiceKeys,
        revision: Option<u64>,
    ) -> Result<Folder, StoreError> {
        Ok(Folder::of(self.store.list(&keys.files, revision).await?))
    }

    /// The status key of the nearest service above this one, if any.
    async fn enclosing(&self, keys: &ServiceKeys) -> Result<Option<String>, StoreError> {
        for ancestor in keys.ancestors() {
            if self.store.get(ancestor).await?.is_some() {
                return Ok(Some(ancestor.to_string()));
            }
        }
        Ok(None)
    }

    /// Refuses to `action` the service when its status key, with nothing under it, is a file
    /// of a service above it (`aviso/v1` when `aviso` has a file `v1`).
    async fn refuse_a_file(
        &self,
        keys: &ServiceKeys,
        action: &'static str,
        root_exists: bool,
        folder_is_empty: bool,
    ) -> Result<(), ServiceConfigError> {
        if !root_exists || !folder_is_empty {
            return Ok(());
        }
        match self.enclosing(keys).await? {
            Some(owner) => Err(keys.refuse(
                action,
                format!(
                    "{} is {}, not a service",
                    keys.root,
                    file_of(&keys.root, &owner)
                ),
            )),
            None => Ok(()),
        }
    }

    /// Pushes every regular file under `dir` (recursively) as the service's files, with a new
    /// status carrying `message`; with `delete`, the service's files not pushed are removed.
    /// Returns the local paths pushed; nothing is written when there are none. A file that
    /// would collide with a service nested in this one (the file `v1` or `v1/x.yaml` of
    /// `aviso` while `aviso/v1` exists) is refused, and so is a service that would live inside
    /// a file of a service above it.
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
        let mut puts = Vec::new();
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
            puts.push((key, value));
            pushed.push(path);
        }
        if pushed.is_empty() {
            return Ok(pushed);
        }
        let refuse = |reason| keys.refuse("push", reason);
        let folder = self.folder(&keys, None).await?;
        let previous = self.store.get(&keys.root).await?;
        self.refuse_a_file(
            &keys,
            "push",
            previous.is_some(),
            folder.files.is_empty() && folder.nested.is_empty(),
        )
        .await?;
        if previous.is_none() && folder.files.is_empty() && folder.nested.is_empty() {
            // A new service: the nearest key above it must be a service, not a file.
            if let Some(above) = self.enclosing(&keys).await? {
                let above_keys = ServiceKeys::of(&above[CONFIG_PREFIX.len()..])?;
                if self.store.list(&above_keys.files, None).await?.is_empty() {
                    if let Some(owner) = self.enclosing(&above_keys).await? {
                        return Err(refuse(format!(
                            "it would be inside {above}, {}",
                            file_of(&above, &owner)
                        )));
                    }
                }
            }
        }
        for (key, _) in &puts {
            if let Some(other) = folder.collision(key) {
                return Err(refuse(format!(
                    "its file {} collides with service {other} (a file and a folder cannot \
                     share a name)",
                    keys.relative(key)
                )));
            }
        }
        let kept: std::collections::HashSet<&str> = puts.iter().map(|(k, _)| k.as_str()).collect();
        let mut changes = Vec::new();
        if delete {
            for kv in &folder.files {
                if !kept.contains(kv.key.as_str()) {
                    changes.push(Change::Delete(kv.key.clone()));
                }
            }
        } else {
            // The files stored before stay: none may share its name with a folder pushed now.
            for kv in &folder.files {
                if let Some((key, _)) = puts
                    .iter()
                    .find(|(key, _)| key.as_str() != kv.key.as_str() && collides(key, &kv.key))
                {
                    return Err(refuse(format!(
                        "its file {} collides with its stored file {} (a file and a folder \
                         cannot share a name); push with --delete to replace it",
                        keys.relative(key),
                        keys.relative(&kv.key)
                    )));
                }
            }
        }
        let status = status::next_status(
            &self.writer,
            message,
            previous.as_ref().map(|kv| (keys.root.as_str(), kv)),
        );
        changes.extend(puts.into_iter().map(|(key, value)| Change::Put(key, value)));
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
        let folder = self.folder(&keys, None).await?;
        Ok(folder
            .files
            .into_iter()
            .map(|kv| (keys.relative(&kv.key).to_string(), kv.value))
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
            .folder(&keys, None)
            .await?
            .files
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        files.sort();
        Ok(files)
    }

    /// Deletes the service's files and status, key by key: only this service (`svc/v1` leaves
    /// `svc/v10` alone, `aviso` leaves `aviso/v1` alone). Returns the deleted keys in key order.
    /// One transaction, unless there are more files than etcd takes in one: then several, the
    /// status in the last one, so that an interrupted remove leaves the service (with fewer
    /// files) for a second remove to finish.
    pub async fn remove(&self, service: &str) -> Result<Vec<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let folder = self.folder(&keys, None).await?;
        let root = self.store.get(&keys.root).await?;
        self.refuse_a_file(
            &keys,
            "remove",
            root.is_some(),
            folder.files.is_empty() && folder.nested.is_empty(),
        )
        .await?;
        let mut deletes: Vec<Change> = folder
            .files
            .into_iter()
            .map(|kv| Change::Delete(kv.key))
            .collect();
        deletes.push(Change::Delete(keys.root));
        let mut deleted = Vec::new();
        for transaction in deletes.chunks(MAX_OPERATIONS) {
            deleted.extend(
                self.store
                    .apply(transaction)
                    .await?
                    .into_iter()
                    .map(|kv| kv.key),
            );
        }
        deleted.sort();
        Ok(deleted)
    }

    /// Undoes the last change of the service (a push, or a revert): its files and status become
    /// what they were just before it, files that change added or removed included, in one
    /// transaction. Returns the keys written or deleted; empty when there is nothing to revert.
    /// Services nested in this one, then or now, are left alone; a file of the previous version
    /// that now collides with one of them is refused.
    pub async fn revert(&self, service: &str) -> Result<Vec<String>, ServiceConfigError> {
        let keys = ServiceKeys::of(service)?;
        let Some(current_status) = self.store.get(&keys.root).await? else {
            return Ok(Vec::new());
        };
        let current = self.folder(&keys, None).await?;
        self.refuse_a_file(
            &keys,
            "revert",
            true,
            current.files.is_empty() && current.nested.is_empty(),
        )
        .await?;
        if current_status.version <= 1 {
            // Only one change ever: nothing before it to go back to.
            return Ok(Vec::new());
        }
        let before = current_status.mod_revision - 1;
        let history = |e: StoreError| ServiceConfigError::History {
            service: service.to_string(),
            reason: e.message,
        };
        let old = self.folder(&keys, Some(before)).await.map_err(history)?;
        let old_status = self
            .store
            .get_at(&keys.root, before)
            .await
            .map_err(history)?
            .ok_or_else(|| ServiceConfigError::History {
                service: service.to_string(),
                reason: format!("no status at revision {before} (compacted?)"),
            })?;
        for kv in &old.files {
            if let Some(other) = current.collision(&kv.key) {
                return Err(keys.refuse(
                    "revert",
                    format!(
                        "its previous file {} collides with service {other} (a file and a \
                         folder cannot share a name)",
                        keys.relative(&kv.key)
                    ),
                ));
            }
        }
        let mut changes = Vec::new();
        let mut touched = Vec::new();
        for kv in &current.files {
            if !old.files.iter().any(|old| old.key == kv.key) {
                changes.push(Change::Delete(kv.key.clone()));
                touched.push(kv.key.clone());
            }
        }
        for old in &old.files {
            let unchanged = current
                .files
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
        let folder_is_empty = self.store.list(&keys.files, None).await?.is_empty();
        self.refuse_a_file(&keys, "show the status of", true, folder_is_empty)
            .await?;
        let mut record: serde_json::Map<String, Value> = serde_json::from_slice(&kv.value)
            .map_err(|e| {
                ServiceConfigError::Io(format!("the status at {} is not JSON: {e}", keys.root))
            })?;
        record.insert("version".into(), Value::from(kv.version));
        Ok(Some(pycompat::json::dumps(
            &Value::Object(record),
            Some(4),
            true,
        )))
    }
}

/// "the file `v1` of service `aviso`", for the key `file` under the status key `owner`.
fn file_of(file: &str, owner: &str) -> String {
    let relative = file
        .strip_prefix(owner)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(file);
    format!(
        "the file {relative} of service {}",
        &owner[CONFIG_PREFIX.len()..]
    )
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn listed(keys: &[&str]) -> Vec<KeyValue> {
        keys.iter()
            .map(|key| KeyValue {
                key: key.to_string(),
                value: Vec::new(),
                create_revision: 1,
                mod_revision: 1,
                version: 1,
            })
            .collect()
    }

    #[test]
    fn a_key_with_keys_under_it_is_a_nested_service_not_a_file() {
        let folder = Folder::of(listed(&[
            "/ec/config/aviso/a.json",
            "/ec/config/aviso/sub/b.json",
            "/ec/config/aviso/v1",
            "/ec/config/aviso/v1-notes.txt",
            "/ec/config/aviso/v1/schema.json",
            "/ec/config/aviso/v1/x",
            "/ec/config/aviso/v1/x/y.json",
            "/ec/config/aviso/v10",
        ]));
        let files: Vec<&str> = folder.files.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            files,
            [
                "/ec/config/aviso/a.json",
                "/ec/config/aviso/sub/b.json",
                "/ec/config/aviso/v1-notes.txt",
                "/ec/config/aviso/v10",
            ]
        );
        assert_eq!(folder.nested, ["/ec/config/aviso/v1"]);
        for (file, other) in [
            ("/ec/config/aviso/v1", Some("aviso/v1")),
            ("/ec/config/aviso/v1/new.json", Some("aviso/v1")),
            ("/ec/config/aviso/v10", None),
            ("/ec/config/aviso/v1.json", None),
        ] {
            assert_eq!(folder.collision(file), other, "{file}");
        }
        let folder = Folder::of(listed(&["/ec/config/a/x/y", "/ec/config/a/x/y/f"]));
        assert_eq!(folder.collision("/ec/config/a/x"), Some("a/x/y"));
    }

    #[test]
    fn the_services_above_a_service_are_its_name_s_folders() {
        let keys = ServiceKeys::of("a/b/c").unwrap();
        let above: Vec<&str> = keys.ancestors().collect();
        assert_eq!(above, ["/ec/config/a/b", "/ec/config/a"]);
        assert_eq!(ServiceKeys::of("a").unwrap().ancestors().count(), 0);
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
