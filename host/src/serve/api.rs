//! The management API of `aviso serve` (axum): `GET /health`, `GET /ready`, `GET /metrics`,
//! `GET /v1/tenants`, `GET /v1/tenants/{tenant}`, `PUT`/`DELETE
//! /v1/tenants/{tenant}/listeners|plugins/{name}`. Bearer tokens: the administrator's reaches everything, a
//! tenant's reaches that tenant only. Every refusal is a JSON error that says why.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::config::TokenHash;
use super::service::{ChangeRefused, FileChange, FileKind, TenantState, TenantStatus};

/// The largest listener file or plugin the API takes.
const MAX_FILE_BYTES: usize = 64 << 20;

/// Each tenant's token hash, by name; shared with the running service.
pub type TenantTokens = Arc<Mutex<Vec<(String, Option<TokenHash>)>>>;

/// Each tenant's quotas and what it used, by name; shared with the running service.
pub type TenantQuotas =
    Arc<Mutex<std::collections::HashMap<String, Arc<crate::quota::TenantQuota>>>>;

/// What each running tenant's listeners are doing, by name; shared with the running service.
pub type TenantActivity = Arc<Mutex<std::collections::HashMap<String, Activity>>>;

/// Where a tenant's listeners are, and its last trigger failures.
#[derive(Default)]
pub struct Activity {
    pub positions: Vec<crate::delivery::ListenerPosition>,
    pub errors: Arc<crate::delivery::RecentErrors>,
}

/// What the API answers from: shared with the running service.
#[derive(Clone)]
pub struct ApiState {
    pub admin_token: Option<TokenHash>,
    /// Each tenant's token hash, by name.
    pub tokens: TenantTokens,
    pub statuses: Arc<Mutex<Vec<TenantStatus>>>,
    /// Whether the store answered when last asked, and the tenants were loaded.
    pub ready: Arc<Mutex<Result<(), String>>>,
    pub quotas: TenantQuotas,
    pub activity: TenantActivity,
    /// Where listener files and plugins put or deleted through the API go.
    pub changes: tokio::sync::mpsc::Sender<FileChange>,
    /// Where each tenant's dead letters are, to count them.
    pub state_dir: std::path::PathBuf,
}

pub fn router(state: ApiState) -> axum::Router {
    axum::Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/tenants", get(tenants))
        .route("/v1/tenants/{tenant}", get(tenant))
        .route(
            "/v1/tenants/{tenant}/{kind}/{name}",
            put(put_file)
                .delete(delete_file)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_FILE_BYTES)),
        )
        .fallback(not_found)
        .with_state(state)
}

/// A refusal: its status and a sentence.
fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn not_found() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "no such route: the API has /health, /ready, /metrics, /v1/tenants, /v1/tenants/{tenant} and /v1/tenants/{tenant}/listeners|plugins/{name}",
    )
}

/// Prometheus's scrape: no token (as is usual; bind `api.listen` to an address only the
/// monitoring reaches).
async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::encoded(),
    )
        .into_response()
}

async fn health() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

async fn ready(State(state): State<ApiState>) -> Response {
    let ready = state
        .ready
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match ready {
        Ok(()) => Json(json!({"ready": true})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": reason})),
        )
            .into_response(),
    }
}

/// Who a request's token is: the administrator, a tenant, or nobody (with why).
enum Caller {
    Admin,
    Tenant(String),
}

fn caller(state: &ApiState, headers: &HeaderMap) -> Result<Caller, (StatusCode, &'static str)> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or((
            StatusCode::UNAUTHORIZED,
            "this route needs a token: Authorization: Bearer <token>",
        ))?;
    if state.admin_token.is_some_and(|admin| admin.matches(token)) {
        return Ok(Caller::Admin);
    }
    let tokens = state.tokens.lock().unwrap_or_else(|p| p.into_inner());
    tokens
        .iter()
        .find(|(_, hash)| hash.is_some_and(|hash| hash.matches(token)))
        .map(|(name, _)| Caller::Tenant(name.clone()))
        .ok_or((StatusCode::UNAUTHORIZED, "the token is not valid"))
}

