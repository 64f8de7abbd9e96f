//! etcd over its native gRPC API (crate `etcd-client`): the same operations as the JSON
//! gateway engine, with etcd user/password authentication and TLS.

use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, PutOptions, SortOrder, SortTarget,
    TlsOptions, Txn, TxnOp, WatchOptions,
};

use super::{Change, KeyValue, StoreError, WatchUpdate};

/// A connection (made on first use) to one etcd member.
pub struct EtcdGrpc {
    endpoints: Vec<String>,
    options: ConnectOptions,
    user: Option<String>,
    /// Made on first use; dropped by [`EtcdGrpc::reconnect`].
    client: std::sync::Mutex<Option<Client>>,
}

impl std::fmt::Debug for EtcdGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdGrpc({})", self.endpoints.join(","))
    }
}

fn error(what: &str, e: etcd_client::Error) -> StoreError {
    StoreError::new(format!("{what}: {}", cause(&e)))
}

/// What went wrong, in one phrase: etcd's own message for an answered error, the transport's
/// cause (connection refused, host name unknown, certificate refused) for an unanswered one.
fn cause(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(status) => match std::error::Error::source(status) {
            Some(transport) => crate::cause::plain(transport),
            None if status.message().is_empty() => status.code().description().to_string(),
            None => crate::cause::strip_os_error_number(status.message()),
        },
        other => crate::cause::plain(other),
    }
}

