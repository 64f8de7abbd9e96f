//! A minimal HTTP client over `wasi:http/outgoing-handler`.

use aviso_sdk::Error;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

/// An `http://` or `https://` URL, split as `wasi:http` wants it.
pub struct Url {
    pub https: bool,
    pub authority: String,
    pub path_and_query: String,
}

impl Url {
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
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Largest response body kept (for error messages).
const MAX_RESPONSE_BODY: usize = 64 * 1024;

pub fn post(
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    timeout_seconds: f64,
) -> Result<Response, Error> {
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields)
        .map_err(|e| Error::InvalidConfig(format!("invalid header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let refused =
        |what: &str| Error::Failed(format!("the HTTP request was refused: invalid {what}"));
    request
        .set_method(&Method::Post)
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

    let options = RequestOptions::new();
    let nanos = (timeout_seconds * 1e9) as u64;
    // Hosts may not support every timeout; what they refuse is left to their defaults.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let outgoing_body = request.body().map_err(|_| refused("body"))?;
    let future = outgoing_handler::handle(request, Some(options)).map_err(http_error)?;
    {
        let stream = outgoing_body.write().map_err(|_| refused("body stream"))?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| Error::Transient(format!("sending the request failed: {e:?}")))?;
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
    let mut collected = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(stream) = incoming.stream()
    {
        while collected.len() < MAX_RESPONSE_BODY {
            match stream.blocking_read(4096) {
                Ok(bytes) => collected.extend_from_slice(&bytes),
                Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
            }
        }
    }
    Ok(Response {
        status,
        body: collected,
    })
}

/// A denied request is `denied`; connection problems are worth retrying.
fn http_error(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => {
            Error::Denied("outbound HTTP to this address is not allowed".into())
        }
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpProtocolError => {
            Error::Failed(format!("HTTP error: {code:?}"))
        }
        other => Error::Transient(format!("HTTP request failed: {other:?}")),
    }
}
