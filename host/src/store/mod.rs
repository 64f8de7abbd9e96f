//! The key-value stores that hold notifications: the embedded `file_based` store (SQLite,
//! durable, safe for several processes, with revisions and history like etcd's) and etcd
//! through its JSON gateway (`etcd_rest`).

mod etcd_grpc;
mod etcd_rest;
pub(crate) mod feed;
mod file_based;
pub mod open;
pub(crate) mod publisher;
pub(crate) mod replay;
pub(crate) mod status;

pub use etcd_grpc::{EtcdGrpc, GrpcWatch};
pub use etcd_rest::{EtcdAuth, EtcdRest, Watch, WatchUpdate};
pub use file_based::FileStore;
pub use status::hostname;

/// A store of one of the supported engines.
#[derive(Debug)]
pub enum Store {
    File(FileStore),
    EtcdRest(EtcdRest),
    EtcdGrpc(Box<EtcdGrpc>),
}

/// A live watch of either etcd engine.
pub enum Watching {
    Rest(Watch),
    Grpc(GrpcWatch),
}

impl Watching {
    pub async fn next(&mut self) -> Result<Option<WatchUpdate>, StoreError> {
        match self {
            Watching::Rest(watch) => watch.next().await,
            Watching::Grpc(watch) => watch.next().await,
        }
    }
}

impl Store {
    /// Where the store is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Store::File(store) => format!("the embedded store {}", store.path().display()),
            Store::EtcdRest(store) => store.address(),
            Store::EtcdGrpc(store) => store.address(),
        }
    }

    /// What stays the same for one store whichever member is in use and however the
    /// configuration lists them: the embedded store's file, or an etcd cluster's members in
    /// order (`host:port`). Listener positions are kept per store by it.
    pub fn identity(&self) -> String {
        match self {
            Store::File(store) => format!("file {}", store.path().display()),
            Store::EtcdRest(store) => format!("etcd {}", store.members().join(",")),
            Store::EtcdGrpc(store) => format!("etcd {}", store.members().join(",")),
        }
    }

    /// Drops the connections to etcd so that the next request connects anew; with
    /// `shun_member`, to another member first when there is one (this one did not answer).
    pub fn reconnect(&self, shun_member: bool) {
        match self {
            Store::File(_) => {}
            Store::EtcdRest(store) => store.reconnect(shun_member),
            Store::EtcdGrpc(store) => store.reconnect(),
        }
    }

    /// The status record's `engine`.
    pub fn engine_name(&self) -> &'static str {
        match self {
            Store::File(_) => "FILE_BASED",
            Store::EtcdRest(_) => "ETCD_REST",
            Store::EtcdGrpc(_) => "ETCD_GRPC",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        match self {
            Store::File(store) => store.get(key),
            Store::EtcdRest(store) => store.get(key).await,
            Store::EtcdGrpc(store) => store.get(key).await,
        }
    }

    pub async fn revision(&self) -> Result<u64, StoreError> {
        match self {
            Store::File(store) => store.revision(),
            Store::EtcdRest(store) => store.revision().await,
            Store::EtcdGrpc(store) => store.revision().await,
        }
    }

    /// [`Store::revision`], asked through `key` where a proxy in between authorises by key
    /// (aviso-auth lets a user read only the keys of their listeners).
    pub async fn revision_through(&self, key: &str) -> Result<u64, StoreError> {
        match self {
            Store::EtcdRest(store) => store.revision_through(key).await,
            _ => self.revision().await,
        }
    }

    pub async fn put_all(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<u64, StoreError> {
        match self {
            Store::File(store) => store.put_all(pairs, ttl_seconds),
            Store::EtcdRest(store) => store.put_all(pairs, ttl_seconds).await,
            Store::EtcdGrpc(store) => store.put_all(pairs, ttl_seconds).await,
        }
    }

    /// [`Store::put_all`] only if each key of `unchanged` was last written at its revision (0:
    /// only if it does not exist), checked in the same transaction: `Ok(Some(revision))` when
    /// written, `Ok(None)` when one of them had changed and nothing was written.
    pub async fn put_all_if(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
        unchanged: &[(String, u64)],
    ) -> Result<Option<u64>, StoreError> {
        match self {
            Store::File(store) => store.put_all_if(pairs, ttl_seconds, unchanged),
            Store::EtcdRest(store) => store.put_all_if(pairs, ttl_seconds, unchanged).await,
            Store::EtcdGrpc(store) => store.put_all_if(pairs, ttl_seconds, unchanged).await,
        }
    }

    /// What was written under `prefix` in revisions `(after, up_to]`, in revision order: every
    /// write on the embedded store, the current value of each key on etcd (as pyaviso replays).
    pub async fn written_between(
        &self,
        prefix: &str,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        match self {
            Store::File(store) => {
                let mut changes = store.changes_since(prefix, after)?;
                changes.retain(|kv| kv.mod_revision <= up_to);
                Ok(changes)
            }
            Store::EtcdRest(store) => store.written_between(prefix, after, up_to).await,
            Store::EtcdGrpc(store) => store.written_between(prefix, after, Some(up_to)).await,
        }
    }

    /// What was written under `prefix` after `after_revision`, in revision order.
    pub async fn changes_since(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        match self {
            Store::File(store) => store.changes_since(prefix, after_revision),
            Store::EtcdRest(store) => store.changes_since(prefix, after_revision).await,
            Store::EtcdGrpc(store) => store.written_between(prefix, after_revision, None).await,
        }
    }

    /// Every key under `prefix`, in key order; as it was at `revision` when given (etcd only).
    pub async fn list(
        &self,
        prefix: &str,
        revision: Option<u64>,
    ) -> Result<Vec<KeyValue>, StoreError> {
        match self {
            Store::File(_) => Err(not_a_configuration_store()),
            Store::EtcdRest(store) => store.list(prefix, revision).await,
            Store::EtcdGrpc(store) => store.list(prefix, revision).await,
        }
    }

    /// Deletes and puts in one transaction (etcd only); returns the deleted keys.
    pub async fn apply(&self, changes: &[Change]) -> Result<Vec<KeyValue>, StoreError> {
        match self {
            Store::File(_) => Err(not_a_configuration_store()),
            Store::EtcdRest(store) => store.apply(changes).await,
            Store::EtcdGrpc(store) => store.apply(changes).await,
        }
    }

    /// The value of `key` at `revision` (etcd only); `None` when absent then, or compacted.
    pub async fn get_at(&self, key: &str, revision: u64) -> Result<Option<KeyValue>, StoreError> {
        match self {
            Store::File(_) => Err(StoreError::new(
                "the embedded store keeps no past values by key",
            )),
            Store::EtcdRest(store) => store.get_at(key, revision).await,
            Store::EtcdGrpc(store) => store.get_at(key, revision).await,
        }
    }

    /// Watches every write under `prefix` from `start_revision` on (etcd only).
    pub async fn watch(&self, prefix: &str, start_revision: u64) -> Result<Watching, StoreError> {
        match self {
            Store::File(_) => Err(StoreError::new("the embedded store is polled, not watched")),
            Store::EtcdRest(store) => {
                Ok(Watching::Rest(store.watch(prefix, start_revision).await?))
            }
            Store::EtcdGrpc(store) => {
                Ok(Watching::Grpc(store.watch(prefix, start_revision).await?))
            }
        }
    }
}