/// Runs a call again (a few times, briefly) while etcd is unavailable: a cluster member that
/// died or a leader election; the client then reaches another member.
async fn retrying<T, F>(mut call: impl FnMut() -> F) -> Result<T, etcd_client::Error>
where
    F: Future<Output = Result<T, etcd_client::Error>>,
{
    let mut attempt = 0u64;
    loop {
        match call().await {
            Err(e) if attempt < 5 && is_unavailable(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// One transaction of `operations`, all applied or none. Not tried again when etcd is
/// unavailable: it may have been applied before the connection broke.
async fn transaction(
    client: &Client,
    operations: Vec<TxnOp>,
) -> Result<etcd_client::TxnResponse, StoreError> {
    let answer = client
        .clone()
        .txn(Txn::new().and_then(operations))
        .await
        .map_err(|e| error("Not able to execute the transaction", e))?;
    if !answer.succeeded() {
        return Err(StoreError::new("Not able to execute the transaction"));
    }
    Ok(answer)
}

fn is_unavailable(e: &etcd_client::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    // A refused certificate is reported as unavailable too, but waiting will not change it.
    !text.contains("certificate")
        && (text.contains("unavailable")
            || text.contains("leader changed")
            || text.contains("connect error"))
}

impl EtcdGrpc {
    /// A failed call; one that did not reach etcd names where it tried.
    fn error(&self, what: &str, e: etcd_client::Error) -> StoreError {
        let unreached = match &e {
            etcd_client::Error::GRpcStatus(status) => std::error::Error::source(status).is_some(),
            etcd_client::Error::TransportError(_) => true,
            _ => false,
        };
        if unreached {
            StoreError::new(format!(
                "{what}: unable to connect to {} (gRPC): {}",
                self.endpoints.join(","),
                cause(&e)
            ))
        } else {
            error(what, e)
        }
    }

    /// `credentials` are an etcd user and password.
    /// The cluster's members as configured, `host:port`, sorted.
    pub fn members(&self) -> Vec<String> {
        let mut members: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| {
                e.split_once("://")
                    .map_or(e.as_str(), |(_, a)| a)
                    .to_string()
            })
            .collect();
        members.sort();
        members.dedup();
        members
    }

    /// `endpoints`: the cluster's members (the client balances and fails over between them).
    pub fn new(
        endpoints: &[(String, u16)],
        https: bool,
        timeout: Option<Duration>,
        credentials: Option<(String, String)>,
    ) -> Result<EtcdGrpc, StoreError> {
        let scheme = if https { "https" } else { "http" };
        // Keepalive pings end a connection that went silent (a dead host, a NAT that forgot it);
        // require-leader makes a member cut off from its cluster's leader cancel our watches
        // instead of keeping them open with nothing to say.
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        if let Some(timeout) = timeout {
            options = options.with_timeout(timeout);
        }
        if https {
            let bundles = crate::tls::trusted_pem().map_err(StoreError::new)?;
            let roots = bundles.into_iter().map(Certificate::from_pem);
            options =
                options.with_tls(TlsOptions::new().with_webpki_roots().ca_certificates(roots));
        }
        let user = credentials.as_ref().map(|(user, _)| user.clone());
        if let Some((user, password)) = credentials {
            options = options.with_user(user, password);
        }
        Ok(EtcdGrpc {
            endpoints: endpoints
                .iter()
                .map(|(host, port)| format!("{scheme}://{host}:{port}"))
                .collect(),
            options,
            user,
            client: std::sync::Mutex::new(None),
        })
    }

    pub fn address(&self) -> String {
        self.endpoints.join(",")
    }

    /// The etcd user written into status records.
    pub fn user(&self) -> Option<String> {
        self.user.clone()
    }

    async fn client(&self) -> Result<Client, StoreError> {
        if let Some(client) = self.slot().clone() {
            return Ok(client);
        }
        let client = Client::connect(&self.endpoints, Some(self.options.clone()))
            .await
            .map_err(|e| {
                error(
                    &format!("Unable to connect to {}", self.endpoints.join(",")),
                    e,
                )
            })?;
        Ok(self.slot().get_or_insert(client).clone())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Client>> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the connections: the next call connects anew (to whichever members answer).
    pub fn reconnect(&self) {
        self.slot().take();
    }

    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let client = self.client().await?;
        let answer = retrying(|| {
            let (mut client, key) = (client.clone(), key.to_string());
            async move { client.get(key, None).await }
        })
        .await
        .map_err(|e| self.error("Not able to pull key", e))?;
        Ok(answer.kvs().first().map(convert))
    }

    /// The value of `key` at `revision`; `None` if absent then or compacted away.
    pub async fn get_at(&self, key: &str, revision: u64) -> Result<Option<KeyValue>, StoreError> {
        let client = self.client().await?;
        let options = GetOptions::new().with_revision(revision as i64);
        match retrying(|| {
            let (mut client, key, options) = (client.clone(), key.to_string(), options.clone());
            async move { client.get(key, Some(options)).await }
        })
        .await
        {
            Ok(answer) => Ok(answer.kvs().first().map(convert)),
            Err(etcd_client::Error::GRpcStatus(status))
                if status.code() as i32 == super::GRPC_OUT_OF_RANGE =>
            {
                Ok(None) // compacted away (etcd's ErrCompacted)
            }
            Err(e) => Err(self.error("Not able to pull key", e)),
        }
    }

    pub async fn revision(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let answer = retrying(|| {
            let mut client = client.clone();
            async move {
                client
                    .get("/", Some(GetOptions::new().with_keys_only()))
                    .await
            }
        })
        .await
        .map_err(|e| self.error("Not able to read the revision", e))?;
        Ok(answer.header().map(|h| h.revision() as u64).unwrap_or(0))
    }

    /// Writes every pair in one transaction, all with one lease when `ttl_seconds` is given.
    /// Returns the revision. Not tried again when etcd is unavailable (the transaction may have
    /// been applied): [`EtcdGrpc::put_all_if`] is.
    pub async fn put_all(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let operations = Self::puts(&client, pairs, ttl_seconds).await?;
        let answer = client
            .txn(Txn::new().and_then(operations))
            .await
            .map_err(|e| self.error("Not able to execute the transaction", e))?;
        if !answer.succeeded() {
            return Err(StoreError::new("Not able to execute the transaction"));
        }
        Ok(answer.header().map(|h| h.revision() as u64).unwrap_or(0))
    }

    /// [`EtcdGrpc::put_all`] only if `key` was last written at `mod_revision` (0: only if it
    /// does not exist): `Ok(Some(revision))` when written, `Ok(None)` when `key` had changed
    /// and nothing was written. Tried again while etcd is unavailable: the compare makes a
    /// second application impossible.
    pub async fn put_all_if(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
        unchanged: &[(String, u64)],
    ) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let operations = Self::puts(&client, pairs, ttl_seconds).await?;
        // etcd compares an absent key as revision 0.
        let compares: Vec<etcd_client::Compare> = unchanged
            .iter()
            .map(|(key, mod_revision)| {
                etcd_client::Compare::mod_revision(
                    key.as_str(),
                    etcd_client::CompareOp::Equal,
                    *mod_revision as i64,
                )
            })
            .collect();
        let transaction = Txn::new().when(compares).and_then(operations);
        let answer = retrying(|| {
            let (mut client, transaction) = (client.clone(), transaction.clone());
            async move { client.txn(transaction).await }
        })
        .await
        .map_err(|e| self.error("Not able to execute the transaction", e))?;
        if !answer.succeeded() {
            return Ok(None);
        }
        Ok(Some(
            answer.header().map(|h| h.revision() as u64).unwrap_or(0),
        ))
    }

    /// The put operations of a transaction writing `pairs`, with a new lease for them all when
    /// `ttl_seconds` is given.
    async fn puts(
        client: &Client,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<Vec<TxnOp>, StoreError> {
        let lease = match ttl_seconds {
            Some(ttl) => Some(
                retrying(|| {
                    let mut client = client.clone();
                    async move { client.lease_grant(ttl as i64, None).await }
                })
                .await
                .map_err(|e| error("Not able to request a lease", e))?
                .id(),
            ),
            None => None,
        };
        Ok(pairs
            .iter()
            .map(|(key, value)| {
                TxnOp::put(
                    key.as_str(),
                    value.clone(),
                    lease.map(|id| PutOptions::new().with_lease(id)),
                )
            })
            .collect())
    }

    /// Every key under `prefix` with its value, in key order; as it was at `revision` when
    /// given.
    pub async fn list(
        &self,
        prefix: &str,
        revision: Option<u64>,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let mut options = GetOptions::new().with_prefix();
        if let Some(revision) = revision {
            options = options.with_revision(revision as i64);
        }
        self.range(prefix, options).await
    }

    /// One transaction of deletes and puts; returns the keys deleted, with their last values.
    pub async fn apply(&self, changes: &[Change]) -> Result<Vec<KeyValue>, StoreError> {
        let operations: Vec<TxnOp> = changes
            .iter()
            .map(|change| match change {
                Change::Put(key, value) => TxnOp::put(key.as_str(), value.clone(), None),
                Change::Delete(key) => TxnOp::delete(
                    key.as_str(),
                    Some(etcd_client::DeleteOptions::new().with_prev_key()),
                ),
                Change::DeletePrefix(prefix) => TxnOp::delete(
                    prefix.as_str(),
                    Some(
                        etcd_client::DeleteOptions::new()
                            .with_prefix()
                            .with_prev_key(),
                    ),
                ),
            })
            .collect();
        let answer = transaction(&self.client().await?, operations).await?;
        let mut deleted = Vec::new();
        for response in answer.op_responses() {
            if let etcd_client::TxnOpResponse::Delete(delete) = response {
                deleted.extend(delete.prev_kvs().iter().map(convert));
            }
        }
        Ok(deleted)
    }

    /// The current values under `prefix` last written in `(after, up_to]`, in revision order.
    pub async fn written_between(
        &self,
        prefix: &str,
        after: u64,
        up_to: Option<u64>,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let mut options = GetOptions::new()
            .with_prefix()
            .with_min_mod_revision(after as i64 + 1)
            .with_sort(SortTarget::Mod, SortOrder::Ascend);
        if let Some(up_to) = up_to {
            options = options.with_max_mod_revision(up_to as i64);
        }
        let mut values = self.range(prefix, options).await?;
        values.sort_by(|a, b| (a.mod_revision, &a.key).cmp(&(b.mod_revision, &b.key)));
        Ok(values)
    }

    /// The keys a range request with `options` returns.
    async fn range(&self, prefix: &str, options: GetOptions) -> Result<Vec<KeyValue>, StoreError> {
        let client = self.client().await?;
        let answer = retrying(|| {
            // Replays, recovery after a compaction and configuration pulls can return far more
            // than tonic's default 4 MiB a message.
            let mut kv = client.kv_client().max_decoding_message_size(MESSAGE_LIMIT);
            let (prefix, options) = (prefix.to_string(), options.clone());
            async move { kv.get(prefix, Some(options)).await }
        })
        .await
        .map_err(|e| self.error("Not able to pull key", e))?;
        Ok(answer.kvs().iter().map(convert).collect())
    }

    pub async fn watch(&self, prefix: &str, start_revision: u64) -> Result<GrpcWatch, StoreError> {
        let client = self.client().await?;
        let options = WatchOptions::new()
            .with_prefix()
            .with_progress_notify()
            .with_start_revision(start_revision as i64);
        let stream = retrying(|| {
            let (prefix, options) = (prefix.to_string(), options.clone());
            let mut watcher = client
                .watch_client()
                .max_decoding_message_size(MESSAGE_LIMIT);
            async move { watcher.watch(prefix, Some(options)).await }
        })
        .await
        .map_err(|e| self.error("Not able to watch", e))?;
        Ok(GrpcWatch { stream })
    }
}

/// The largest watch or range message accepted. etcd sends up to a thousand revisions of history
/// in one watch message, and a range answer holds every key asked for, so a listener far behind
/// or a replay gets far more than gRPC's default 4 MiB.
const MESSAGE_LIMIT: usize = 1 << 30;

/// A live gRPC watch on one prefix.
pub struct GrpcWatch {
    stream: etcd_client::WatchStream,
}

impl GrpcWatch {
    pub async fn next(&mut self) -> Result<Option<WatchUpdate>, StoreError> {
        let Some(answer) = self
            .stream
            .message()
            .await
            .map_err(|e| error("the etcd watch stream broke", e))?
        else {
            return Ok(None);
        };
        if answer.compact_revision() > 0 {
            return Ok(Some(WatchUpdate::Compacted(
                answer.compact_revision() as u64
            )));
        }
        if answer.canceled() {
            let reason = answer.cancel_reason();
            return Err(StoreError::new(if reason.is_empty() {
                "etcd canceled the watch".to_string()
            } else {
                format!("etcd canceled the watch: {reason}")
            }));
        }
        let puts: Vec<KeyValue> = answer
            .events()
            .iter()
            .filter(|event| event.event_type() == EventType::Put)
            .filter_map(|event| event.kv().map(convert))
            .collect();
        if puts.is_empty() {
            // The watch's creation, a progress notification, or deletions only.
            return Ok(Some(WatchUpdate::Progress));
        }
        Ok(Some(WatchUpdate::Puts(puts)))
    }
}

fn convert(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision() as u64,
        mod_revision: kv.mod_revision() as u64,
        version: kv.version() as u64,
    }
}
