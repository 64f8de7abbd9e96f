//! The key-value stores that hold notifications. This version has the embedded `file_based`
//! store (SQLite, durable, safe for several processes, with revisions like etcd's); the etcd
//! engines come next.

mod file_based;
pub mod status;

pub use file_based::FileStore;

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

/// A store that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);
