//! Sending a plugin's HTTP request once its origin was allowed: one pooled client (reqwest) per
//! plugin, with our own TLS settings ([`crate::tls`]).

use std::error::Error as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Used when the plugin gives no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The client a plugin's requests go through: HTTP/1.1, certificates verified unless `verify`
/// is false, no proxy from the environment and no redirects followed (a granted origin must not
/// be able to send the request on to one that was not granted; the plugin sees the 3xx). One
/// per process for each `verify`, shared by every plugin: a thousand listeners with a `post`
/// trigger held a thousand clients (a third of `aviso serve`'s memory with 1,000 listeners).
pub fn client(verify: bool) -> Result<reqwest::Client, String> {
    type Clients = std::collections::HashMap<(bool, Vec<std::path::PathBuf>), reqwest::Client>;
    static CLIENTS: std::sync::LazyLock<std::sync::Mutex<Clients>> =
        std::sync::LazyLock::new(Default::default);
    // Keyed by the CA bundles trusted now (SSL_CERT_FILE and the like), read when made.
    let key = (verify, crate::tls::trusted_bundles());
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = clients.get(&key) {
        return Ok(client.clone());
    }
    let client = new_client(verify)?;
    clients.insert(key, client.clone());
    Ok(client)
}

fn new_client(verify: bool) -> Result<reqwest::Client, String> {
    let tls = crate::tls::client_config(verify)?;
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured((*tls).clone())
        .build()
        .map_err(|e| format!("the HTTP client cannot be set up: {e}"))
}

/// Sends one request and returns the response (its body streamed as the plugin reads it).
/// The response head must arrive within the plugin's connect and first-byte timeouts together.
pub async fn send(
    client: reqwest::Client,
    plugin: std::sync::Arc<str>,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (parts, body) = request.into_parts();
    let url =
        reqwest::Url::parse(&parts.uri.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
    let origin = url.origin().ascii_serialization();
    let mut outgoing = reqwest::Request::new(parts.method, url);
    *outgoing.headers_mut() = parts.headers;
    *outgoing.body_mut() = Some(reqwest::Body::wrap(RequestBody::new(body)));

    let response = tokio::time::timeout(
        connect_timeout.saturating_add(first_byte_timeout),
        client.execute(outgoing),
    )
    .await
    .map_err(|_| Error::ConnectionReadTimeout)?
    .map_err(|error| {
        let code = error_code(&error);
        tracing::debug!(
            "Plugin {plugin}: HTTP request to {origin} failed: {}",
            crate::cause::plain(&error)
        );
        code
    })?;
    let response: http::Response<reqwest::Body> = response.into();
    let response = response.map(|body| {
        body.map_err(|error| match error_code(&error) {
            Error::InternalError(_) => Error::HttpResponseIncomplete,
            code => code,
        })
        .boxed_unsync()
    });
    // reqwest drives the connection itself.
    let io: IoFuture = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// The plugin's request body, which reqwest wants `Sync`: only ever polled through `&mut`, so
/// the wrapper may say so. Its size is kept, so that a known length is sent as such.
struct RequestBody {
    body: sync_wrapper::SyncWrapper<WasiBody>,
    size: http_body::SizeHint,
}

impl RequestBody {
    fn new(body: WasiBody) -> RequestBody {
        let size = http_body::Body::size_hint(&body);
        RequestBody {
            body: sync_wrapper::SyncWrapper::new(body),
            size,
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        Pin::new(self.get_mut().body.get_mut()).poll_frame(cx)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.size
    }
}

/// The wasi:http error code for a failed request: what the plugin can act on.
fn error_code(error: &reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::ConnectionTimeout;
    }
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return tls_error_code(tls);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return tls_error_code(tls);
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Error::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return Error::ConnectionTimeout,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return Error::ConnectionTerminated,
                _ => {}
            }
        }
        if let Some(hyper) = current.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return Error::HttpResponseIncomplete;
        }
        cause = current.source();
    }
    let message = crate::cause::plain(error);
    if error.is_connect() && message.contains("resolve the host name") {
        // The guest says "cannot resolve the host name" itself; the resolver's words add nothing.
        return Error::DnsError {
            rcode: None,
            info_code: None,
        };
    }
    if error.is_connect() {
        return Error::DestinationUnavailable;
    }
    Error::InternalError(Some(message))
}

fn tls_error_code(error: &rustls::Error) -> Error {
    match error {
        rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}
