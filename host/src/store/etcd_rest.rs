//! etcd through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`), with the
//! request bodies pyaviso sends: one kept-alive HTTP/1.1 connection, keys and values in base64.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{Change, KeyValue, StoreError, StoreErrorClass};

/// How often a 5xx answer (etcd changing leader, a proxy's hiccup) is tried again.
const TRANSIENT_RETRIES: u32 = 5;

/// Most connections one client keeps to etcd (opened as calls need them).
const CONNECTIONS: usize = 8;

/// How requests are authenticated (pyaviso's `auth_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdAuth {
    None,
    /// etcd's own users: a token from `/v3/auth/authenticate`, renewed when etcd refuses it.
    Etcd {
        user: String,
        password: String,
    },
    /// Fixed headers (`ecmwf`, `openid`, `plain`), for a proxy such as ECMWF's aviso-auth.
    Headers(Vec<(String, String)>),
}

/// A connection to one etcd member's gateway.
pub struct EtcdRest {
    /// The cluster's members; requests go to `current` until it fails, then to the next.
    endpoints: Vec<(String, u16)>,
    current: std::sync::atomic::AtomicUsize,
    https: bool,
    timeout: Option<Duration>,
    auth: EtcdAuth,
    token: std::sync::Mutex<Option<String>>,
    /// Kept-alive connections, used in turn, so that concurrent calls do not wait for each other.
    connections: Vec<Mutex<Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>>>,
    next_connection: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for EtcdRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdRest({})", self.address())
    }
}

impl EtcdRest {
    /// The cluster's members as configured, `host:port`, sorted.
    pub fn members(&self) -> Vec<String> {
        let mut members: Vec<String> = self
            .endpoints
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect();
        members.sort();
        members.dedup();
        members
    }

