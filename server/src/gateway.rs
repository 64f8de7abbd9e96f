//! etcd's JSON gateway (`/v3/...`), as aviso-admin uses it and aviso-auth forwards to it:
//! keys and values are base64 in requests and answers.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// A failed gateway call, with whether trying later may help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// No answer: etcd down, unreachable or too slow.
    #[error("etcd at {url} did not answer: {cause}")]
    Unreachable { url: String, cause: String },
    /// etcd answered with an error status.
    #[error("etcd at {url} answered {status}: {body}")]
    Answered {
        url: String,
        status: u16,
        body: String,
    },
    /// The answer is not what etcd sends.
    #[error("etcd at {url} sent an answer that cannot be read: {cause}")]
    Invalid { url: String, cause: String },
}

impl GatewayError {
    /// Whether etcd said the revision asked for was compacted away.
    pub fn is_compacted(&self) -> bool {
        matches!(self, GatewayError::Answered { body, .. } if body.contains("required revision has been compacted"))
    }
}

/// A client of one etcd member's gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    base: String,
    client: reqwest::Client,
}

/// The end of the range of every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: the range to the end of the keyspace.
    vec![0]
}

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    BASE64.encode(bytes)
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text).ok()
}

/// An integer field of a gateway answer (int64s come as strings).
pub fn number(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// An HTTP client for the servers' outgoing calls: TLS verified with the web's and the system's
/// roots, never a proxy from the environment.
pub fn http_client(timeout: Option<Duration>) -> Result<reqwest::Client, String> {
    let tls = aviso::tls::client_config(true)?;
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_keepalive(Duration::from_secs(30))
        .tls_backend_preconfigured((*tls).clone());
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))
}

impl Gateway {
    /// `url` as `http://host:2379` (a trailing `/` and `/v3` are accepted).
    pub fn new(url: &str, timeout: Duration) -> Result<Gateway, String> {
        let base = url
            .trim_end_matches('/')
            .trim_end_matches("/v3")
            .to_string();
        Ok(Gateway {
            base,
            client: http_client(Some(timeout))?,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v3/{path}", self.base)
    }

    /// The member's own URL (for `/metrics`, `/health`).
    pub fn member_url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a JSON body and returns the JSON answer.
    pub async fn call(&self, path: &str, body: &Value) -> Result<Value, GatewayError> {
        let url = self.url(path);
        let response = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| GatewayError::Unreachable {
                url: url.clone(),
                cause: aviso::cause::plain(&e),
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GatewayError::Unreachable {
                url: url.clone(),
                cause: aviso::cause::plain(&e),
            })?;
        if !(200..300).contains(&status) {
            return Err(GatewayError::Answered {
                url,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::Invalid {
            url,
            cause: e.to_string(),
        })
    }

    /// The store's current revision.
    pub async fn revision(&self) -> Result<u64, GatewayError> {
        let answer = self
            .call(
                "kv/range",
                &json!({"key": encode("/"), "keys_only": true, "limit": 1}),
            )
            .await?;
        Ok(number(answer.pointer("/header/revision")))
    }

    /// The value of one key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, GatewayError> {
        let answer = self.call("kv/range", &json!({"key": encode(key)})).await?;
        Ok(answer
            .get("kvs")
            .and_then(Value::as_array)
            .and_then(|kvs| kvs.first())
            .and_then(|kv| kv.get("value"))
            .and_then(Value::as_str)
            .and_then(decode)
            .or_else(|| {
                // A key with an empty value has no `value` field.
                answer
                    .get("kvs")
                    .and_then(Value::as_array)
                    .filter(|kvs| !kvs.is_empty())
                    .map(|_| Vec::new())
            }))
    }

    /// Every key under `prefix` (keys only), in key order, read in pages so no answer is
    /// cut short.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, GatewayError> {
        const PAGE: u64 = 10_000;
        let end = prefix_end(prefix.as_bytes());
        let mut start = prefix.as_bytes().to_vec();
        let mut keys = Vec::new();
        loop {
            let answer = self
                .call(
                    "kv/range",
                    &json!({"key": encode(&start), "range_end": encode(&end), "keys_only": true, "limit": PAGE}),
                )
                .await?;
            let page: Vec<Vec<u8>> = answer
                .get("kvs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|kv| kv.get("key").and_then(Value::as_str).and_then(decode))
                .collect();
            let more = answer.get("more").and_then(Value::as_bool).unwrap_or(false);
            let Some(last) = page.last().cloned() else {
                break;
            };
            keys.extend(page.iter().map(|k| String::from_utf8_lossy(k).into_owned()));
            if !more {
                break;
            }
            start = last;
            start.push(0);
        }
        Ok(keys)
    }

    /// How many keys start with `prefix`.
    pub async fn count(&self, prefix: &str) -> Result<u64, GatewayError> {
        let answer = self
            .call(
                "kv/range",
                &json!({"key": encode(prefix), "range_end": encode(prefix_end(prefix.as_bytes())), "count_only": true}),
            )
            .await?;
        Ok(number(answer.get("count")))
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), GatewayError> {
        self.call(
            "kv/put",
            &json!({"key": encode(key), "value": encode(value)}),
        )
        .await
        .map(drop)
    }

    /// Deletes every key starting with `prefix`; returns how many were deleted.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, GatewayError> {
        let answer = self
            .call(
                "kv/deleterange",
                &json!({"key": encode(prefix), "range_end": encode(prefix_end(prefix.as_bytes()))}),
            )
            .await?;
        Ok(number(answer.get("deleted")))
    }

    /// Compacts the history up to `revision`, physically (the space is freed).
    pub async fn compact(&self, revision: u64) -> Result<(), GatewayError> {
        self.call(
            "kv/compaction",
            &json!({"revision": revision, "physical": true}),
        )
        .await
        .map(drop)
    }

    /// A number from the member's Prometheus metrics (`etcd_mvcc_db_total_size_in_bytes`).
    pub async fn member_metric(&self, name: &str) -> Result<Option<f64>, GatewayError> {
        let url = self.member_url("/metrics");
        let text = self
            .client
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| GatewayError::Unreachable {
                url: url.clone(),
                cause: aviso::cause::plain(&e),
            })?
            .text()
            .await
            .map_err(|e| GatewayError::Unreachable {
                url,
                cause: aviso::cause::plain(&e),
            })?;
        Ok(text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = rest.strip_prefix(' ')?;
            value.trim().parse().ok()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_byte() {
        assert_eq!(prefix_end(b"/ec/diss/"), b"/ec/diss0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), [0]);
    }
}
