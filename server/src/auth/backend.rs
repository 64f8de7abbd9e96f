//! The backend: etcd's JSON gateway. Checked requests are forwarded without the client's
//! headers; answers come back as etcd gave them, watches as a stream that ends when either side
//! ends or the server stops.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Value, json};

use crate::http::ApiError;

/// Connection attempts for a request that could not be sent (nothing reached etcd).
const CONNECT_ATTEMPTS: u32 = 3;

pub struct Backend {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

/// Why etcd gave no answer to hand on.
pub enum BackendError {
    /// An answer for the client (400 history not available, 500).
    Answer(Response),
    /// etcd unreachable, too slow or failing: 503.
    Unavailable(String),
}

impl BackendError {
    /// Whether etcd (not the request) is at fault.
    pub fn is_upstream(&self) -> bool {
        match self {
            BackendError::Unavailable(_) => true,
            BackendError::Answer(response) => response.status().is_server_error(),
        }
    }

    pub fn into_response(self) -> Response {
        match self {
            BackendError::Answer(response) => response,
            BackendError::Unavailable(cause) => {
                tracing::warn!("{cause}");
                ApiError::unavailable().into_response()
            }
        }
    }
}

fn support() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error connecting to backend, please contact the support team",
    )
    .into_response()
}

impl Backend {
    /// `base`: etcd's URL (`http://127.0.0.1:2379`).
    pub fn new(client: reqwest::Client, base: &str, timeout: Duration) -> Backend {
        Backend {
            client,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    /// POSTs `body` to `route` (connection failures tried again twice) and returns etcd's
    /// response once its head came, when it is a success.
    async fn post(&self, route: &str, body: &Value) -> Result<reqwest::Response, BackendError> {
        let url = format!("{}{route}", self.base);
        let body = body.to_string();
        let mut attempt = 1;
        let response = loop {
            let request = self
                .client
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send();
            match tokio::time::timeout(self.timeout, request).await {
                Ok(Ok(response)) => break response,
                Ok(Err(e)) if e.is_connect() && attempt < CONNECT_ATTEMPTS => {
                    tracing::debug!("etcd at {url}: {}; trying again", aviso::cause::plain(&e));
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Ok(Err(e)) => {
                    return Err(BackendError::Unavailable(format!(
                        "etcd at {url} did not answer: {}",
                        aviso::cause::plain(&e)
                    )));
                }
                Err(_) => {
                    return Err(BackendError::Unavailable(format!(
                        "etcd at {url} did not answer within {:?}",
                        self.timeout
                    )));
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = tokio::time::timeout(self.timeout, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
            return Err(BackendError::Unavailable(format!(
                "etcd at {url} answered {status}: {text}"
            )));
        }
        let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reason = error
            .get("error")
            .or_else(|| error.get("message"))
            .and_then(Value::as_str)
            .unwrap_or(&text)
            .to_string();
        if status == StatusCode::BAD_REQUEST
            && reason.contains("required revision has been compacted")
        {
            // pyaviso's client matches the message; ours reads etcd's gRPC code.
            let mut answer = json!({"message": "History not available", "error": reason});
            if let Some(code) = error.get("code") {
                answer["code"] = code.clone();
            }
            return Err(BackendError::Answer(
                (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response(),
            ));
        }
        tracing::error!("Error in forwarding the request to etcd at {url}: {status}, {text}");
        Err(BackendError::Answer(support()))
    }

    /// A range request: etcd's answer, streamed through.
    pub async fn range(&self, route: &str, body: &Value) -> Result<Response, BackendError> {
        let response = self.post(route, body).await?;
        let timeout = self.timeout;
        // The answer is handed on as it comes; an error ends it (the client sees a cut answer).
        let stream = futures_util::stream::unfold(
            (Some(response), tokio::time::Instant::now() + timeout),
            |(response, deadline)| async move {
                let mut response = response?;
                let item = match tokio::time::timeout_at(deadline, response.chunk()).await {
                    Ok(Ok(Some(chunk))) => Ok(chunk),
                    Ok(Ok(None)) => return None,
                    Ok(Err(e)) => Err(std::io::Error::other(aviso::cause::plain(&e))),
                    Err(_) => Err(std::io::Error::other("etcd's answer took too long")),
                };
                let next = item.is_ok().then_some(response);
                Some((item, (next, deadline)))
            },
        );
        Ok(json_response(Body::from_stream(stream)))
    }

    /// The store's revision alone, for a revision probe outside the user's keys: etcd's
    /// answer's `header`, nothing about any key.
    pub async fn revision(&self, route: &str, key: &str) -> Result<Response, BackendError> {
        let response = self
            .post(route, &json!({"key": key, "count_only": true}))
            .await?;
        let answer: Value = match tokio::time::timeout(self.timeout, response.bytes()).await {
            Ok(Ok(bytes)) => serde_json::from_slice(&bytes).map_err(|e| {
                BackendError::Unavailable(format!("etcd's answer is not JSON: {e}"))
            })?,
            Ok(Err(e)) => {
                return Err(BackendError::Unavailable(format!(
                    "etcd's answer cannot be read: {}",
                    aviso::cause::plain(&e)
                )));
            }
            Err(_) => {
                return Err(BackendError::Unavailable(
                    "etcd's answer took too long".into(),
                ));
            }
        };
        let header = answer.get("header").cloned().unwrap_or(Value::Null);
        Ok(json_response(Body::from(
            json!({"header": header}).to_string(),
        )))
    }

    /// A watch: etcd's stream, chunk by chunk, until etcd or the client ends it, or `stopping`
    /// turns true. `open` counts the watches in progress.
    pub async fn watch(
        &self,
        route: &str,
        body: &Value,
        stopping: tokio::sync::watch::Receiver<bool>,
        open: Gauge,
    ) -> Result<Response, BackendError> {
        let response = self.post(route, body).await?;
        let guard = OpenWatch::new(open);
        let stream = futures_util::stream::unfold(
            (response, stopping, guard),
            |(mut response, mut stopping, guard)| async move {
                if *stopping.borrow() {
                    return None;
                }
                let chunk = tokio::select! {
                    chunk = response.chunk() => chunk,
                    _ = stopping.wait_for(|stop| *stop) => return None,
                };
                match chunk {
                    Ok(Some(chunk)) => Some((
                        Ok::<Bytes, std::io::Error>(chunk),
                        (response, stopping, guard),
                    )),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!("etcd's watch stream broke: {}", aviso::cause::plain(&e));
                        None
                    }
                }
            },
        );
        Ok(json_response(Body::from_stream(stream)))
    }
}

fn json_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// One watch in progress, for the gauge.
struct OpenWatch(Gauge);

impl OpenWatch {
    fn new(gauge: Gauge) -> OpenWatch {
        gauge.inc();
        OpenWatch(gauge)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}
