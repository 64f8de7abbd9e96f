//! Capabilities granted to a plugin: outbound HTTP origins, directories, environment variables,
//! the command capability. A component that imports a capability it was not granted is refused
//! when it is loaded.

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// What one plugin may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Origins the plugin may send HTTP requests to. `None`: no outbound HTTP at all (a
    /// component importing it is refused); `Some` with an empty list: linked, every request denied.
    pub http: Option<Vec<HttpOrigin>>,
    /// Host directories visible to the plugin.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the plugin sees (name, value).
    pub env: Vec<(String, String)>,
    /// The host's command capability.
    pub command: bool,
    /// Accept any TLS certificate on outbound HTTPS (a trigger's `verify: false`).
    pub insecure_tls: bool,
}

/// A scheme, host and port, e.g. `https://sns.eu-west-1.amazonaws.com:443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOrigin {
    pub https: bool,
    /// Lower case.
    pub host: String,
    pub port: u16,
}

impl HttpOrigin {
    /// The origin of a URL (`http://host[:port]/...`); `None` if it is not an HTTP(S) URL.
    pub fn of_url(url: &str) -> Option<HttpOrigin> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return None;
        };
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        HttpOrigin::of_authority(https, authority)
    }

    /// The origin of a request's scheme and authority (`host`, `host:port`, `[v6]:port`).
    pub fn of_authority(https: bool, authority: &str) -> Option<HttpOrigin> {
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port))
                if !host.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) =>
            {
                (host, port.parse().ok()?)
            }
            _ => (authority, default_port),
        };
        Some(HttpOrigin {
            https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for HttpOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// A host directory mounted into the plugin at the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    pub path: PathBuf,
    pub writable: bool,
}

/// Refuses a component that imports `command` or `wasi:http` without the grant.
pub(super) fn check_imports(
    engine: &Engine,
    component: &Component,
    grants: &Grants,
) -> Result<(), String> {
    let component_type = component.component_type();
    for (name, item) in component_type.imports(engine) {
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            continue;
        }
        if name.starts_with("aviso:plugin/command@") && !grants.command {
            return Err(
                "it imports the command capability (aviso:plugin/command), which was not granted"
                    .into(),
            );
        }
        if name.starts_with("wasi:http/") && grants.http.is_none() {
            return Err(format!(
                "it imports outbound HTTP ({name}), which was not granted: list the hosts it may reach in 'allow: http'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        let origin = |url| HttpOrigin::of_url(url).map(|o| o.to_string());
        assert_eq!(
            origin("http://localhost:8080/x?y").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            origin("https://My.Endpoint.com/").as_deref(),
            Some("https://my.endpoint.com:443")
        );
        assert_eq!(
            origin("http://127.0.0.1").as_deref(),
            Some("http://127.0.0.1:80")
        );
        assert_eq!(
            origin("http://[::1]:9000/a").as_deref(),
            Some("http://::1:9000")
        );
        assert_eq!(origin("ftp://x"), None);
        assert_eq!(origin("http://user@host/"), None);
        assert_eq!(origin("http:///path"), None);
    }
}
