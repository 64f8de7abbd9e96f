//! etcd through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`), with the
//! request bodies pyaviso sends: pooled kept-alive HTTP/1.1 connections (reqwest), keys and
//! values in base64.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::{Change, KeyValue, StoreError, StoreErrorClass};

/// How often a 5xx answer (etcd changing leader, a proxy's hiccup) is tried again.
const TRANSIENT_RETRIES: u32 = 5;

/// Most idle connections one client keeps to etcd (opened as concurrent calls need them).
const IDLE_CONNECTIONS: usize = 8;

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
    current: AtomicUsize,
    https: bool,
    timeout: Option<Duration>,
    auth: EtcdAuth,
    token: std::sync::Mutex<Option<String>>,
    /// The pooled client, made on first use and dropped (with its connections) by
    /// [`EtcdRest::reconnect`].
    client: std::sync::Mutex<Option<reqwest::Client>>,
}

impl std::fmt::Debug for EtcdRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdRest({})", self.address())
    }
}

/// Why a request got no answer.
enum Unanswered {
    /// No member could be reached: nothing was sent.
    Unreachable(StoreError),
    /// The request left; the connection broke before the answer came.
    Broken(String),
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
            current: AtomicUsize::new(0),
            https,
            timeout,
            auth,
            token: std::sync::Mutex::new(None),
            client: std::sync::Mutex::new(None),
        }
    }

    fn endpoint(&self, index: usize) -> (&str, u16) {
        let (host, port) = &self.endpoints[index % self.endpoints.len()];
        (host, *port)
    }

    /// Drops the kept-alive connections (those in use end with their requests); with
    /// `shun_member`, the next connection goes to the next member first.
    pub fn reconnect(&self, shun_member: bool) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if shun_member && self.endpoints.len() > 1 {
            self.current.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The pooled client: HTTP/1.1, TCP keepalive probes (so that a dead host or a peer that
    /// vanished without a reset ends a connection, and a watch on it, instead of leaving it
    /// open for ever), certificates verified, no redirects, no proxy.
    fn client(&self) -> Result<reqwest::Client, StoreError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let unable = |e: &dyn std::fmt::Display| {
            StoreError::new(format!("Unable to connect to {}: {e}", self.url("")))
        };
        let builder = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(IDLE_CONNECTIONS)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_keepalive_interval(Duration::from_secs(10));
        let builder = builder.tls_backend_preconfigured(if self.https {
            (*crate::tls::client_config(true).map_err(|e| unable(&e))?).clone()
        } else {
            crate::tls::trusting_nobody()
        });
        let client = builder.build().map_err(|e| unable(&e))?;
        *slot = Some(client.clone());
        Ok(client)
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
        let (host, port) = self.endpoint(self.current.load(Ordering::Relaxed));
        format!("{host}:{port}")
    }

    fn url(&self, path: &str) -> String {
        self.url_at(self.current.load(Ordering::Relaxed), path)
    }

    fn url_at(&self, index: usize, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let (host, port) = self.endpoint(index);
        // An IPv6 address is bracketed in a URL.
        if host.contains(':') && !host.starts_with('[') {
            format!("{scheme}://[{host}]:{port}/v3/{path}")
        } else {
            format!("{scheme}://{host}:{port}/v3/{path}")
        }
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

    /// One POST with these extra headers, within the configured timeout.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        headers: &[(String, String)],
    ) -> Result<Value, StoreError> {
        let request = async {
            let body = body.to_string();
            // A read whose connection broke is sent again, once; a write that may have reached
            // etcd is not (it could be applied twice).
            let write = path.starts_with("kv/") && path != "kv/range";
            let mut response = None;
            for attempt in 0..2 {
                match self.post(path, &body, headers).await {
                    Ok(answer) => {
                        response = Some(answer);
                        break;
                    }
                    Err(Unanswered::Unreachable(error)) => return Err(error),
                    Err(Unanswered::Broken(cause)) if write => {
                        return Err(StoreError::new(format!(
                            "The connection to {} broke after the request was sent; it may or may not have been applied: {cause}",
                            self.url(path)
                        )));
                    }
                    Err(Unanswered::Broken(cause)) if attempt == 0 => {
                        tracing::debug!("{cause}; sending again on a new connection");
                    }
                    Err(Unanswered::Broken(cause)) => {
                        return Err(StoreError::new(format!(
                            "Unable to connect to {}: {cause}",
                            self.url(path)
                        )));
                    }
                }
            }
            let Some(mut response) = response else {
                unreachable!("the loop answers or returns")
            };
            let status = response.status();
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(None) => break,
                    Ok(Some(chunk)) => {
                        if bytes.len() + chunk.len() > MESSAGE_LIMIT {
                            return Err(StoreError::new(format!(
                                "{} sent an answer larger than {} MiB; refused",
                                self.url(path),
                                MESSAGE_LIMIT >> 20
                            )));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Err(error) => {
                        return Err(StoreError::new(format!(
                            "Unable to read from {}: {}",
                            self.url(path),
                            crate::cause::plain(&error)
                        )));
                    }
                }
            }
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
            serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::new(format!(
                    "{} answered with invalid JSON: {e}",
                    self.url(path)
                ))
            })
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

    /// Sends one POST to the member in use, or when it cannot be reached, to the others in
    /// turn (failover within a cluster); returns the response once its head arrived.
    async fn post(
        &self,
        path: &str,
        body: &str,
        headers: &[(String, String)],
    ) -> Result<reqwest::Response, Unanswered> {
        let client = self.client().map_err(Unanswered::Unreachable)?;
        let first = self.current.load(Ordering::Relaxed);
        let mut last_error = String::from("no endpoint");
        for offset in 0..self.endpoints.len() {
            let index = (first + offset) % self.endpoints.len();
            let mut request = client
                .post(self.url_at(index, path))
                .header("content-type", "application/json")
                .body(body.to_string());
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            match request.send().await {
                Ok(response) => {
                    if offset > 0 {
                        let (host, port) = self.endpoint(index);
                        tracing::warn!("Switching to etcd member {host}:{port}");
                        self.current.store(index, Ordering::Relaxed);
                    }
                    return Ok(response);
                }
                // Not connected: nothing was sent, the next member may answer.
                Err(error) if error.is_connect() => {
                    last_error = crate::cause::plain(&error);
                }
                Err(error) => {
                    return Err(Unanswered::Broken(crate::cause::plain(&error)));
                }
            }
        }
        Err(Unanswered::Unreachable(StoreError::new(format!(
            "Unable to connect to {}: {last_error}",
            self.url("")
        ))))
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
        self.revision_through("/").await
    }

    /// The store's revision, read with a request for `key` alone (keys only): a proxy that
    /// authorises by key (aviso-auth) answers it for a key the user may read, as pyaviso asks.
    pub async fn revision_through(&self, key: &str) -> Result<u64, StoreError> {
        let answer = self
            .call(
                "kv/range",
                &json!({"key": BASE64.encode(key), "keys_only": true}),
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
        unchanged: &[(String, u64)],
    ) -> Result<Option<u64>, StoreError> {
        let operations = self.puts(pairs, ttl_seconds).await?;
        // etcd compares an absent key as revision 0.
        let compare: Vec<Value> = unchanged
            .iter()
            .map(|(key, mod_revision)| {
                json!({
                    "key": BASE64.encode(key),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": mod_revision,
                })
            })
            .collect();
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
    response: reqwest::Response,
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
            match self.response.chunk().await {
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(StoreError::new(format!(
                        "the etcd watch stream broke: {}",
                        crate::cause::plain(&e)
                    )));
                }
                Ok(Some(data)) => {
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

impl EtcdRest {
    /// Watches every write under `prefix` from `start_revision` on (history included, so a
    /// listener that was away gets every write, not only the last of each key).
    pub async fn watch(&self, prefix: &str, start_revision: u64) -> Result<Watch, StoreError> {
        let body = json!({"create_request": {
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(prefix_end(prefix)),
            "start_revision": start_revision,
            // etcd then says now and then that the watch is alive and where the store is.
            "progress_notify": true,
        }});
        let headers = self.auth_headers().await?;
        let response = match self.post("watch", &body.to_string(), &headers).await {
            Ok(response) => response,
            Err(Unanswered::Unreachable(error)) => return Err(error),
            Err(Unanswered::Broken(cause)) => {
                return Err(StoreError::new(format!(
                    "Unable to connect to {}: {cause}",
                    self.url("watch")
                )));
            }
        };
        if !response.status().is_success() {
            return Err(StoreError::answered(
                response.status().as_u16(),
                b"",
                format!("{} answered {}", self.url("watch"), response.status()),
            ));
        }
        Ok(Watch {
            response,
            buffer: Vec::new(),
            scanned: 0,
        })
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
