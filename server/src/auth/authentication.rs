//! Authentication: the client's `Authorization` and `X-Auth-Type` headers read as pyaviso's
//! aviso-auth reads them, the token checked by the authentication server (ECMWF's auth-o-tron,
//! `GET <url>/authenticate`), the user taken from the JWT it answers with, memoised per
//! (token, auth type, client address).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::cache::Memo;
use crate::http::ApiError;

/// The challenge of a 401 when the authentication server gave none.
pub const FALLBACK_CHALLENGE: &str = "Bearer realm=\"auth-o-tron\"";

/// What the client presented: the token and how to check it (`ecmwf`, `openid`, `plain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub token: String,
    pub auth_type: String,
}

/// A user the authentication server vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub realm: String,
}

/// A 401, with the challenge to send.
pub fn denied(message: impl Into<String>, challenge: Option<String>) -> ApiError {
    ApiError {
        authenticate: Some(challenge.unwrap_or_else(|| FALLBACK_CHALLENGE.to_string())),
        ..ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
}

fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// The credentials of a request. The legacy `EmailKey <email>:<token>` means `ecmwf` with the
/// token after the last `:`; otherwise `X-Auth-Type` says the type, and the scheme must be
/// `Basic` for `plain` and `Bearer` for the others.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, ApiError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| denied("Invalid Authorization header format", None))?,
        ),
    }
    .filter(|value| !value.is_empty())
    .ok_or_else(|| denied("Missing Authorization header", None))?;
    let declared = headers
        .get("x-auth-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let legacy = authorization.to_lowercase().starts_with("emailkey ");
    let mut auth_type = match (legacy, declared) {
        (true, declared) => declared.unwrap_or("ecmwf").to_string(),
        (false, Some(declared)) => declared.to_string(),
        (false, None) => return Err(denied("Missing X-Auth-Type header", None)),
    };
    let Some((scheme, rest)) = authorization.split_once(' ') else {
        return Err(denied("Invalid Authorization header format", None));
    };
    let (scheme, token) = if scheme.eq_ignore_ascii_case("emailkey") {
        auth_type = "ecmwf".into();
        let token = rest.rsplit(':').next().unwrap_or(rest).trim();
        ("bearer".to_string(), token.to_string())
    } else {
        (scheme.to_lowercase(), rest.to_string())
    };
    let auth_type = auth_type.to_lowercase();
    let expected = if auth_type == "plain" {
        "basic"
    } else {
        "bearer"
    };
    if scheme != expected {
        return Err(denied("Unsupported authorization scheme", None));
    }
    if !matches!(auth_type.as_str(), "ecmwf" | "openid" | "plain") {
        return Err(denied(format!("Unknown auth type: {auth_type}"), None));
    }
    Ok(Credentials { token, auth_type })
}

/// How the JWT of the authentication server is read.
pub enum JwtCheck {
    /// Claims trusted as they are (pyaviso's way).
    Unverified,
    /// Signature and expiry verified.
    Verified {
        key: Box<jsonwebtoken::DecodingKey>,
        validation: Box<jsonwebtoken::Validation>,
    },
}

impl JwtCheck {
    /// From the key file's content and the algorithm's name (`HS256`, `RS256`, `ES256`,
    /// `EdDSA`...): a PEM public key for the asymmetric ones, the secret for HMAC.
    pub fn from_key(content: &[u8], algorithm: &str) -> Result<JwtCheck, String> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let algorithm: Algorithm = algorithm.parse().map_err(|_| {
            format!("{algorithm:?} is not a JWT algorithm (HS256, RS256, ES256, EdDSA, ...)")
        })?;
        let pem = || -> Result<&[u8], String> {
            if content.starts_with(b"-----BEGIN") {
                Ok(content)
            } else {
                Err(format!("a {algorithm:?} key must be a PEM public key"))
            }
        };
        let key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                if content.starts_with(b"-----BEGIN") {
                    return Err(format!(
                        "the key is a PEM key but the algorithm is {algorithm:?} (an HMAC secret)"
                    ));
                }
                let secret = content.trim_ascii_end();
                if secret.is_empty() {
                    return Err("the HMAC secret is empty".into());
                }
                DecodingKey::from_secret(secret)
            }
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem()?).map_err(|e| e.to_string())?,
            Algorithm::ES256 | Algorithm::ES384 => {
                DecodingKey::from_ec_pem(pem()?).map_err(|e| e.to_string())?
            }
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem()?).map_err(|e| e.to_string())?,
        };
        let mut validation = Validation::new(algorithm);
        // auth-o-tron's tokens name no audience; expiry is required and checked.
        validation.validate_aud = false;
        Ok(JwtCheck::Verified {
            key: Box::new(key),
            validation: Box::new(validation),
        })
    }

    /// The claims of `jwt`, or why they cannot be trusted (`Err(Some(reason))`: a 401) or read
    /// (`Err(None)`: the authentication server sent something that is not a JWT).
    fn claims(&self, jwt: &str) -> Result<Map<String, Value>, Option<String>> {
        match self {
            JwtCheck::Unverified => {
                let payload = jwt.split('.').nth(1).ok_or(None)?;
                let bytes = URL_SAFE_NO_PAD
                    .decode(payload.trim_end_matches('='))
                    .map_err(|_| None)?;
                serde_json::from_slice(&bytes).map_err(|_| None)
            }
            JwtCheck::Verified { key, validation } => {
                jsonwebtoken::decode::<Map<String, Value>>(jwt, key, validation)
                    .map(|data| data.claims)
                    .map_err(|e| Some(e.to_string()))
            }
        }
    }
}