fn status_json(status: &TenantStatus) -> Value {
    json!({
        "name": status.name,
        "state": status.state.name(),
        "listeners": status.listeners,
        "base_keys": status.base_keys,
        "reason": status.reason,
    })
}

async fn tenants(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    match caller(&state, &headers) {
        Err((status, why)) => refusal(status, why),
        Ok(Caller::Tenant(name)) => refusal(
            StatusCode::FORBIDDEN,
            format!(
                "the list of tenants is for the administrator; tenant {name} may read /v1/tenants/{name}"
            ),
        ),
        Ok(Caller::Admin) => {
            let statuses = state.statuses.lock().unwrap_or_else(|p| p.into_inner());
            Json(json!({"tenants": statuses.iter().map(status_json).collect::<Vec<_>>()}))
                .into_response()
        }
    }
}

async fn tenant(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    match caller(&state, &headers) {
        Err((status, why)) => return refusal(status, why),
        Ok(Caller::Tenant(own)) if own != name => {
            return refusal(
                StatusCode::FORBIDDEN,
                format!("this token is tenant {own}'s: it reaches /v1/tenants/{own} only"),
            );
        }
        Ok(_) => {}
    }
    let status = state
        .statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|status| status.name == name)
        .cloned();
    let Some(status) = status else {
        return refusal(StatusCode::NOT_FOUND, format!("there is no tenant {name}"));
    };
    let mut answer = status_json(&status);
    if status.state != TenantState::Refused {
        let letters = crate::delivery::dead_letter::DeadLetters::in_dir(
            &state.state_dir.join("tenants").join(&name),
        );
        answer["dead_letters"] = match letters.list() {
            Ok(list) => json!(list.len()),
            Err(error) => json!({"error": error.to_string()}),
        };
        let quota = state
            .quotas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            .cloned();
        if let Some(quota) = quota {
            answer["quota_use"] = json!(quota.usage());
        }
        let activity = state.activity.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(activity) = activity.get(&name) {
            answer["positions"] = activity
                .positions
                .iter()
                .map(|position| {
                    let (revision, behind) = position.now();
                    json!({"listener": position.listener, "revision": revision, "behind": behind})
                })
                .collect();
            answer["last_errors"] = json!(activity.errors.list());
        }
    }
    Json(answer).into_response()
}

/// `PUT /v1/tenants/{tenant}/{listeners|plugins}/{name}`: the body is the file.
async fn put_file(
    State(state): State<ApiState>,
    Path((tenant, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    change_file(state, tenant, kind, name, headers, Some(body.to_vec())).await
}

/// `DELETE /v1/tenants/{tenant}/{listeners|plugins}/{name}`.
async fn delete_file(
    State(state): State<ApiState>,
    Path((tenant, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    change_file(state, tenant, kind, name, headers, None).await
}

/// A tenant's file put or deleted, by the administrator or that tenant: applied by the
/// service, answered with the tenant's status, or refused with why (nothing written).
async fn change_file(
    state: ApiState,
    tenant: String,
    kind: String,
    name: String,
    headers: HeaderMap,
    content: Option<Vec<u8>>,
) -> Response {
    match caller(&state, &headers) {
        Err((status, why)) => return refusal(status, why),
        Ok(Caller::Tenant(own)) if own != tenant => {
            return refusal(
                StatusCode::FORBIDDEN,
                format!("this token is tenant {own}'s: it reaches /v1/tenants/{own} only"),
            );
        }
        Ok(_) => {}
    }
    let kind = match kind.as_str() {
        "listeners" => FileKind::Listeners,
        "plugins" => FileKind::Plugins,
        other => {
            return refusal(
                StatusCode::NOT_FOUND,
                format!("a tenant has listeners and plugins, not {other}"),
            );
        }
    };
    let (reply, replied) = tokio::sync::oneshot::channel();
    let change = FileChange {
        tenant,
        kind,
        name,
        content,
        reply,
    };
    if state.changes.send(change).await.is_err() {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping");
    }
    match replied.await {
        Ok(Ok(status)) => Json(status_json(&status)).into_response(),
        Ok(Err(ChangeRefused { status, message })) => refusal(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message,
        ),
        Err(_) => refusal(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping"),
    }
}
