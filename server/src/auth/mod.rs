//! aviso-auth: an authenticating, authorising reverse proxy in front of etcd's JSON gateway,
//! with pyaviso's configuration, messages and status codes.
//!
//! Per request: the token is checked by the authentication server (memoised), the keys the
//! request selects are checked against the open prefixes and the user's destinations (from
//! ECPDS, memoised), then the request goes to etcd. `POST <backend.route>` (`/v3/kv/range`)
//! answers as etcd does; `POST <backend.watch_route>` (`/v3/watch`, which pyaviso's server did
//! not have) streams etcd's watch. `/health` and `/metrics` as every server here.

pub mod authentication;
pub mod authorisation;
pub mod backend;
pub mod cache;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{ApiError, Metrics};
use crate::settings::{SettingsError, Sources, expand_home, typed};
use crate::telemetry::{MonitoringSettings, Telemetry, TimeCollector, UniqueCountCollector};
use authentication::{Authenticator, AuthenticatorSettings, JwtCheck, Source};
use authorisation::{Checked, Destinations, DestinationsError, Rules};
use backend::{Backend, BackendError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub debug: bool,
    pub authentication_server: AuthenticationSettings,
    pub authorisation_server: AuthorisationSettings,
    pub backend: BackendSettings,
    pub frontend: FrontendSettings,
    pub cache: CacheSettings,
    pub monitoring: MonitoringSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationSettings {
    /// auth-o-tron; `GET <url>/authenticate` checks a token.
    pub url: String,
    pub req_timeout: u64,
    /// Seconds a user's token is trusted without asking again.
    pub cache_timeout: u64,
    pub monitor: bool,
    /// Tries after the first when the server is unreachable, slow or failing (429, 408, 5xx).
    pub retries: u32,
    /// Seconds: each retry waits between this and five times this, at random.
    pub retry_delay: f64,
    /// A file with the key that signs the server's JWTs (a PEM public key, or the HMAC secret);
    /// without it the JWT's claims are trusted unverified, as pyaviso did.
    pub jwt_key: Option<String>,
    pub jwt_algorithm: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorisationSettings {
    /// ECPDS; `GET <url>?id=<user>` lists the user's destinations.
    pub url: String,
    pub req_timeout: u64,
    pub cache_timeout: u64,
    /// Prefixes every authenticated user may read.
    pub open_keys: Vec<String>,
    /// Prefixes read per destination: `<prefix>/<DEST>/...` for the user's destinations.
    pub protected_keys: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub monitor: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// etcd's client URL.
    pub url: String,
    pub req_timeout: u64,
    /// The range route, served and forwarded.
    pub route: String,
    /// The watch route, served and forwarded; `null` refuses watches (clients then poll).
    pub watch_route: Option<String>,
    pub monitor: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendSettings {
    pub host: String,
    pub port: u16,
    /// pyaviso's `flask` or `gunicorn`: accepted, not used (one tokio server).
    pub server_type: String,
    /// gunicorn's worker processes: accepted, not used (threads serve every request).
    pub workers: Value,
}

/// pyaviso's Flask-Caching section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// `simple` (memoise) or `null` (never).
    #[serde(rename = "CACHE_TYPE")]
    pub cache_type: String,
    /// Most entries each memo keeps.
    #[serde(rename = "CACHE_THRESHOLD")]
    pub threshold: usize,
    /// Flask-Caching's default timeout: accepted, not used (each memo has its `cache_timeout`).
    #[serde(rename = "CACHE_DEFAULT_TIMEOUT", default)]
    pub default_timeout: Option<Value>,
}

impl CacheSettings {
    /// Entries each memo may keep (0 when caching is off).
    pub fn capacity(&self) -> usize {
        match self.cache_type.to_lowercase().as_str() {
            "null" | "nullcache" => 0,
            _ => self.threshold,
        }
    }
}

/// pyaviso's defaults, and ours for what it did not have.
fn defaults() -> Value {
    json!({
        "debug": false,
        "authentication_server": {
            "url": "http://0.0.0.0:8080", "req_timeout": 60, "cache_timeout": 86400,
            "monitor": false, "retries": 25, "retry_delay": 1.0, "jwt_key": null,
            "jwt_algorithm": "HS256",
        },
        "authorisation_server": {
            "url": "http://127.0.0.1:8080", "req_timeout": 60, "cache_timeout": 86400,
            "open_keys": ["/ec/mars", "/ec/config/aviso"], "protected_keys": ["/ec/diss"],
            "username": null, "password": null, "monitor": false,
        },
        "backend": {
            "url": "http://127.0.0.1:2379", "req_timeout": 60, "route": "/v3/kv/range",
            "watch_route": "/v3/watch", "monitor": false,
        },
        "frontend": {"host": "127.0.0.1", "port": 8080, "server_type": "flask", "workers": 1},
        "cache": {"CACHE_TYPE": "simple", "CACHE_THRESHOLD": 10000},
        "monitoring": {},
    })
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("DEBUG", "debug"),
    ("FRONTEND_HOST", "frontend.host"),
    ("FRONTEND_PORT", "frontend.port"),
    ("FRONTEND_SERVER_TYPE", "frontend.server_type"),
    ("FRONTEND_WORKERS", "frontend.workers"),
    ("BACKEND_URL", "backend.url"),
    ("BACKEND_MONITOR", "backend.monitor"),
    ("AUTHENTICATION_URL", "authentication_server.url"),
    ("AUTHENTICATION_MONITOR", "authentication_server.monitor"),
    ("AUTHORISATION_URL", "authorisation_server.url"),
    ("AUTHORISATION_MONITOR", "authorisation_server.monitor"),
];

impl AuthSettings {
    pub fn load(sources: &Sources) -> Result<AuthSettings, SettingsError> {
        let (document, _) = sources.load(defaults(), ENVIRONMENT)?;
        let mut settings: AuthSettings = typed(document, "aviso-auth")?;
        settings.monitoring = settings.monitoring.for_component(sources);
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        let error = |text: String| Err(SettingsError(text));
        for (name, url) in [
            ("authentication_server.url", &self.authentication_server.url),
            ("authorisation_server.url", &self.authorisation_server.url),
            ("backend.url", &self.backend.url),
        ] {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return error(format!(
                        "{name} must be an http or https URL (it is {url:?})"
                    ));
                }
            }
        }
        let mut routes = vec![("backend.route", &self.backend.route)];
        if let Some(watch) = &self.backend.watch_route {
            routes.push(("backend.watch_route", watch));
        }
        for (name, route) in &routes {
            if !route.starts_with('/') || route.contains(['?', '#', '{', '}', '*']) {
                return error(format!(
                    "{name} must be a path starting with '/' (it is {route:?})"
                ));
            }
        }
        if self.backend.watch_route.as_ref() == Some(&self.backend.route) {
            return error("backend.route and backend.watch_route must differ".into());
        }
        for route in routes.iter().map(|(_, r)| r.as_str()) {
            if route == "/health" || route == "/metrics" {
                return error(format!("{route} is served by aviso-auth itself"));
            }
        }
        let authorisation = &self.authorisation_server;
        for (name, keys) in [
            ("open_keys", &authorisation.open_keys),
            ("protected_keys", &authorisation.protected_keys),
        ] {
            if keys.iter().any(|k| k.is_empty() || k == "/") {
                return error(format!(
                    "authorisation_server.{name} must not hold an empty key or '/' (every key)"
                ));
            }
        }
        if !authorisation.protected_keys.is_empty()
            && (authorisation.username.is_none() || authorisation.password.is_none())
        {
            return error(
                "authorisation_server.username and authorisation_server.password must be set (the ECPDS credentials) when protected_keys is not empty".into(),
            );
        }
        let delay = self.authentication_server.retry_delay;
        if !delay.is_finite() || !(0.0..=3600.0).contains(&delay) {
            return error(format!(
                "authentication_server.retry_delay must be between 0 and 3600 seconds (it is {delay})"
            ));
        }
        match self.cache.cache_type.to_lowercase().as_str() {
            "simple" | "simplecache" | "null" | "nullcache" => {}
            other => {
                return error(format!(
                    "cache.CACHE_TYPE must be simple or null (it is {other:?})"
                ));
            }
        }
        Ok(())
    }

    /// How the JWT of the authentication server is checked, from `jwt_key`.
    pub fn jwt_check(&self) -> Result<JwtCheck, SettingsError> {
        let settings = &self.authentication_server;
        let Some(path) = &settings.jwt_key else {
            return Ok(JwtCheck::Unverified);
        };
        let path = expand_home(path, aviso::config::home_dir().as_deref());
        let content = std::fs::read(&path).map_err(|e| {
            SettingsError(format!(
                "authentication_server.jwt_key: cannot read {}: {e}",
                path.display()
            ))
        })?;
        JwtCheck::from_key(&content, &settings.jwt_algorithm).map_err(|e| {
            SettingsError(format!(
                "authentication_server.jwt_key {}: {e}",
                path.display()
            ))
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

/// aviso-auth's own metrics.
#[derive(Clone, Default)]
struct ProxyMetrics {
    authentications: Family<OutcomeLabels, Counter>,
    authorisations: Family<OutcomeLabels, Counter>,
    upstream_errors: Family<UpstreamLabels, Counter>,
    open_watches: Gauge,
}

impl ProxyMetrics {
    fn new(metrics: &Metrics) -> ProxyMetrics {
        let proxy = ProxyMetrics::default();
        metrics.register(
            "authentications",
            "Authentications, by outcome (success, cached, denied, unavailable, error)",
            proxy.authentications.clone(),
        );
        metrics.register(
            "authorisations",
            "Authorisations, by outcome (allowed, forbidden, revision_only)",
            proxy.authorisations.clone(),
        );
        metrics.register(
            "upstream_errors",
            "Failed calls to the servers behind, by upstream (authentication, authorisation, backend)",
            proxy.upstream_errors.clone(),
        );
        metrics.register(
            "open_watches",
            "Watches being streamed",
            proxy.open_watches.clone(),
        );
        proxy
    }

    fn authentication(&self, outcome: &str) {
        self.authentications
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    fn authorisation(&self, outcome: &str) {
        self.authorisations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    fn upstream_error(&self, upstream: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                upstream: upstream.into(),
            })
            .inc();
    }
}

/// The proxy's state, shared by every request.
pub struct AuthProxy {
    settings: AuthSettings,
    authenticator: Authenticator,
    rules: Rules,
    destinations: Destinations,
    backend: Backend,
    metrics: Metrics,
    proxy_metrics: ProxyMetrics,
    timer: TimeCollector,
    users: UniqueCountCollector,
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// What a request asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Range,
    Watch,
}

impl AuthProxy {
    /// The proxy and the telemetry to start with it; `stopping` turns true when the server
    /// stops (watches then end).
    pub fn new(
        settings: AuthSettings,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(AuthProxy, Telemetry), SettingsError> {
        let jwt = settings.jwt_check()?;
        // No overall timeout on the client: watches last; each call has its own.
        let client = crate::gateway::http_client(None).map_err(SettingsError)?;
        let capacity = settings.cache.capacity();
        let authentication = &settings.authentication_server;
        let authenticator = Authenticator::new(
            client.clone(),
            AuthenticatorSettings {
                url: authentication.url.clone(),
                timeout: Duration::from_secs(authentication.req_timeout),
                retries: authentication.retries,
                retry_delay: Duration::from_secs_f64(authentication.retry_delay),
                jwt,
                cache_capacity: capacity,
                cache_timeout: Duration::from_secs(authentication.cache_timeout),
            },
        );
        let authorisation = &settings.authorisation_server;
        let destinations = Destinations::new(
            client.clone(),
            &authorisation.url,
            Duration::from_secs(authorisation.req_timeout),
            authorisation.username.clone(),
            authorisation.password.clone(),
            capacity,
            Duration::from_secs(authorisation.cache_timeout),
        );
        let rules = Rules::new(&authorisation.open_keys, &authorisation.protected_keys);
        let backend = Backend::new(
            client,
            &settings.backend.url,
            Duration::from_secs(settings.backend.req_timeout),
        );
        let metrics = Metrics::new("aviso_auth");
        let proxy_metrics = ProxyMetrics::new(&metrics);
        let mut telemetry = Telemetry::new(settings.monitoring.clone());
        let timer = telemetry.time_collector("auth_resp_time");
        let users = telemetry.unique_count_collector("auth_users_counter");
        Ok((
            AuthProxy {
                settings,
                authenticator,
                rules,
                destinations,
                backend,
                metrics,
                proxy_metrics,
                timer,
                users,
                stopping,
            },
            telemetry,
        ))
    }

    /// The routes: range, watch (unless disabled), `/health`, `/metrics`; JSON 404 and 405.
    pub fn router(self: Arc<Self>) -> Router {
        let mut router = Router::new().route(
            &self.settings.backend.route,
            axum::routing::post(range_handler),
        );
        if let Some(watch) = &self.settings.backend.watch_route {
            router = router.route(watch, axum::routing::post(watch_handler));
        }
        let metrics = self.metrics.clone();
        let router = router
            .fallback(crate::http::not_found)
            .method_not_allowed_fallback(crate::http::method_not_allowed)
            .with_state(self);
        crate::http::with_common_routes(router, metrics)
    }

    fn monitored(&self, flag: bool, sub: &str, started: Instant) {
        if flag {
            self.timer.record(sub, started.elapsed());
        }
    }

    /// Authenticate, authorise, forward.
    async fn handle(&self, kind: Kind, request: Request) -> Response {
        let started = Instant::now();
        let response = self.process(kind, request).await.unwrap_or_else(|e| e);
        self.timer.record("", started.elapsed());
        response
    }

    async fn process(&self, kind: Kind, request: Request) -> Result<Response, Response> {
        let (parts, body) = request.into_parts();
        let client_ip = client_ip(&parts.headers, parts.extensions.get());

        // 1. Who is asking.
        let started = Instant::now();
        let identity = self.authenticate(&parts.headers, &client_ip).await;
        self.monitored(self.settings.authentication_server.monitor, "att", started);
        let username = identity.map_err(IntoResponse::into_response)?;
        self.users.record(&username);

        // 2. What they ask for, and whether they may.
        let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
            ApiError::bad_request("Invalid request, the body is too large").into_response()
        })?;
        let started = Instant::now();
        let decision = self.authorise(kind, &username, &body).await;
        self.monitored(self.settings.authorisation_server.monitor, "ats", started);
        let (checked, allowed) = decision.map_err(IntoResponse::into_response)?;

        // 3. etcd.
        let started = Instant::now();
        let backend = &self.settings.backend;
        let answer = match (kind, allowed) {
            (Kind::Range, true) => self.backend.range(&backend.route, &checked.body).await,
            (Kind::Range, false) => {
                let key = checked.body["key"].as_str().unwrap_or_default();
                self.backend.revision(&backend.route, key).await
            }
            (Kind::Watch, _) => {
                let route = backend.watch_route.as_deref().unwrap_or("/v3/watch");
                self.backend
                    .watch(
                        route,
                        &checked.body,
                        self.stopping.clone(),
                        self.proxy_metrics.open_watches.clone(),
                    )
                    .await
            }
        };
        self.monitored(backend.monitor, "be", started);
        answer.map_err(|error: BackendError| {
            if error.is_upstream() {
                self.proxy_metrics.upstream_error("backend");
            }
            error.into_response()
        })
    }

    async fn authenticate(&self, headers: &HeaderMap, client_ip: &str) -> Result<String, ApiError> {
        let credentials = authentication::credentials(headers)
            .inspect_err(|_| self.proxy_metrics.authentication("denied"))?;
        match self
            .authenticator
            .authenticate(&credentials, client_ip, &self.stopping)
            .await
        {
            Ok((identity, source)) => {
                self.proxy_metrics.authentication(match source {
                    Source::Server => "success",
                    Source::Memo => "cached",
                });
                Ok(identity.username)
            }
            Err(error) => {
                let outcome = match error.status {
                    StatusCode::UNAUTHORIZED => "denied",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    _ => "error",
                };
                self.proxy_metrics.authentication(outcome);
                if outcome != "denied" {
                    self.proxy_metrics.upstream_error("authentication");
                }
                Err(error)
            }
        }
    }

    /// The checked request and whether the user may read what it selects. `Ok((_, false))`
    /// only for a revision probe outside the user's keys (answered with the revision alone).
    async fn authorise(
        &self,
        kind: Kind,
        username: &str,
        body: &Bytes,
    ) -> Result<(Checked, bool), ApiError> {
        let checked = match kind {
            Kind::Range => authorisation::range_request(body)?,
            Kind::Watch => authorisation::watch_request(body)?,
        };
        let selection = &checked.selection;
        let allowed = if self.rules.open(selection) {
            true
        } else if let Some(destination) = self.rules.destination(selection) {
            match self.destinations.of(username).await {
                Ok((list, _)) => list.iter().any(|d| d.as_bytes() == destination.as_slice()),
                Err(DestinationsError::Refused(error)) => {
                    if error.status != StatusCode::NOT_FOUND {
                        self.proxy_metrics.upstream_error("authorisation");
                    }
                    return Err(error);
                }
                Err(DestinationsError::Unavailable(cause)) => {
                    tracing::warn!("{cause}");
                    self.proxy_metrics.upstream_error("authorisation");
                    return Err(ApiError::unavailable());
                }
            }
        } else {
            false
        };
        if allowed {
            self.proxy_metrics.authorisation("allowed");
            tracing::debug!("{username} reads {selection}");
            return Ok((checked, true));
        }
        if kind == Kind::Range && checked.revision_probe {
            self.proxy_metrics.authorisation("revision_only");
            tracing::debug!("{username} asks for the revision only, with {selection}");
            return Ok((checked, false));
        }
        self.proxy_metrics.authorisation("forbidden");
        tracing::info!("{username} is not allowed to read {selection}");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "User not allowed to access the resource",
        ))
    }
}

/// The largest request body read (etcd's requests are a few hundred bytes).
const BODY_LIMIT: usize = 1 << 20;

/// `X-Forwarded-For` as sent, else the peer's address.
fn client_ip(headers: &HeaderMap, peer: Option<&ConnectInfo<SocketAddr>>) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| peer.map(|ConnectInfo(address)| address.ip().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

async fn range_handler(State(proxy): State<Arc<AuthProxy>>, request: Request) -> Response {
    proxy.handle(Kind::Range, request).await
}

async fn watch_handler(State(proxy): State<Arc<AuthProxy>>, request: Request) -> Response {
    proxy.handle(Kind::Watch, request).await
}

/// Serves until SIGTERM or Ctrl-C; watches in progress end then, so stopping does not wait
/// for them.
pub async fn run(settings: AuthSettings) -> Result<(), String> {
    let frontend = settings.frontend.clone();
    tracing::info!(
        "frontend.server_type ({}) and frontend.workers ({}) are not used: one multi-threaded server answers every request",
        frontend.server_type,
        frontend.workers
    );
    if settings.authentication_server.jwt_key.is_none() {
        tracing::warn!(
            "authentication_server.jwt_key is not set: the claims of the authentication server's JWTs are trusted without verifying their signature"
        );
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (proxy, telemetry) = AuthProxy::new(settings, stopping).map_err(|e| e.0)?;
    telemetry.spawn();
    tokio::spawn(async move {
        crate::http::shutdown_signal().await;
        let _ = stop.send(true);
        // Kept until the process ends, so that receivers never see a closed channel early.
        std::future::pending::<()>().await;
    });
    let router = Arc::new(proxy).router();
    crate::http::serve("aviso-auth", &frontend.host, frontend.port, router)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &std::path::Path, env: Vec<(&'static str, &'static str)>) -> Sources {
        Sources {
            component: "aviso-auth",
            system_dir: dir.join("etc"),
            home: Some(dir.join("home")),
            config_file: Some(dir.join("auth.yaml")),
            env: Box::new(move |name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }),
        }
    }

    #[test]
    fn pyavisos_files_and_variables_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("auth.yaml"),
            "authorisation_server:\n  username: ecpds\n  password: pw\n  open_keys: [/ec/mars]\nfrontend:\n  server_type: gunicorn\n  workers: \"4\"\ncache:\n  CACHE_TYPE: \"null\"\n",
        )
        .unwrap();
        let settings = AuthSettings::load(&sources(
            dir.path(),
            vec![
                ("AVISO_AUTH_FRONTEND_PORT", "9000"),
                ("AVISO_AUTH_BACKEND_URL", "http://etcd:2379"),
                ("AVISO_AUTH_AUTHENTICATION_MONITOR", "true"),
            ],
        ))
        .unwrap();
        assert_eq!(settings.frontend.port, 9000);
        assert_eq!(settings.backend.url, "http://etcd:2379");
        assert!(settings.authentication_server.monitor);
        assert_eq!(settings.authorisation_server.open_keys, ["/ec/mars"]);
        assert_eq!(settings.authorisation_server.protected_keys, ["/ec/diss"]);
        assert_eq!(settings.cache.capacity(), 0);
        assert_eq!(settings.monitoring.transmitter.component_name, "aviso-auth");
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |text: &str| {
            std::fs::write(dir.path().join("auth.yaml"), text).unwrap();
            AuthSettings::load(&sources(dir.path(), vec![]))
                .unwrap_err()
                .0
        };
        assert!(refused("{}").contains("password must be set"));
        assert!(
            refused("authorisation_server:\n  protected_keys: []\n  open_keys: [/]\n")
                .contains("open_keys must not hold")
        );
        assert!(
            refused("authorisation_server:\n  protected_keys: []\nbackend:\n  route: v3\n")
                .contains("backend.route must be a path")
        );
        assert!(
            refused("authorisation_server:\n  protected_keys: []\ncache:\n  CACHE_TYPE: redis\n")
                .contains("CACHE_TYPE must be simple or null")
        );
        assert!(
            refused("authorisation_server:\n  protected_keys: []\n  hots: x\n")
                .contains("unknown field `hots`")
        );
    }
}