type CacheKey = (String, String, String);

/// Checks tokens with the authentication server.
pub struct Authenticator {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    /// Tries after the first on 429, 408, 5xx and connection errors.
    retries: u32,
    /// Each retry waits a random time between this and five times this (pyaviso: 1–5 s).
    retry_delay: Duration,
    jwt: JwtCheck,
    cache: Memo<CacheKey, Identity>,
    cache_timeout: Duration,
}

/// How an authentication went (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The authentication server said yes now.
    Server,
    /// It said yes before, within `cache_timeout`.
    Memo,
}

pub struct AuthenticatorSettings {
    pub url: String,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub jwt: JwtCheck,
    pub cache_capacity: usize,
    pub cache_timeout: Duration,
}

impl Authenticator {
    pub fn new(client: reqwest::Client, settings: AuthenticatorSettings) -> Authenticator {
        Authenticator {
            client,
            url: format!("{}/authenticate", settings.url.trim_end_matches('/')),
            timeout: settings.timeout,
            retries: settings.retries,
            retry_delay: settings.retry_delay,
            jwt: settings.jwt,
            cache: Memo::new(settings.cache_capacity),
            cache_timeout: settings.cache_timeout,
        }
    }

    /// The user behind `credentials`. Errors: 401 (refused), 503 (the authentication server
    /// could not be asked, after the retries), 500 (it answered something unexpected).
    pub async fn authenticate(
        &self,
        credentials: &Credentials,
        client_ip: &str,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Identity, Source), ApiError> {
        let key = (
            credentials.token.clone(),
            credentials.auth_type.clone(),
            client_ip.to_string(),
        );
        if let Some(identity) = self.cache.get(&key) {
            return Ok((identity, Source::Memo));
        }
        let (identity, expiry) = self.ask(credentials, client_ip, shutdown).await?;
        let mut ttl = self.cache_timeout;
        if let Some(expiry) = expiry {
            ttl = ttl.min(expiry);
        }
        self.cache.insert(key, identity.clone(), ttl);
        Ok((identity, Source::Server))
    }

    /// One validation, retried on temporary failures; the identity and, for a verified token,
    /// how long until it expires.
    async fn ask(
        &self,
        credentials: &Credentials,
        client_ip: &str,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Identity, Option<Duration>), ApiError> {
        let scheme = if credentials.auth_type == "plain" {
            "Basic"
        } else {
            "Bearer"
        };
        let authorization = format!("{scheme} {}", credentials.token);
        let auth_type = &credentials.auth_type;
        let mut attempt = 0;
        loop {
            let failure = match self
                .client
                .get(&self.url)
                .header(header::AUTHORIZATION, &authorization)
                .timeout(self.timeout)
                .send()
                .await
            {
                Err(e) => format!(
                    "the authentication server {} did not answer: {}",
                    self.url,
                    aviso::cause::plain(&e)
                ),
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return self.identity(response.headers());
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        let challenge = response
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let reason = response.text().await.unwrap_or_default();
                        tracing::warn!(
                            "Token refused by the authentication server ({status}) [auth_type={auth_type}, ip={client_ip}, www-authenticate={}, reason={:.200}]",
                            challenge.as_deref().unwrap_or("Not provided"),
                            reason
                        );
                        return Err(denied(
                            "Invalid credentials or unauthorized token",
                            challenge,
                        ));
                    }
                    if status != StatusCode::TOO_MANY_REQUESTS
                        && status != StatusCode::REQUEST_TIMEOUT
                        && !status.is_server_error()
                    {
                        tracing::error!(
                            "The authentication server {} answered {status} [auth_type={auth_type}, ip={client_ip}]",
                            self.url
                        );
                        return Err(internal("Unexpected HTTP error during token validation"));
                    }
                    format!("the authentication server {} answered {status}", self.url)
                }
            };
            if attempt >= self.retries {
                tracing::error!(
                    "{failure}; giving up after {} attempts [auth_type={auth_type}, ip={client_ip}]",
                    attempt + 1
                );
                return Err(ApiError::unavailable());
            }
            attempt += 1;
            let wait = self.retry_delay.mul_f64(1.0 + 4.0 * jitter());
            tracing::warn!(
                "{failure}; trying again in {wait:.1?} (attempt {attempt} of {}) [auth_type={auth_type}, ip={client_ip}]",
                self.retries
            );
            let mut shutdown = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return Err(ApiError::unavailable()),
            }
        }
    }

    /// The user named by the JWT of a successful answer (`authorization: Bearer <jwt>`).
    fn identity(&self, headers: &HeaderMap) -> Result<(Identity, Option<Duration>), ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            tracing::error!("The authentication server's answer has no authorization header");
            return Err(internal(
                "Invalid response from auth-o-tron: missing authorization header",
            ));
        };
        let jwt = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, jwt)| jwt.trim())
            .ok_or_else(|| {
                tracing::error!("The authentication server's authorization header is not Bearer");
                internal("Invalid response from auth-o-tron: incorrect authorization header format")
            })?;
        if jwt.is_empty() {
            return Err(internal(
                "Invalid response from auth-o-tron: empty JWT token",
            ));
        }
        let claims = match self.jwt.claims(jwt) {
            Ok(claims) => claims,
            Err(Some(reason)) => {
                tracing::warn!("The JWT of the authentication server is refused: {reason}");
                return Err(denied("Invalid credentials or unauthorized token", None));
            }
            Err(None) => {
                tracing::error!("The authentication server sent a JWT that cannot be read");
                return Err(internal("Invalid JWT returned from auth-o-tron"));
            }
        };
        let Some(username) = claims
            .get("username")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        else {
            tracing::error!("The JWT of the authentication server has no username");
            return Err(internal("Token validation error: username missing"));
        };
        let realm = claims
            .get("realm")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        tracing::info!("User '{username}' successfully authenticated with realm '{realm}'");
        let expiry = match &self.jwt {
            JwtCheck::Verified { .. } => claims.get("exp").and_then(Value::as_u64).map(|exp| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                Duration::from_secs(exp.saturating_sub(now))
            }),
            JwtCheck::Unverified => None,
        };
        Ok((
            Identity {
                username: username.to_string(),
                realm: realm.to_string(),
            },
            expiry,
        ))
    }
}

