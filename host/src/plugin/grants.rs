//! Capabilities granted to a plugin: outbound HTTP origins, directories, environment variables,
//! the command capability. A component that imports a capability it was not granted is refused
//! when it is loaded.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// A host directory mounted into the plugin. It is opened once, when the grant is checked, and
/// every call mounts that open directory: renaming or swapping a path on the way (a symlink put
/// in place of a directory) after the check changes nothing.
#[derive(Debug, Clone)]
pub struct DirGrant {
    /// Where the plugin sees it: the path as granted, made absolute.
    pub path: PathBuf,
    /// What it really is: `..` and symlinks resolved, read back from the open directory.
    pub real_path: PathBuf,
    pub writable: bool,
    opened: Arc<std::fs::File>,
}

impl PartialEq for DirGrant {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, &self.real_path, self.writable)
            == (&other.path, &other.real_path, other.writable)
    }
}

impl Eq for DirGrant {}

impl DirGrant {
    /// Opens the directory at `path` (following symlinks, as the user meant) and learns where
    /// it really is.
    pub fn open(path: &Path, writable: bool) -> Result<DirGrant, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let absolute = std::path::absolute(path).map_err(|e| e.to_string())?;
        let opened = std::fs::OpenOptions::new()
            .read(true)
            // A handle on the directory itself, that grants no access by itself.
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&absolute)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTDIR) => "it is not a directory".to_string(),
                Some(libc::ENOENT) => "no such directory".to_string(),
                _ => without_os_error_number(&e),
            })?;
        let handle = descriptor_path(&opened);
        let real_path = std::fs::read_link(&handle).map_err(|e| {
            format!(
                "cannot tell where it leads: {}",
                without_os_error_number(&e)
            )
        })?;
        if !real_path.is_absolute() {
            return Err(format!(
                "cannot tell where it leads ({})",
                real_path.display()
            ));
        }
        Ok(DirGrant {
            path: absolute,
            real_path,
            writable,
            opened: Arc::new(opened),
        })
    }

    /// A path that names the directory opened at the check, whatever happened since.
    pub(super) fn opened_path(&self) -> PathBuf {
        descriptor_path(&self.opened)
    }

    /// Whether this directory is `root` or below it, both with symlinks and `..` resolved. A
    /// root that does not exist holds nothing.
    pub fn is_within(&self, root: &Path) -> bool {
        std::fs::canonicalize(root).is_ok_and(|root| self.real_path.starts_with(root))
    }
}

/// `/proc/self/fd/N`: opening it opens the very object the descriptor refers to.
fn descriptor_path(file: &std::fs::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// An I/O error as a person reads it: "Permission denied", not "Permission denied (os error 13)".
fn without_os_error_number(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
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

/// Words in a plugin's error that mean a file could not be reached.
const FILE_REFUSALS: &[&str] = &[
    "No such file or directory",
    "Permission denied",
    "Operation not permitted",
    "Capabilities insufficient",
    "Read-only file system",
    "not found",
];

impl Grants {
    /// A plugin's error message as the user should read it: without WASI's error numbers, and,
    /// when it names a path the plugin could not reach because of its grants, with the grant
    /// that is missing. Inside the sandbox an ungranted directory does not exist, so the
    /// plugin's own words ("No such file or directory") would send the user looking for a file
    /// that is there.
    pub fn explain(&self, message: &str) -> String {
        let message = crate::cause::strip_os_error_number(message);
        // A plugin that runs host commands reports what they say: the host's own refusals
        // (a script without execute permission), which no grant changes.
        if self.command
            || !FILE_REFUSALS
                .iter()
                .any(|refusal| message.contains(refusal))
        {
            return message;
        }
        let writing = ["write", "creat", "Read-only", "rename", "remove", "delete"]
            .iter()
            .any(|verb| message.contains(verb));
        for path in absolute_paths(&message) {
            let covering = self
                .dirs
                .iter()
                .filter(|grant| path.starts_with(&grant.path))
                .max_by_key(|grant| grant.path.as_os_str().len());
            let hint = match covering {
                Some(grant) if writing && !grant.writable => format!(
                    "the plugin may only read {}: add it to allow.write to write there",
                    grant.path.display()
                ),
                Some(_) => continue,
                None => {
                    // The nearest folder that exists on the host: what to grant.
                    let Some(folder) = path.ancestors().skip(1).find(|a| a.is_dir()) else {
                        continue;
                    };
                    if folder == Path::new("/") && !path.exists() {
                        continue; // nothing of it exists outside the sandbox either
                    }
                    let folder = if path.is_dir() { &path } else { folder };
                    format!(
                        "the plugin was not granted {}: add it to {} in the trigger or the site policy",
                        folder.display(),
                        if writing {
                            "allow.write"
                        } else {
                            "allow.read (or allow.write)"
                        }
                    )
                }
            };
            return format!("{message} ({hint})");
        }
        message
    }
}

/// The absolute paths a message names, in order.
fn absolute_paths(message: &str) -> Vec<PathBuf> {
    message
        .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | ','))
        .filter(|word| word.starts_with('/') && word.len() > 1)
        .map(|word| lexically_normal(Path::new(word.trim_end_matches([':', '.', ';']))))
        .collect()
}

