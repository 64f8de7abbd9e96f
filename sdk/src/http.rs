//! Outbound HTTP over `wasi:http/outgoing-handler`: build a [`Request`], [`send`](Request::send)
//! it, read the [`Response`].
//!
//! The host lets a plugin reach only the origins its listener grants (`allow: {http: [...]}`;
//! the built-in `post` trigger gets its endpoint's), and makes the connection itself, TLS
//! included, so certificates are checked as the host's configuration says. A request to any
//! other origin fails with [`Error::Denied`].
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use aviso_sdk::Error;
//! use aviso_sdk::http::Request;
//!
//! fn announce(text: &str) -> Result<(), Error> {
//!     let response = Request::post("https://hooks.example.com/aviso")
//!         .header("authorization", "Bearer 123")
//!         .json(&serde_json::json!({"text": text}))
//!         .timeout(Duration::from_secs(10))
//!         .send()?;
//!     if !response.is_success() {
//!         return Err(Error::Failed(format!(
//!             "the hook answered {}: {}",
//!             response.status,
//!             response.text()
//!         )));
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Errors: a request the host refuses (an origin not granted) is [`Error::Denied`]; a URL or a
//! header that cannot be sent is [`Error::InvalidConfig`] (they usually come from the
//! configuration); a malformed answer is [`Error::Failed`]; anything that trying again could
//! cure (no connection, a time-out, a connection lost while reading) is [`Error::Transient`].
//! An answer with a 4xx or 5xx status is not an error: look at [`Response::status`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, HeaderError, Method as WasiMethod, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

use crate::Error;

/// What a response body is cut to unless [`Request::max_response_body`] says otherwise: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 1 << 20;

/// Most bytes one `wasi:io` stream call moves.
const CHUNK: usize = 4096;

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// Any other method, by name.
    Other(String),
}

impl Method {
    fn to_wasi(&self) -> WasiMethod {
        match self {
            Method::Get => WasiMethod::Get,
            Method::Head => WasiMethod::Head,
            Method::Post => WasiMethod::Post,
            Method::Put => WasiMethod::Put,
            Method::Delete => WasiMethod::Delete,
            Method::Patch => WasiMethod::Patch,
            Method::Options => WasiMethod::Options,
            Method::Other(name) => WasiMethod::Other(name.clone()),
        }
    }

    /// Whether a request of this method carries a body, so that it says how long it is even
    /// when it is empty.
    fn sends_body(&self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// An `http://` or `https://` URL, split as `wasi:http` wants it.
///
/// ```
/// use aviso_sdk::http::Url;
///
/// let url = Url::parse("https://sns.us-east-2.amazonaws.com")?;
/// assert!(url.is_https());
/// assert_eq!(url.authority(), "sns.us-east-2.amazonaws.com");
/// assert_eq!(url.path_and_query(), "/");
/// assert_eq!(url.to_string(), "https://sns.us-east-2.amazonaws.com/");
/// assert!(Url::parse("ftp://example.com").is_err());
/// # Ok::<(), aviso_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    https: bool,
    authority: String,
    path_and_query: String,
}

impl Url {
    /// Splits `text`; anything but an `http://` or `https://` URL naming a host (without user
    /// information) is an [`Error::InvalidConfig`] quoting it.
    pub fn parse(text: &str) -> Result<Url, Error> {
        let invalid = |why: &str| Error::InvalidConfig(format!("url {text:?} is not valid: {why}"));
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid("it must start with http:// or https://"));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..split];
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("it must name a host (without user information)"));
        }
        let path = &rest[split..];
        let path_and_query = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Url {
            https,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, and the port when the URL names one: `example.com:8443`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path and the query, at least `/`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }
}

impl FromStr for Url {
    type Err = Error;

    fn from_str(text: &str) -> Result<Url, Error> {
        Url::parse(text)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path_and_query)
    }
}