/// A number in `[0, 1)`, different at each call.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn read(pairs: &[(&'static str, &str)]) -> Result<Credentials, String> {
        credentials(&headers(pairs)).map_err(|e| {
            assert_eq!(e.status, StatusCode::UNAUTHORIZED);
            assert_eq!(e.authenticate.as_deref(), Some(FALLBACK_CHALLENGE));
            e.message
        })
    }

    fn ok(token: &str, auth_type: &str) -> Result<Credentials, String> {
        Ok(Credentials {
            token: token.into(),
            auth_type: auth_type.into(),
        })
    }

    #[test]
    fn headers_are_read_as_pyavisos_aviso_auth_reads_them() {
        let auth = "authorization";
        assert_eq!(read(&[]), Err("Missing Authorization header".into()));
        assert_eq!(
            read(&[(auth, "Bearer x")]),
            Err("Missing X-Auth-Type header".into())
        );
        assert_eq!(
            read(&[(auth, "Bearer"), ("x-auth-type", "ecmwf")]),
            Err("Invalid Authorization header format".into())
        );
        assert_eq!(
            read(&[(auth, "Basic x"), ("x-auth-type", "ecmwf")]),
            Err("Unsupported authorization scheme".into())
        );
        assert_eq!(
            read(&[(auth, "Bearer x"), ("x-auth-type", "plain")]),
            Err("Unsupported authorization scheme".into())
        );
        assert_eq!(
            read(&[(auth, "Bearer x"), ("x-auth-type", "kerberos")]),
            Err("Unknown auth type: kerberos".into())
        );
        assert_eq!(
            read(&[(auth, "Bearer tok"), ("x-auth-type", "ECMWF")]),
            ok("tok", "ecmwf")
        );
        assert_eq!(
            read(&[(auth, "Basic dTpw"), ("x-auth-type", "plain")]),
            ok("dTpw", "plain")
        );
        assert_eq!(
            read(&[(auth, "EmailKey me@example.int:a:tok")]),
            ok("tok", "ecmwf")
        );
        assert_eq!(
            read(&[(auth, "EmailKey me:tok"), ("x-auth-type", "openid")]),
            ok("tok", "ecmwf")
        );
    }

    #[test]
    fn unverified_claims_are_read_and_verified_ones_checked() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"username":"alice"}"#);
        let unsigned = format!("eyJhbGciOiJub25lIn0.{claims}.");
        let read = JwtCheck::Unverified.claims(&unsigned).unwrap();
        assert_eq!(read["username"], "alice");
        assert_eq!(JwtCheck::Unverified.claims("garbage"), Err(None));

        let check = JwtCheck::from_key(b"s3cret\n", "HS256").unwrap();
        assert!(matches!(check.claims(&unsigned), Err(Some(_))));
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let token = |secret: &[u8]| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &serde_json::json!({"username": "bob", "exp": exp}),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        assert_eq!(check.claims(&token(b"s3cret")).unwrap()["username"], "bob");
        assert!(matches!(check.claims(&token(b"other")), Err(Some(_))));
        assert!(JwtCheck::from_key(b"-----BEGIN PUBLIC KEY-----", "HS256").is_err());
        assert!(JwtCheck::from_key(b"secret", "RS256").is_err());
        assert!(JwtCheck::from_key(b"secret", "XX1").is_err());
    }
}