/// One operation of a transaction ([`Store::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(String, Vec<u8>),
    Delete(String),
    /// Every key starting with this text.
    DeletePrefix(String),
}

/// One key and its value, with etcd's revision bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (since it last did not exist).
    pub create_revision: u64,
    /// The revision of the last write.
    pub mod_revision: u64,
    /// How many times the key was written since it was created.
    pub version: u64,
}

/// A store that cannot be used: what happened, for the user, and its class, for the code that
/// decides whether to retry, re-authenticate or fall back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub class: StoreErrorClass,
    pub message: String,
}

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorClass {
    /// Anything the code does not branch on.
    Other,
    /// The server (or a proxy in front of it) answered with this HTTP status; `grpc` is the gRPC
    /// status code the etcd gateway put in the body, when it did.
    Answered { http: u16, grpc: Option<i32> },
    /// The history asked for was compacted away.
    Compacted,
}

/// gRPC status codes etcd uses for the errors we branch on.
pub(super) const GRPC_OUT_OF_RANGE: i32 = 11;
const GRPC_UNAUTHENTICATED: i32 = 16;

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            class: StoreErrorClass::Other,
            message: message.into(),
        }
    }

    /// An HTTP answer that is not a success; etcd's gateway explains it in a JSON body with
    /// the gRPC `code`.
    pub fn answered(http: u16, body: &[u8], message: impl Into<String>) -> StoreError {
        let grpc = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|b| b.get("code").and_then(serde_json::Value::as_i64))
            .and_then(|code| i32::try_from(code).ok());
        let class = if grpc == Some(GRPC_OUT_OF_RANGE) {
            // etcd's ErrCompacted and ErrFutureRev; a revision we asked for that no longer is.
            StoreErrorClass::Compacted
        } else {
            StoreErrorClass::Answered { http, grpc }
        };
        StoreError {
            class,
            message: message.into(),
        }
    }

    /// The server failed for now (HTTP 5xx): worth trying again.
    pub fn is_server_error(&self) -> bool {
        matches!(
            self.class,
            StoreErrorClass::Answered {
                http: 500..=599,
                ..
            }
        )
    }

    /// Our credentials were refused (an expired etcd token among them).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self.class,
            StoreErrorClass::Answered { http: 401, .. }
                | StoreErrorClass::Answered {
                    grpc: Some(GRPC_UNAUTHENTICATED),
                    ..
                }
        )
    }

    /// A server or proxy refused the request as such (ECMWF's aviso-auth allows only
    /// `/v3/kv/range`): not a connection problem.
    pub fn is_refused_request(&self) -> bool {
        matches!(
            self.class,
            StoreErrorClass::Answered {
                http: 403 | 404 | 405 | 501,
                ..
            }
        )
    }
}

fn not_a_configuration_store() -> StoreError {
    StoreError::new("the embedded store cannot hold configuration files; use etcd")
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_status_and_grpc_code_not_by_wording() {
        let compacted = StoreError::answered(
            400,
            br#"{"error":"anything","code":11,"message":"reworded in a new etcd"}"#,
            "x",
        );
        assert_eq!(compacted.class, StoreErrorClass::Compacted);
        let expired = StoreError::answered(400, br#"{"code":16}"#, "x");
        assert!(expired.is_unauthenticated() && !expired.is_server_error());
        assert!(StoreError::answered(503, b"<html>", "x").is_server_error());
        assert!(StoreError::answered(401, b"", "x").is_unauthenticated());
        for refused in [403, 404, 405, 501] {
            assert!(StoreError::answered(refused, b"", "x").is_refused_request());
        }
        let plain = StoreError::new("cannot connect");
        assert!(!plain.is_server_error() && !plain.is_refused_request());
        assert_eq!(plain.to_string(), "cannot connect");
    }
}