/// `path` with `.` and `..` resolved by name, as the plugin's own path resolution does.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_grant_is_what_the_path_really_leads_to() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        std::fs::create_dir(&allowed).unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();

        let dotdot = DirGrant::open(&allowed.join("../outside"), false).unwrap();
        assert!(!dotdot.is_within(&allowed));
        assert!(dotdot.is_within(root.path()));
        let through_link = DirGrant::open(&allowed.join("link"), false).unwrap();
        assert_eq!(through_link.real_path, outside.canonicalize().unwrap());
        assert!(!through_link.is_within(&allowed));
        // The policy root itself through a symlink is resolved too.
        std::os::unix::fs::symlink(&allowed, root.path().join("alias")).unwrap();
        let inside = DirGrant::open(&allowed, true).unwrap();
        assert!(inside.is_within(&root.path().join("alias")));
        assert!(!inside.is_within(&root.path().join("missing")));
    }

    #[test]
    fn the_opened_directory_is_kept_when_the_path_is_swapped() {
        let root = tempfile::tempdir().unwrap();
        let granted = root.path().join("granted");
        std::fs::create_dir(&granted).unwrap();
        std::fs::write(granted.join("mine"), "mine").unwrap();
        let grant = DirGrant::open(&granted, false).unwrap();
        // Swap the path for a symlink to elsewhere after the check.
        std::fs::rename(&granted, root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink("/etc", &granted).unwrap();
        let seen = grant.opened_path().join("mine");
        assert_eq!(std::fs::read_to_string(seen).unwrap(), "mine");
    }

    #[test]
    fn a_grant_of_a_file_or_nothing_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), "").unwrap();
        assert_eq!(
            DirGrant::open(&root.path().join("f"), false).unwrap_err(),
            "it is not a directory"
        );
        assert_eq!(
            DirGrant::open(&root.path().join("none"), false).unwrap_err(),
            "no such directory"
        );
    }

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

    #[test]
    fn a_refused_path_names_the_missing_grant() {
        let root = tempfile::tempdir().unwrap();
        let (granted, other) = (root.path().join("granted"), root.path().join("board"));
        std::fs::create_dir(&granted).unwrap();
        std::fs::create_dir(&other).unwrap();
        let grants = Grants {
            dirs: vec![DirGrant::open(&granted, false).unwrap()],
            ..Grants::default()
        };
        let outside = other.join("board.txt");
        assert_eq!(
            grants.explain(&format!(
                "cannot write {}: No such file or directory (os error 44)",
                outside.display()
            )),
            format!(
                "cannot write {}: No such file or directory (the plugin was not granted {}: add it to allow.write in the trigger or the site policy)",
                outside.display(),
                other.display()
            )
        );
        let inside = granted.join("x.txt");
        assert_eq!(
            grants.explain(&format!(
                "cannot create {}: Read-only file system",
                inside.display()
            )),
            format!(
                "cannot create {}: Read-only file system (the plugin may only read {}: add it to allow.write to write there)",
                inside.display(),
                granted.display()
            )
        );
        // A file that is really missing from a granted folder, and messages about other things.
        let missing = format!(
            "cannot read {}: No such file or directory",
            inside.display()
        );
        assert_eq!(grants.explain(&missing), missing);
        assert_eq!(
            grants.explain("cannot read /nonexistent-root-xyz/f: No such file or directory"),
            "cannot read /nonexistent-root-xyz/f: No such file or directory"
        );
        assert_eq!(grants.explain("status 500 (os error 5)"), "status 500");
        // What host commands say is not about the sandbox.
        let commands = Grants {
            command: true,
            ..grants.clone()
        };
        let refused = "command exited with status 126: /bin/sh: 1: ./x.sh: Permission denied";
        assert_eq!(commands.explain(refused), refused);
    }
}