/// An HTTP request to send: method, URL, headers, body and time-out.
///
/// The builder methods never fail; a problem (a URL that is not valid, a body that cannot be
/// serialised) is reported by [`send`](Request::send).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: Result<Url, Error>,
    headers: Vec<(String, Vec<u8>)>,
    body: Result<Vec<u8>, Error>,
    timeout: Option<Duration>,
    max_response_body: usize,
}

impl Request {
    /// A request with this method to the URL `url` (parsed by [`Url::parse`]).
    pub fn new(method: Method, url: &str) -> Request {
        Request::to(method, Url::parse(url))
    }

    /// A request with this method to a URL already parsed.
    pub fn with_url(method: Method, url: Url) -> Request {
        Request::to(method, Ok(url))
    }

    fn to(method: Method, url: Result<Url, Error>) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: Ok(Vec::new()),
            timeout: None,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Request {
        Request::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Request {
        Request::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: &str) -> Request {
        Request::new(Method::Put, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Request {
        Request::new(Method::Delete, url)
    }

    /// Adds a header; a name given twice is sent twice. `host` is forbidden (the URL says
    /// it); `content-length` is dropped, as the request sets it from the body.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Ok(body.into());
        self
    }

    /// Sets the body to `value` as JSON, and `content-type: application/json` unless a
    /// content type was given.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Request {
        self.body = serde_json::to_vec(value)
            .map_err(|e| Error::Failed(format!("the request body cannot be JSON: {e}")));
        if !self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            self.headers
                .push(("content-type".into(), b"application/json".to_vec()));
        }
        self
    }

    /// How long to wait for the connection, for the first byte of the answer, and between
    /// bytes of the answer (each, not in all; the trigger's own `timeout` bounds the whole
    /// call). Without it the host's defaults apply.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// The most bytes of the response body kept (default [`DEFAULT_MAX_RESPONSE_BODY`]); the
    /// rest is not read, and [`Response::body_truncated`] says so.
    pub fn max_response_body(mut self, bytes: usize) -> Request {
        self.max_response_body = bytes;
        self
    }

    /// The headers as sent: the caller's, without `content-length`, then `content-length` of
    /// the body when there is one or the method carries one.
    fn headers_to_send(&self, body_length: usize) -> Vec<(String, Vec<u8>)> {
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .cloned()
            .collect();
        if body_length > 0 || self.method.sends_body() {
            headers.push((
                "content-length".into(),
                body_length.to_string().into_bytes(),
            ));
        }
        headers
    }