    /// `endpoints`: at least one `(host, port)`.
    pub fn new(
        endpoints: &[(String, u16)],
        https: bool,
        timeout: Option<Duration>,
        auth: EtcdAuth,
    ) -> EtcdRest {
        EtcdRest {
            endpoints: endpoints.to_vec(),
            current: std::sync::atomic::AtomicUsize::new(0),
            https,
            timeout,
            auth,
            token: std::sync::Mutex::new(None),
            connections: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next_connection: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn endpoint(&self, index: usize) -> (&str, u16) {
        let (host, port) = &self.endpoints[index % self.endpoints.len()];
        (host, *port)
    }

    /// Drops the kept-alive connections (those not in use); with `shun_member`, the next
    /// connection goes to the next member first.
    pub fn reconnect(&self, shun_member: bool) {
        for slot in &self.connections {
            if let Ok(mut connection) = slot.try_lock() {
                *connection = None;
            }
        }
        if shun_member && self.endpoints.len() > 1 {
            self.current
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The user written into status records (`etcd_user`): the etcd user, else none.
    pub fn user(&self) -> Option<String> {
        match &self.auth {
            EtcdAuth::Etcd { user, .. } => Some(user.clone()),
            _ => None,
        }
    }

    /// The headers that authenticate a request, authenticating first with etcd when needed.
    async fn auth_headers(&self) -> Result<Vec<(String, String)>, StoreError> {
        match &self.auth {
            EtcdAuth::None => Ok(Vec::new()),
            EtcdAuth::Headers(headers) => Ok(headers.clone()),
            EtcdAuth::Etcd { user, password } => {
                let cached = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let token = match cached {
                    Some(token) => token,
                    None => {
                        let answer = self
                            .send(
                                "auth/authenticate",
                                &json!({"name": user, "password": password}),
                                &[],
                            )
                            .await
                            .map_err(|e| {
                                StoreError::new(format!("Not able to authenticate {user}, {e}"))
                            })?;
                        let token = answer
                            .get("token")
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                StoreError::new("No token found in authentication response")
                            })?
                            .to_string();
                        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                        token
                    }
                };
                Ok(vec![("authorization".into(), token)])
            }
        }
    }

    pub fn address(&self) -> String {
        let (host, port) = self.endpoint(self.current.load(std::sync::atomic::Ordering::Relaxed));
        format!("{host}:{port}")
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/v3/{path}", self.address())
    }

    /// POSTs `body` to `/v3/<path>`, authenticated, and returns the JSON answer. An expired etcd
    /// token is renewed once.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, StoreError> {
        // A cluster electing a leader answers 503 for a moment: try again a few times. But a
        // transaction that failed so may have been applied all the same (a proxy that lost
        // etcd's answer): sent again, it would be applied twice. Only one with a compare, which
        // fails the second time, is sent again; the caller resolves the others.
        let repeatable = path != "kv/txn"
            || body
                .get("compare")
                .and_then(Value::as_array)
                .is_some_and(|compare| !compare.is_empty());
        let mut attempt = 0;
        loop {
            match self.call_once(path, body).await {
                Err(error)
                    if repeatable && attempt < TRANSIENT_RETRIES && error.is_server_error() =>
                {
                    attempt += 1;
                    tracing::debug!("{error}; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, path: &str, body: &Value) -> Result<Value, StoreError> {
        let headers = self.auth_headers().await?;
        match self.send(path, body, &headers).await {
            Err(error) if matches!(self.auth, EtcdAuth::Etcd { .. }) && is_auth_failure(&error) => {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let headers = self.auth_headers().await?;
                self.send(path, body, &headers).await
            }
            other => other,
        }
    }

    /// One POST with these extra headers.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        headers: &[(String, String)],
    ) -> Result<Value, StoreError> {
        let request = async {
            let index = self
                .next_connection
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % CONNECTIONS;
            let mut connection = self.connections[index].lock().await;
            // A kept-alive connection may have been closed by the server: reconnect once.
            for attempt in 0..2 {
                if connection.as_ref().is_none_or(|c| c.is_closed()) {
                    *connection = Some(self.connect().await?);
                }
                let sender = connection.as_mut().expect("connected above");
                let mut builder = hyper::Request::post(format!("/v3/{path}"))
                    .header("host", self.address())
                    .header("content-type", "application/json");
                for (name, value) in headers {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                let request = builder
                    .body(Full::new(Bytes::from(body.to_string())))
                    .map_err(|e| {
                        StoreError::new(format!(
                            "cannot build a request to {}: {e}",
                            self.url(path)
                        ))
                    })?;
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let bytes =
                            http_body_util::Limited::new(response.into_body(), MESSAGE_LIMIT)
                                .collect()
                                .await
                                .map_err(|e| {
                                    StoreError::new(format!(
                                        "Unable to read from {}: {e}",
                                        self.url(path)
                                    ))
                                })?
                                .to_bytes();
                        if !status.is_success() {
                            return Err(StoreError::answered(
                                status.as_u16(),
                                &bytes,
                                format!(
                                    "{} answered {status}: {}",
                                    self.url(path),
                                    String::from_utf8_lossy(&bytes)
                                ),
                            ));
                        }
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            StoreError::new(format!(
                                "{} answered with invalid JSON: {e}",
                                self.url(path)
                            ))
                        });
                    }
                    // A request that never left, or one that changes nothing, is sent again on
                    // a new connection; a write that may have reached etcd is not (it could be
                    // applied twice).
                    Err(mut e) => {
                        let unsent = e.take_message().is_some();
                        let error = e.into_error();
                        let write = path.starts_with("kv/") && path != "kv/range";
                        if attempt == 0 && (unsent || !write) {
                            tracing::debug!("{error}; sending again on a new connection");
                            *connection = None;
                        } else if write {
                            return Err(StoreError::new(format!(
                                "The connection to {} broke after the request was sent; it may or may not have been applied: {error}",
                                self.url(path)
                            )));
                        } else {
                            return Err(StoreError::new(format!(
                                "Unable to connect to {}: {error}",
                                self.url(path)
                            )));
                        }
                    }
                }
            }
            Err(StoreError::new(format!(
                "Unable to connect to {}",
                self.url(path)
            )))
        };
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, request).await.map_err(|_| {
                StoreError::new(format!(
                    "{} did not answer within {limit:?}",
                    self.url(path)
                ))
            })?,
            None => request.await,
        }
    }

    async fn connect(
        &self,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, StoreError> {
        let unable = |e: &dyn std::fmt::Display| {
            StoreError::new(crate::tls::explained(&format!(
                "Unable to connect to {}: {e}",
                self.url("")
            )))
        };
        // The member in use first, then the others in turn: failover within a cluster.
        let first = self.current.load(std::sync::atomic::Ordering::Relaxed);
        let mut connected = None;
        let mut last_error = None;
        for offset in 0..self.endpoints.len() {
            let index = (first + offset) % self.endpoints.len();
            let (host, port) = self.endpoint(index);
            match TcpStream::connect((host, port)).await {
                Ok(tcp) => {
                    keep_alive(&tcp);
                    if offset > 0 {
                        tracing::warn!("Switching to etcd member {host}:{port}");
                    }
                    self.current
                        .store(index, std::sync::atomic::Ordering::Relaxed);
                    connected = Some((tcp, host.to_string()));
                    break;
                }
                Err(error) => last_error = Some(error),
            }
        }
        let Some((tcp, host)) = connected else {
            let error = last_error
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no endpoint".into());
            return Err(unable(&error));
        };
        let stream: std::pin::Pin<Box<dyn Stream>> = if self.https {
            let config = crate::tls::client_config(true).map_err(|e| unable(&e))?;
            let name =
                rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| unable(&e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| unable(&e))?;
            Box::pin(tls)
        } else {
            Box::pin(tcp)
        };
        let (sender, connection) =
            hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream))
                .await
                .map_err(|e| unable(&e))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// The current value of `key` (B1, non-prefix).
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let answer = self
            .call("kv/range", &json!({"key": BASE64.encode(key)}))
            .await?;
        Ok(kvs(&answer)?.into_iter().next())
    }

    /// The value of `key` as it was at `revision`; `Ok(None)` if it did not exist then or that
    /// history was compacted away.
    pub async fn get_at(&self, key: &str, revision: u64) -> Result<Option<KeyValue>, StoreError> {
        match self
            .call(
                "kv/range",
                &json!({"key": BASE64.encode(key), "revision": revision}),
            )
            .await
        {
            Ok(answer) => Ok(kvs(&answer)?.into_iter().next()),
            Err(error) if error.class == StoreErrorClass::Compacted => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The current values of the keys under `prefix` last written in `(after, up_to]`, in
    /// revision order (pyaviso's replay range).
    pub async fn written_between(
        &self,
        prefix: &str,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let body = json!({
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(prefix_end(prefix)),
            "min_mod_revision": after + 1,
            "max_mod_revision": up_to,
        });
        let answer = self.call("kv/range", &body).await?;
        let mut values = kvs(&answer)?;
        values.sort_by(|a, b| (a.mod_revision, &a.key).cmp(&(b.mod_revision, &b.key)));
        Ok(values)
    }

    /// The store's current revision (B2).
    pub async fn revision(&self) -> Result<u64, StoreError> {
        let answer = self
            .call(
                "kv/range",
                &json!({"key": BASE64.encode("/"), "keys_only": true}),
            )
            .await?;
        revision_of(&answer)
    }

    /// Writes every pair in one transaction, all with one lease when `ttl_seconds` is given
    /// (pyaviso's B3/B4). Returns the revision. A server error is not retried (the
    /// transaction may have been applied): [`EtcdRest::put_all_if`] can be.
    pub async fn put_all(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<u64, StoreError> {
        let operations = self.puts(pairs, ttl_seconds).await?;
        let answer = self.call("kv/txn", &json!({"success": operations})).await?;
        if answer.get("succeeded").and_then(Value::as_bool) == Some(false) {
            return Err(StoreError::new("Not able to execute the transaction"));
        }
        revision_of(&answer)
    }

    /// [`EtcdRest::put_all`] only if `key` was last written at `mod_revision` (0: only if it
    /// does not exist): `Ok(Some(revision))` when written, `Ok(None)` when `key` had changed
    /// and nothing was written.
    pub async fn put_all_if(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
        key: &str,
        mod_revision: u64,
    ) -> Result<Option<u64>, StoreError> {
        let operations = self.puts(pairs, ttl_seconds).await?;
        // etcd compares an absent key as revision 0.
        let compare = json!([{
            "key": BASE64.encode(key),
            "target": "MOD",
            "result": "EQUAL",
            "mod_revision": mod_revision,
        }]);
        let body = json!({"compare": compare, "success": operations});
        let answer = self.call("kv/txn", &body).await?;
        // The gateway leaves `succeeded` out when it is false.
        if answer.get("succeeded").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        revision_of(&answer).map(Some)
    }

    /// The put operations of a transaction writing `pairs`, with a new lease for them all when
    /// `ttl_seconds` is given.
    async fn puts(
        &self,
        pairs: &[(String, Vec<u8>)],
        ttl_seconds: Option<u64>,
    ) -> Result<Vec<Value>, StoreError> {
        let lease = match ttl_seconds {
            None => None,
            Some(ttl) => {
                let answer = self
                    .call("lease/grant", &json!({"TTL": ttl, "ID": 0}))
                    .await?;
                Some(answer.get("ID").cloned().ok_or_else(|| {
                    StoreError::new("Not able to request a lease, no ID in the answer")
                })?)
            }
        };
        Ok(pairs
            .iter()
            .map(|(key, value)| {
                let mut put = json!({"key": BASE64.encode(key), "value": BASE64.encode(value)});
                if let Some(lease) = &lease {
                    put["lease"] = lease.clone();
                }
                json!({"requestPut": put})
            })
            .collect())
    }

    /// Every key under `prefix` with its value, in key order; as it was at `revision` when
    /// given (an error when that history was compacted).
    pub async fn list(
        &self,
        prefix: &str,
        revision: Option<u64>,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let mut body = json!({
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(prefix_end(prefix)),
        });
        if let Some(revision) = revision {
            body["revision"] = json!(revision);
        }
        let answer = self.call("kv/range", &body).await?;
        kvs(&answer)
    }

    /// One transaction of deletes and puts; returns the keys deleted, with their last values.
    pub async fn apply(&self, changes: &[Change]) -> Result<Vec<KeyValue>, StoreError> {
        let operations: Vec<Value> = changes
            .iter()
            .map(|change| match change {
                Change::Put(key, value) => json!({"requestPut": {
                    "key": BASE64.encode(key), "value": BASE64.encode(value)}}),
                Change::Delete(key) => json!({"requestDeleteRange": {
                    "key": BASE64.encode(key), "prev_kv": true}}),
                Change::DeletePrefix(prefix) => json!({"requestDeleteRange": {
                    "key": BASE64.encode(prefix),
                    "range_end": BASE64.encode(prefix_end(prefix)),
                    "prev_kv": true}}),
            })
            .collect();
        let answer = self.call("kv/txn", &json!({"success": operations})).await?;
        if answer.get("succeeded").and_then(Value::as_bool) == Some(false) {
            return Err(StoreError::new("Not able to execute the transaction"));
        }
        let mut deleted = Vec::new();
        for response in answer
            .get("responses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(items) = response
                .get("response_delete_range")
                .and_then(|r| r.get("prev_kvs"))
                .and_then(Value::as_array)
            {
                for item in items {
                    deleted.push(kv_of(item)?);
                }
            }
        }
        Ok(deleted)
    }

    /// The current values of the keys under `prefix` last written after `after_revision`, in
    /// revision order.
    pub async fn changes_since(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let body = json!({
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(prefix_end(prefix)),
            "min_mod_revision": after_revision + 1,
            "sort_order": "ASCEND",
            "sort_target": "MOD",
        });
        let answer = self.call("kv/range", &body).await?;
        let mut values = kvs(&answer)?;
        values.sort_by(|a, b| (a.mod_revision, &a.key).cmp(&(b.mod_revision, &b.key)));
        Ok(values)
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Whether etcd refused the request's credentials (an expired or revoked token).
fn is_auth_failure(error: &StoreError) -> bool {
    // etcd answers an expired or missing token with Unauthenticated, or (through the gateway)
    // with "user name is empty" as InvalidArgument: that one only its text tells apart.
    error.is_unauthenticated() || error.message.contains("user name is empty")
}

/// Where the first line of `buffer` ends, looking only past what was scanned before (a long
/// message comes in many frames: scanning it all again for each would take quadratic time).
fn line_end(buffer: &[u8], scanned: &mut usize) -> Option<usize> {
    match buffer[*scanned..].iter().position(|b| *b == b'\n') {
        Some(offset) => {
            let end = *scanned + offset;
            *scanned = 0; // the line is taken out of the buffer
            Some(end)
        }
        None => {
            *scanned = buffer.len();
            None
        }
    }
}

/// What a watch reports.
pub enum WatchUpdate {
    /// Keys written, each with its revision, in order.
    Puts(Vec<KeyValue>),
    /// The start revision was compacted away; history from `0` on is gone.
    Compacted(u64),
    /// A sign of life without writes (the watch's creation, a progress notification).
    Progress,
}

/// A live `/v3/watch` stream on one prefix.
pub struct Watch {
    body: hyper::body::Incoming,
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no line end.
    scanned: usize,
}

/// The largest answer or watch message accepted from etcd (as the gRPC engine's limit): a
/// listener far behind gets large messages, but a server or proxy that never ends a line must
/// not take all memory.
const MESSAGE_LIMIT: usize = 1 << 30;

impl Watch {
    /// The next update; `Ok(None)` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<WatchUpdate>, StoreError> {
        loop {
            // grpc-gateway writes one JSON object per line.
            if let Some(end) = line_end(&self.buffer, &mut self.scanned) {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let message: Value = serde_json::from_slice(&line).map_err(|e| {
                    StoreError::new(format!("etcd sent an invalid watch message: {e}"))
                })?;
                let Some(result) = message.get("result") else {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    return Err(StoreError::new(format!(
                        "the etcd watch failed: {}",
                        text.trim()
                    )));
                };
                let compacted = number(result.get("compact_revision"));
                if compacted > 0 {
                    return Ok(Some(WatchUpdate::Compacted(compacted)));
                }
                let events = result.get("events").and_then(Value::as_array);
                let puts: Vec<KeyValue> = events
                    .into_iter()
                    .flatten()
                    .filter(|event| event.get("type").and_then(Value::as_str) != Some("DELETE"))
                    .filter_map(|event| event.get("kv"))
                    .map(kv_of)
                    .collect::<Result<_, _>>()?;
                if !puts.is_empty() {
                    return Ok(Some(WatchUpdate::Puts(puts)));
                }
                // The watch's creation, a progress notification, or deletions only.
                return Ok(Some(WatchUpdate::Progress));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(StoreError::new(format!("the etcd watch stream broke: {e}")));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if self.buffer.len() + data.len() > MESSAGE_LIMIT {
                            return Err(StoreError::new(format!(
                                "the etcd watch sent a message larger than {} MiB; refused",
                                MESSAGE_LIMIT >> 20
                            )));
                        }
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

impl EtcdRest {
    /// Watches every write under `prefix` from `start_revision` on (history included, so a
    /// listener that was away gets every write, not only the last of each key).
    pub async fn watch(&self, prefix: &str, start_revision: u64) -> Result<Watch, StoreError> {
        let mut sender = self.connect().await?;
        let body = json!({"create_request": {
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(prefix_end(prefix)),
            "start_revision": start_revision,
            // etcd then says now and then that the watch is alive and where the store is.
            "progress_notify": true,
        }});
        let mut builder = hyper::Request::post("/v3/watch")
            .header("host", self.address())
            .header("content-type", "application/json");
        for (name, value) in self.auth_headers().await? {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| StoreError::new(format!("cannot build a watch request: {e}")))?;
        let response = sender.send_request(request).await.map_err(|e| {
            StoreError::new(format!("Unable to connect to {}: {e}", self.url("watch")))
        })?;
        if !response.status().is_success() {
            return Err(StoreError::answered(
                response.status().as_u16(),
                b"",
                format!("{} answered {}", self.url("watch"), response.status()),
            ));
        }
        Ok(Watch {
            body: response.into_body(),
            buffer: Vec::new(),
            scanned: 0,
        })
    }
}

/// Asks the kernel to probe an idle connection, so that a dead host or a peer that vanished
/// without a reset ends the connection (and a watch on it) instead of leaving it open for ever.
fn keep_alive(tcp: &TcpStream) {
    let probes = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    if let Err(error) = socket2::SockRef::from(tcp).set_tcp_keepalive(&probes) {
        tracing::debug!("cannot turn TCP keepalive on: {error}");
    }
}

/// The end of a prefix range: the key with its last byte incremented.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// int64 fields come back as JSON strings.
fn number(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn revision_of(answer: &Value) -> Result<u64, StoreError> {
    answer
        .get("header")
        .map(|h| number(h.get("revision")))
        .ok_or_else(|| StoreError::new("etcd answered without a header"))
}

/// The key-values of a range answer. A missing `value` is an empty value (pyaviso crashed on it).
fn kvs(answer: &Value) -> Result<Vec<KeyValue>, StoreError> {
    let Some(items) = answer.get("kvs").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    items.iter().map(kv_of).collect()
}

fn kv_of(item: &Value) -> Result<KeyValue, StoreError> {
    let decode = |field: &str| -> Result<Vec<u8>, StoreError> {
        match item.get(field).and_then(Value::as_str) {
            None => Ok(Vec::new()),
            Some(text) => BASE64
                .decode(text)
                .map_err(|e| StoreError::new(format!("etcd sent an invalid {field}: {e}"))),
        }
    };
    Ok(KeyValue {
        key: String::from_utf8_lossy(&decode("key")?).into_owned(),
        value: decode("value")?,
        create_revision: number(item.get("create_revision")),
        mod_revision: number(item.get("mod_revision")),
        version: number(item.get("version")),
    })
}

#[cfg(test)]
mod tests {
    use super::line_end;

    #[test]
    fn line_ends_are_found_once_however_many_frames_a_message_takes() {
        let mut scanned = 0;
        let mut buffer = b"{\"a\":".to_vec();
        assert_eq!(line_end(&buffer, &mut scanned), None);
        assert_eq!(scanned, 5);
        buffer.extend_from_slice(b"1}\n{\"b\"");
        assert_eq!(line_end(&buffer, &mut scanned), Some(7));
        buffer.drain(..=7);
        assert_eq!(scanned, 0);
        assert_eq!(line_end(&buffer, &mut scanned), None);
        buffer.extend_from_slice(b":2}\n");
        assert_eq!(line_end(&buffer, &mut scanned), Some(7));
    }

    #[test]
    fn prefix_ends_increment_the_last_byte() {
        assert_eq!(
            super::prefix_end("/tmp/aviso/flight/"),
            b"/tmp/aviso/flight0".to_vec()
        );
        assert_eq!(super::prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
