//! aviso-rest: data providers submit notifications over HTTP (`POST /api/v1/notification`);
//! each is validated with the event schema and written to the store with the `aviso` library
//! (group commit, compare-and-swap of the status), and answered 200 only once it is stored.
//!
//! The answers follow pyaviso's Flask-era contract, the one its test suite describes:
//! `{"message": "Notification successfully submitted"}`, and 400 `{"message": ...}` for every
//! fault of the submission, schema validation included (docs/decisions.md).

pub mod settings;
pub mod submission;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aviso::{Aviso, AvisoError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::http::{ApiError, Metrics};
use crate::telemetry::{Telemetry, TimeCollector};
pub use settings::RestSettings;
use submission::SubmissionError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    event: String,
    outcome: String,
}

/// What the routes share.
struct Rest {
    settings: RestSettings,
    /// The client, once its schema is loaded (a remote schema may take a while, or retries).
    client: OnceCell<Aviso>,
    notifications: Family<NotificationLabels, Counter>,
    response_time: TimeCollector,
}

impl Rest {
    fn count(&self, event: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

type Shared = Arc<Rest>;

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(settings: RestSettings) -> Result<(), String> {
    let client_settings = settings.client_settings().map_err(|e| e.to_string())?;
    let metrics = Metrics::new("aviso_rest");
    let notifications = Family::<NotificationLabels, Counter>::default();
    metrics.register(
        "notifications",
        "Notifications received, by event and outcome (submitted, skipped, invalid, failed)",
        notifications.clone(),
    );
    let mut telemetry = Telemetry::new(settings.monitoring.clone());
    let response_time = telemetry.time_collector("rest_resp_time");
    telemetry.spawn();
    if settings.server_type != "uvicorn" {
        tracing::info!(
            "server_type {:?} is ignored: aviso-rest has one HTTP server",
            settings.server_type
        );
    }
    let (host, port, limit) = (
        settings.host.clone(),
        settings.port,
        settings.max_body_bytes,
    );
    let rest = Arc::new(Rest {
        settings,
        client: OnceCell::new(),
        notifications,
        response_time,
    });
    tokio::spawn(load_client(rest.clone(), client_settings));
    let router = Router::new()
        .route("/", get(homepage))
        .route("/api/v1/notification", post(notification))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(rest);
    let router = crate::http::with_common_routes(router, metrics);
    crate::http::serve("aviso-rest", &host, port, router)
        .await
        .map_err(|e| e.to_string())
}

/// Loads the schema (from the configuration service with `remote_schema`), trying again every
/// five seconds while it cannot be had; until then notifications are answered 503.
async fn load_client(rest: Shared, settings: aviso::config::Settings) {
    loop {
        match Aviso::load(settings.clone()).await {
            Ok(client) => {
                tracing::info!(
                    "Schema loaded; writing notifications to {}",
                    client
                        .open_store()
                        .map(|s| s.describe())
                        .unwrap_or_else(|e| e.to_string())
                );
                let _ = rest.client.set(client);
                return;
            }
            Err(e) => {
                tracing::error!("The event schema cannot be loaded ({e}); trying again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

async fn homepage() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// 200 once the schema is loaded and the store answers.
async fn ready(State(rest): State<Shared>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let Some(client) = rest.client.get() else {
        return Err(ApiError {
            details: Some("the event schema is not loaded yet".into()),
            ..ApiError::unavailable()
        });
    };
    client.store_revision().await.map_err(|e| ApiError {
        details: Some(e.to_string()),
        ..ApiError::unavailable()
    })?;
    Ok(axum::Json(json!({"status": "ready"})))
}

async fn notification(
    State(rest): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let Some(client) = rest.client.get() else {
        return Err(ApiError {
            details: Some("the event schema is not loaded yet".into()),
            ..ApiError::unavailable()
        });
    };
    let submission = submission::read(&headers, &body, &client.schema().payload_field)
        .map_err(|e| invalid(&rest, "unknown", &e))?;
    let event = submission
        .field("event")
        .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
        .unwrap_or_default();
    // Skips are checked on the raw values, before validation (as pyaviso).
    for (field, values) in &rest.settings.skips {
        if let Some(value) = submission.field(field) {
            if values.iter().any(|skip| same_value(skip, value)) {
                rest.count(&event, "skipped");
                return Ok(axum::Json(json!({"message": "Notification skipped"})).into_response());
            }
        }
    }
    let parameters = submission
        .parameters()
        .map_err(|e| invalid(&rest, &event, &e))?;
    let started = Instant::now();
    let result = client.notify(&parameters).await;
    rest.response_time.record("", started.elapsed());
    match result {
        Ok(keys) => {
            rest.count(&event, "submitted");
            tracing::debug!("notification {} written ({})", keys.key, submission.mode);
            Ok(
                axum::Json(json!({"message": "Notification successfully submitted"}))
                    .into_response(),
            )
        }
        Err(error) => Err(failure(&rest, &event, error)),
    }
}

/// A YAML `skips` value (`cams`, or `1`) against a submitted value (`"cams"`, `1` or `"1"`).
fn same_value(skip: &serde_json::Value, value: &serde_json::Value) -> bool {
    let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    skip == value || text(skip) == text(value)
}

fn invalid(rest: &Rest, event: &str, error: &SubmissionError) -> ApiError {
    rest.count(event, "invalid");
    ApiError::bad_request(error.to_string())
}

/// A notification that could not be written: the submitter's fault (400), the store's
/// (503, to be sent again), or ours (500).
fn failure(rest: &Rest, event: &str, error: AvisoError) -> ApiError {
    match &error {
        AvisoError::Parameters(_) | AvisoError::Schema(_) => {
            rest.count(event, "invalid");
            ApiError::bad_request(error.to_string())
        }
        AvisoError::Store(_) | AvisoError::Open(_) => {
            rest.count(event, "failed");
            tracing::error!("A notification was not written: {error}");
            ApiError {
                details: Some(error.to_string()),
                ..ApiError::unavailable()
            }
        }
        _ => {
            rest.count(event, "failed");
            tracing::error!("A notification was not written: {error}");
            ApiError::server_error(error.to_string())
        }
    }
}