    /// Sends the request and waits for the answer, reading its body (up to the limit of
    /// [`max_response_body`](Request::max_response_body)).
    ///
    /// Any status is an answer: check [`Response::status`] or [`Response::is_success`].
    pub fn send(self) -> Result<Response, Error> {
        let url = self.url.as_ref().map_err(Clone::clone)?;
        let body = self.body.as_ref().map_err(Clone::clone)?;
        let fields = Fields::new();
        for (name, value) in self.headers_to_send(body.len()) {
            fields.append(&name, &value).map_err(|e| {
                Error::InvalidConfig(format!(
                    "invalid header {name}: {}",
                    match e {
                        HeaderError::InvalidSyntax => "not a valid HTTP header",
                        HeaderError::Forbidden => "the host sets it",
                        HeaderError::Immutable => "the headers cannot change",
                    }
                ))
            })?;
        }
        let request = OutgoingRequest::new(fields);
        let refused =
            |what: &str| Error::Failed(format!("the HTTP request was refused: invalid {what}"));
        request
            .set_method(&self.method.to_wasi())
            .map_err(|_| refused("method"))?;
        request
            .set_scheme(Some(if url.https {
                &Scheme::Https
            } else {
                &Scheme::Http
            }))
            .map_err(|_| refused("scheme"))?;
        request
            .set_authority(Some(&url.authority))
            .map_err(|_| refused("host"))?;
        request
            .set_path_with_query(Some(&url.path_and_query))
            .map_err(|_| refused("path"))?;

        let options = self.timeout.map(|timeout| {
            let options = RequestOptions::new();
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            // Hosts may not support every time-out; what they refuse is left to their defaults.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
            options
        });

        let outgoing_body = request.body().map_err(|_| refused("body"))?;
        let future = outgoing_handler::handle(request, options).map_err(http_error)?;
        {
            let stream = outgoing_body.write().map_err(|_| refused("body stream"))?;
            for chunk in body.chunks(CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|_| {
                    Error::Transient("sending the request failed: the connection closed".into())
                })?;
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(http_error)?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(http_error(code)),
            Some(Err(())) | None => return Err(Error::Transient("no HTTP response".into())),
        };
        let status = response.status();
        let headers = response.headers().entries();
        let mut collected = Vec::new();
        let mut body_truncated = false;
        if let Ok(incoming) = response.consume()
            && let Ok(stream) = incoming.stream()
        {
            loop {
                let room = self.max_response_body - collected.len();
                // At the limit, one byte more tells whether the body went on.
                match stream.blocking_read(room.clamp(1, CHUNK) as u64) {
                    Ok(bytes) if room == 0 => {
                        body_truncated = !bytes.is_empty();
                        break;
                    }
                    Ok(bytes) => collected.extend_from_slice(&bytes),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(Error::Transient(format!(
                            "reading the HTTP response failed: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: collected,
            body_truncated,
        })
    }
}

/// An HTTP answer: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. `200`.
    pub status: u16,
    /// The headers in the order received, names in lower case (as `wasi:http` gives them).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, at most [`Request::max_response_body`] bytes of it.
    pub body: Vec<u8>,
    /// Whether the body went on past [`Request::max_response_body`] (the rest was not read).
    pub body_truncated: bool,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of the header `name` (compared without case), if it is UTF-8 text.
    ///
    /// ```
    /// use aviso_sdk::http::Response;
    ///
    /// let response = Response {
    ///     status: 201,
    ///     headers: vec![("location".into(), b"/events/7".to_vec())],
    ///     body: Vec::new(),
    ///     body_truncated: false,
    /// };
    /// assert_eq!(response.header("Location"), Some("/events/7"));
    /// assert_eq!(response.header("etag"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The status with its standard reason phrase, for messages: `500 Internal Server Error`.
    pub fn status_line(&self) -> String {
        match reason_phrase(self.status) {
            Some(reason) => format!("{} {reason}", self.status),
            None => self.status.to_string(),
        }
    }

    /// What the body says, in one line fit for an error message: the `message` or `error` of a
    /// JSON body, the `Code` and `Message` of an XML error (AWS), else the text itself, spaces
    /// collapsed and cut after 200 characters. Empty for an empty body.
    ///
    /// ```
    /// use aviso_sdk::http::Response;
    ///
    /// let response = |body: &str| Response {
    ///     status: 403,
    ///     headers: Vec::new(),
    ///     body: body.as_bytes().to_vec(),
    ///     body_truncated: false,
    /// };
    /// assert_eq!(response(r#"{"message": "token expired"}"#).body_excerpt(), "token expired");
    /// assert_eq!(
    ///     response("<ErrorResponse><Error><Code>InvalidClientTokenId</Code>\
    ///               <Message>The security token is invalid.</Message></Error></ErrorResponse>")
    ///         .body_excerpt(),
    ///     "InvalidClientTokenId: The security token is invalid."
    /// );
    /// assert_eq!(response("  no\n  access ").body_excerpt(), "no access");
    /// ```
    pub fn body_excerpt(&self) -> String {
        const LIMIT: usize = 200;
        let text = self.text();
        let said = json_message(&text)
            .or_else(|| xml_error(&text))
            .unwrap_or(text);
        let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
        match said.char_indices().nth(LIMIT) {
            Some((cut, _)) => format!("{}...", &said[..cut]),
            None if self.body_truncated => format!("{said}..."),
            None => said,
        }
    }

    /// The body as text; bytes that are not UTF-8 become `U+FFFD`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, read into `T`; a body that does not fit is [`Error::Failed`].
    ///
    /// ```
    /// use aviso_sdk::http::Response;
    ///
    /// let response = Response {
    ///     status: 200,
    ///     headers: Vec::new(),
    ///     body: br#"{"MessageId": "42"}"#.to_vec(),
    ///     body_truncated: false,
    /// };
    /// let answer: serde_json::Value = response.json()?;
    /// assert_eq!(answer["MessageId"], "42");
    /// # Ok::<(), aviso_sdk::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Failed(format!("the HTTP response is not the JSON expected: {e}")))
    }
}

/// The `message` (or `error`) of a JSON object body.
fn json_message(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    ["message", "error", "detail"]
        .iter()
        .find_map(|key| match value.get(key)? {
            serde_json::Value::String(said) => Some(said.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
}

/// `Code: Message` of an XML error answer such as AWS's `ErrorResponse`.
fn xml_error(text: &str) -> Option<String> {
    let element = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(text[start..end].trim().to_string())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (None, Some(message)) => Some(message),
        (Some(code), None) => Some(code),
        (None, None) => None,
    }
}

/// The standard reason phrase of the statuses servers commonly answer with.
fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// A denied request is `Denied`; a request the server cannot understand `Failed`; connection
/// problems are worth trying again.
fn http_error(code: ErrorCode) -> Error {
    let said = describe(&code);
    match code {
        ErrorCode::HttpRequestDenied => Error::Denied(said),
        ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpProtocolError
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::TlsCertificateError
        | ErrorCode::DestinationIpProhibited => {
            Error::Failed(format!("HTTP request failed: {said}"))
        }
        _ => Error::Transient(format!("HTTP request failed: {said}")),
    }
}

/// A `wasi:http` error code in words.
fn describe(code: &ErrorCode) -> String {
    let text = match code {
        ErrorCode::DnsTimeout => "the host name could not be resolved in time",
        ErrorCode::DnsError(payload) => {
            return match &payload.rcode {
                Some(detail) => format!("cannot resolve the host name ({detail})"),
                None => "cannot resolve the host name".into(),
            };
        }
        ErrorCode::DestinationNotFound => "the destination was not found",
        ErrorCode::DestinationUnavailable => "the destination is unavailable",
        ErrorCode::DestinationIpProhibited => "the destination address is prohibited",
        ErrorCode::DestinationIpUnroutable => "the destination address is unreachable",
        ErrorCode::ConnectionRefused => "connection refused",
        ErrorCode::ConnectionTerminated => "the connection was closed by the server",
        ErrorCode::ConnectionTimeout => "timed out",
        ErrorCode::ConnectionReadTimeout => "timed out waiting for the server",
        ErrorCode::ConnectionWriteTimeout => "timed out sending to the server",
        ErrorCode::ConnectionLimitReached => "too many connections",
        ErrorCode::TlsProtocolError => "the TLS handshake failed",
        ErrorCode::TlsCertificateError => {
            "the server's certificate was refused (not trusted, or not for this host name)"
        }
        ErrorCode::TlsAlertReceived(_) => "the server ended the TLS handshake",
        ErrorCode::HttpRequestDenied => {
            "outbound HTTP to this address is not allowed (not in the plugin's allow.http)"
        }
        ErrorCode::HttpRequestLengthRequired => "the server requires a content length",
        ErrorCode::HttpRequestBodySize(_) => "the request body is too large",
        ErrorCode::HttpRequestMethodInvalid => "the request method is not valid",
        ErrorCode::HttpRequestUriInvalid => "the URL is not valid",
        ErrorCode::HttpRequestUriTooLong => "the URL is too long",
        ErrorCode::HttpRequestHeaderSectionSize(_) | ErrorCode::HttpRequestHeaderSize(_) => {
            "the request headers are too large"
        }
        ErrorCode::HttpRequestTrailerSectionSize(_) | ErrorCode::HttpRequestTrailerSize(_) => {
            "the request trailers are too large"
        }
        ErrorCode::HttpResponseIncomplete => "the server's answer was cut short",
        ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
            "the response headers are too large"
        }
        ErrorCode::HttpResponseBodySize(_) => "the response body is too large",
        ErrorCode::HttpResponseTrailerSectionSize(_) | ErrorCode::HttpResponseTrailerSize(_) => {
            "the response trailers are too large"
        }
        ErrorCode::HttpResponseTransferCoding(_) => "the response's transfer coding is not valid",
        ErrorCode::HttpResponseContentCoding(_) => "the response's content coding is not valid",
        ErrorCode::HttpResponseTimeout => "the server did not answer in time",
        ErrorCode::HttpUpgradeFailed => "the connection upgrade failed",
        ErrorCode::HttpProtocolError => "the server broke the HTTP protocol",
        ErrorCode::LoopDetected => "a request loop was detected",
        ErrorCode::ConfigurationError => "the host's HTTP configuration is not valid",
        ErrorCode::InternalError(Some(detail)) => return detail.clone(),
        ErrorCode::InternalError(None) => "internal error",
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert!(!url.is_https());
        assert_eq!(url.authority(), "127.0.0.1:8080");
        assert_eq!(url.path_and_query(), "/hook?x=1");
        assert_eq!(
            Url::parse("https://example.com?x=1")
                .unwrap()
                .path_and_query(),
            "/?x=1"
        );
        assert_eq!(
            Url::parse("https://user@example.com/"),
            Err(Error::InvalidConfig(
                "url \"https://user@example.com/\" is not valid: it must name a host (without user information)"
                    .into()
            ))
        );
        assert_eq!(
            "example.com".parse::<Url>(),
            Err(Error::InvalidConfig(
                "url \"example.com\" is not valid: it must start with http:// or https://".into()
            ))
        );
    }

    #[test]
    fn the_request_sets_content_length_from_the_body() {
        let post = Request::post("https://example.com/")
            .header("Content-Length", "999")
            .header("x-a", "1")
            .body("hello");
        assert_eq!(
            post.headers_to_send(5),
            vec![
                ("x-a".to_string(), b"1".to_vec()),
                ("content-length".to_string(), b"5".to_vec())
            ]
        );
        let empty_post = Request::post("https://example.com/");
        assert_eq!(
            empty_post.headers_to_send(0),
            vec![("content-length".to_string(), b"0".to_vec())]
        );
        assert_eq!(
            Request::get("https://example.com/").headers_to_send(0),
            Vec::new()
        );
    }

    #[test]
    fn json_bodies_get_a_content_type_unless_one_is_given() {
        let request = Request::put("https://example.com/").json(&serde_json::json!({"a": 1}));
        assert_eq!(request.body, Ok(br#"{"a":1}"#.to_vec()));
        assert_eq!(
            request.headers,
            vec![("content-type".to_string(), b"application/json".to_vec())]
        );
        let request = Request::put("https://example.com/")
            .header("Content-Type", "application/cloudevents+json")
            .json(&[1, 2]);
        assert_eq!(
            request.headers,
            vec![(
                "Content-Type".to_string(),
                b"application/cloudevents+json".to_vec()
            )]
        );
    }

    #[test]
    fn a_bad_url_is_reported_when_sending() {
        let sent = Request::delete("mailto:someone@example.com").send();
        assert_eq!(
            sent,
            Err(Error::InvalidConfig(
                "url \"mailto:someone@example.com\" is not valid: it must start with http:// or https://"
                    .into()
            ))
        );
    }
}
