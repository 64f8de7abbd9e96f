//! What every server shares: request metrics by route and status, `GET /health` and
//! `GET /metrics`, JSON error bodies, logging, and serving until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// A server's Prometheus registry, with the request metrics every server has; components add
/// their own metrics to it before serving.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 100 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 16))
}

impl Metrics {
    /// Metrics named `<prefix>_...` (`aviso_rest`, `aviso_auth`, `aviso_admin`).
    pub fn new(prefix: &str) -> Metrics {
        let mut registry = Registry::with_prefix(prefix);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its first byte for a stream), by route",
            latency.clone(),
        );
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            latency,
        }
    }

    /// Registers a component's own metric.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, metric);
    }

    /// The text exposition format.
    pub fn encoded(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics lock");
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// Counts and times every request by its route pattern (not its path, so a scan of random paths
/// makes one series, `unmatched`).
async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics` and `GET /health` added to a component's routes, and every request counted.
pub fn with_common_routes(router: Router, metrics: Metrics) -> Router {
    let exposition = metrics.clone();
    router
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = exposition.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encoded(),
                    )
                }
            }),
        )
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .layer(axum::middleware::from_fn_with_state(metrics, record))
}

/// An error answered as pyaviso's servers answer them: `{"message": ...}` (and `details` for
/// the generic server error), with `Retry-After: 30` on 503.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<String>,
    /// `WWW-Authenticate` for a 401.
    pub authenticate: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: None,
            authenticate: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The generic 500 (`Server error occurred`, with what went wrong as details).
    pub fn server_error(details: impl Into<String>) -> ApiError {
        ApiError {
            details: Some(details.into()),
            ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server error occurred")
        }
    }

    /// 503: the client should come back (pyaviso's clients do, on `Retry-After`).
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service currently unavailable, please try again later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"message": self.message});
        if let Some(details) = self.details {
            body["details"] = details.into();
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        if let Some(challenge) = self
            .authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Unknown routes and methods answer JSON too (`Server error occurred`, as pyaviso's generic
/// handler), with 404 and 405.
pub async fn not_found() -> ApiError {
    ApiError {
        details: Some("The requested URL was not found on the server".into()),
        ..ApiError::new(StatusCode::NOT_FOUND, "Server error occurred")
    }
}

/// A known route asked with another method: 405, in JSON too.
pub async fn method_not_allowed() -> ApiError {
    ApiError {
        details: Some("The method is not allowed for the requested URL".into()),
        ..ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Server error occurred")
    }
}

/// Logs to stderr at `info`, or `debug` with `debug: true`; `RUST_LOG`-style filters are not
/// needed by pyaviso's users and are not read.
pub fn init_logging(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Binds `host:port`, says where it listens (`Listening on http://...`, which tests and
/// operators wait for), and serves until a signal; connections in flight are finished.
pub async fn serve(
    component: &str,
    host: &str,
    port: u16,
    router: Router,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {host}:{port}: {e}"))
        })?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!("{component} listening on http://{address}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("{component} stopped");
    Ok(())
}
