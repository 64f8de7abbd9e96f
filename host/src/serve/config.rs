//! The files of a trigger service: the service file (`serve.yaml`) and each tenant's folder
//! (`tenants/<name>/`: an optional `tenant.yaml`, `listeners/*.yaml`, `plugins/*.wasm`).
//! Everything is checked when read, and every problem is named with the file and the setting:
//! a tenant folder that cannot be used is refused on its own, the others run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::yaml::{self, YamlValue};

/// `serve.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFile {
    pub path: PathBuf,
    /// The `notification_engine:` section, as in `config.yaml`.
    pub notification_engine: Option<YamlValue>,
    /// Cursors, dead letters and logs of every tenant (`<state_dir>/tenants/<name>/`).
    pub state_dir: PathBuf,
    /// One folder per tenant.
    pub tenants_dir: PathBuf,
    pub api: ApiSettings,
    /// The site policy: the most any tenant's plugins may be granted.
    pub plugins: Option<YamlValue>,
    /// `log_format: json`: each log line a JSON object, for log collectors (default `text`).
    pub log_json: bool,
    /// How long running triggers may take to finish once the service is asked to stop
    /// (`stop_timeout`, seconds; default 30); then running commands are killed.
    pub stop_timeout: std::time::Duration,
}

/// How long running triggers may take to finish when the service stops, unless said.
pub const DEFAULT_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The management API (`api:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// SHA-256 of the administrator's token; without it, only tenants' tokens are accepted.
    pub admin_token_sha256: Option<TokenHash>,
    /// `tls: {certificate, key}`: PEM files; the API answers over HTTPS only.
    pub tls: Option<ApiTls>,
}

/// The management API's certificate chain and private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// A token's SHA-256, as the files hold it (64 hex digits): the token itself is never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn parse(hex: &str) -> Result<TokenHash, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "'{hex}' is not a SHA-256 in hex (64 digits): make one with `printf %s TOKEN | sha256sum`"
            ));
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(TokenHash(bytes))
    }

    /// Whether `token` hashes to this; compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        given
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

/// What one tenant may use at most (`quotas:`); `None`: the site's default, no own bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    pub listeners: Option<u64>,
    pub concurrent_calls: Option<u64>,
    /// In thousandths of a second, so that a fraction can be given.
    pub cpu_millis_per_minute: Option<u64>,
    pub memory_per_call_mib: Option<u64>,
    pub memory_total_mib: Option<u64>,
    pub deliveries_per_minute: Option<u64>,
    pub log_bytes_per_minute: Option<u64>,
    /// Its share of the sandboxes when they are all busy; 1 unless said.
    pub weight: Option<u64>,
}

const QUOTAS: &[&str] = &[
    "listeners",
    "concurrent_calls",
    "cpu_seconds_per_minute",
    "memory_per_call",
    "memory_total",
    "deliveries_per_minute",
    "log_bytes_per_minute",
    "weight",
];

/// One tenant's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantFolder {
    pub name: String,
    pub dir: PathBuf,
    /// Its API token's hash (`token_sha256`); without it, only the administrator reaches it.
    pub token_sha256: Option<TokenHash>,
    /// Its own `plugins:` section, which may only narrow the site's.
    pub plugins: Option<YamlValue>,
    pub quotas: Quotas,
    /// `listeners/*.yaml` (and `.yml`), in name order.
    pub listener_files: Vec<PathBuf>,
    /// `plugins/*.wasm`, in name order: listeners refer to them by file name.
    pub plugin_files: Vec<PathBuf>,
}

/// The tenant folders found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantScan {
    pub usable: Vec<TenantFolder>,
    pub refused: Vec<RefusedTenant>,
}

/// A tenant folder that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedTenant {
    pub dir: PathBuf,
    pub reason: String,
}

impl RefusedTenant {
    /// The tenant's name: its folder's.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

const SERVICE_SETTINGS: &[&str] = &[
    "log_format",
    "notification_engine",
    "state_dir",
    "tenants_dir",
    "api",
    "plugins",
    "stop_timeout",
];
const API_SETTINGS: &[&str] = &["listen", "admin_token_sha256", "tls"];
const TLS_SETTINGS: &[&str] = &["certificate", "key"];
const TENANT_SETTINGS: &[&str] = &["token_sha256", "plugins", "quotas"];

impl ServiceFile {
    /// Reads and checks `serve.yaml`; relative folders are taken from the file's own folder.
    pub fn read(path: &Path) -> Result<ServiceFile, String> {
        let document = read_yaml(path)?;
        let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let wrong = |what: String| format!("{}: {what}", path.display());
        let entries = document.as_map().ok_or_else(|| {
            wrong(format!(
                "expected a mapping of settings, found {}",
                document.kind()
            ))
        })?;
        known_keys(entries, SERVICE_SETTINGS, "").map_err(wrong)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let folder = |key: &str| -> Result<PathBuf, String> {
            let text = document
                .get(key)
                .and_then(YamlValue::as_scalar)
                .ok_or_else(|| wrong(format!("{key} is a mandatory setting (a folder)")))?;
            let expanded =
                crate::config::expand_user_path(text).map_err(|e| wrong(format!("{key}: {e}")))?;
            Ok(base.join(expanded))
        };
        let state_dir = folder("state_dir")?;
        let tenants_dir = folder("tenants_dir")?;
        let api = document.get("api").ok_or_else(|| {
            wrong("api is a mandatory setting: {listen: \"127.0.0.1:8090\"}".into())
        })?;
        let api_entries = api
            .as_map()
            .ok_or_else(|| wrong(format!("api must be a mapping, found {}", api.kind())))?;
        known_keys(api_entries, API_SETTINGS, "api.").map_err(wrong)?;
        let listen = api
            .get("listen")
            .and_then(YamlValue::as_scalar)
            .ok_or_else(|| wrong("api.listen is a mandatory setting (an address and port, such as 127.0.0.1:8090)".into()))?;
        let listen = listen.parse::<SocketAddr>().map_err(|_| {
            wrong(format!(
                "api.listen '{listen}' is not an address and port, such as 127.0.0.1:8090"
            ))
        })?;
        let admin_token_sha256 = api
            .get("admin_token_sha256")
            .and_then(YamlValue::as_scalar)
            .map(TokenHash::parse)
            .transpose()
            .map_err(|e| wrong(format!("api.admin_token_sha256: {e}")))?;
        let tls = match api.get("tls") {
            None | Some(YamlValue::Null) => None,
            Some(tls) => {
                let entries = tls.as_map().ok_or_else(|| {
                    wrong(format!(
                        "api.tls must be a mapping {{certificate: FILE, key: FILE}}, found {}",
                        tls.kind()
                    ))
                })?;
                known_keys(entries, TLS_SETTINGS, "api.tls.").map_err(wrong)?;
                let file = |key: &str| -> Result<PathBuf, String> {
                    let text = tls.get(key).and_then(YamlValue::as_scalar).ok_or_else(|| {
                        wrong(format!("api.tls.{key} is a mandatory setting (a PEM file)"))
                    })?;
                    let expanded = crate::config::expand_user_path(text)
                        .map_err(|e| wrong(format!("api.tls.{key}: {e}")))?;
                    Ok(base.join(expanded))
                };
                Some(ApiTls {
                    certificate: file("certificate")?,
                    key: file("key")?,
                })
            }
        };
        let log_json = match document.get("log_format").and_then(YamlValue::as_scalar) {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(wrong(format!(
                    "log_format '{other}' is not a format: use text or json"
                )));
            }
        };
        let stop_timeout = match document.get("stop_timeout") {
            None | Some(YamlValue::Null) => DEFAULT_STOP_TIMEOUT,
            Some(value) => value
                .as_scalar()
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && (0.0..=86_400.0).contains(seconds))
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| {
                    wrong(format!(
                        "stop_timeout must be a number of seconds from 0 to 86400, found {value}"
                    ))
                })?,
        };
        Ok(ServiceFile {
            log_json,
            stop_timeout,
            path: path.to_path_buf(),
            notification_engine: document.get("notification_engine").cloned(),
            state_dir,
            tenants_dir,
            api: ApiSettings {
                listen,
                admin_token_sha256,
                tls,
            },
            plugins: document.get("plugins").cloned(),
        })
    }

    /// Every tenant folder, in name order: those that can be used, and for each that cannot,
    /// why. A tenants folder that cannot be read is an error.
    pub fn tenants(&self) -> Result<TenantScan, String> {
        let entries = std::fs::read_dir(&self.tenants_dir).map_err(|e| {
            format!(
                "cannot read the tenants folder {}: {}",
                self.tenants_dir.display(),
                crate::cause::io_error(&e)
            )
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        let mut scan = TenantScan::default();
        for dir in dirs {
            match TenantFolder::read(&dir) {
                Ok(tenant) => scan.usable.push(tenant),
                Err(reason) => scan.refused.push(RefusedTenant { dir, reason }),
            }
        }
        Ok(scan)
    }
}

impl TenantFolder {
    /// Reads and checks one tenant's folder.
    pub fn read(dir: &Path) -> Result<TenantFolder, String> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        check_tenant_name(&name)?;
        let file = dir.join("tenant.yaml");
        let (token_sha256, plugins, quotas) = if file.exists() {
            let document = read_yaml(&file)?;
            let wrong = |what: String| format!("{}: {what}", file.display());
            match &document {
                YamlValue::Null => (None, None, Quotas::default()),
                YamlValue::Map(entries) => {
                    known_keys(entries, TENANT_SETTINGS, "").map_err(wrong)?;
                    let token = document
                        .get("token_sha256")
                        .and_then(YamlValue::as_scalar)
                        .map(TokenHash::parse)
                        .transpose()
                        .map_err(|e| wrong(format!("token_sha256: {e}")))?;
                    let quotas = match document.get("quotas") {
                        None | Some(YamlValue::Null) => Quotas::default(),
                        Some(section) => read_quotas(section).map_err(wrong)?,
                    };
                    (token, document.get("plugins").cloned(), quotas)
                }
                other => {
                    return Err(wrong(format!(
                        "expected a mapping of settings, found {}",
                        other.kind()
                    )));
                }
            }
        } else {
            (None, None, Quotas::default())
        };
        let listener_files = files_ending(&dir.join("listeners"), &["yaml", "yml"])?;
        if listener_files.is_empty() {
            return Err(format!(
                "{} holds no listener file: put the tenant's listeners in {}/*.yaml",
                dir.display(),
                dir.join("listeners").display()
            ));
        }
        let plugin_files = files_ending(&dir.join("plugins"), &["wasm"])?;
        Ok(TenantFolder {
            name,
            dir: dir.to_path_buf(),
            token_sha256,
            plugins,
            quotas,
            listener_files,
            plugin_files,
        })
    }
}

/// Tenant names become folder names, log tags and URL parts: letters, digits, `-` and `_`,
/// starting with a letter or digit.
pub fn check_tenant_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "'{name}' cannot be a tenant's name: use up to 64 letters, digits, - and _, starting with a letter or digit"
        ))
    }
}

fn read_yaml(path: &Path) -> Result<YamlValue, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {}",
            path.display(),
            crate::cause::io_error(&e)
        )
    })?;
    yaml::parse(&text).map_err(|e| format!("{}: {}", path.display(), e.0))
}

/// Every key is one of `known`; else the first that is not, with the key meant.
fn known_keys(entries: &[(String, YamlValue)], known: &[&str], prefix: &str) -> Result<(), String> {
    match entries
        .iter()
        .find(|(key, _)| !known.contains(&key.as_str()))
    {
        None => Ok(()),
        Some((key, _)) => Err(format!(
            "'{prefix}{key}' is not a setting{}",
            crate::suggest::hint(key, known)
        )),
    }
}

fn read_quotas(section: &YamlValue) -> Result<Quotas, String> {
    let entries = section
        .as_map()
        .ok_or_else(|| format!("quotas must be a mapping, found {}", section.kind()))?;
    known_keys(entries, QUOTAS, "quotas.")?;
    let number = |key: &str| -> Result<Option<u64>, String> {
        match section.get(key) {
            None | Some(YamlValue::Null) => Ok(None),
            Some(value) => value
                .as_scalar()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| {
                    format!("quotas.{key} must be a whole number above 0, found {value}")
                }),
        }
    };
    let cpu_millis = match section.get("cpu_seconds_per_minute") {
        None | Some(YamlValue::Null) => None,
        Some(value) => Some(
            value
                .as_scalar()
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.001 && *seconds <= 1e9)
                .map(|seconds| (seconds * 1000.0).round() as u64)
                .ok_or_else(|| {
                    format!(
                        "quotas.cpu_seconds_per_minute must be a number of seconds of at least 0.001, found {value}"
                    )
                })?,
        ),
    };
    let weight = number("weight")?;
    if let Some(weight) = weight
        && weight > 1000
    {
        return Err(format!(
            "quotas.weight must be from 1 to 1000, found {weight}"
        ));
    }
    Ok(Quotas {
        listeners: number("listeners")?,
        concurrent_calls: number("concurrent_calls")?,
        cpu_millis_per_minute: cpu_millis,
        weight,
        memory_per_call_mib: number("memory_per_call")?,
        memory_total_mib: number("memory_total")?,
        deliveries_per_minute: number("deliveries_per_minute")?,
        log_bytes_per_minute: number("log_bytes_per_minute")?,
    })
}

/// The files of `dir` whose names end in one of `extensions`, in name order; none when the
/// folder does not exist.
fn files_ending(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read {}: {}",
                dir.display(),
                crate::cause::io_error(&e)
            ));
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_service_file_is_read_with_its_folders_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("serve.yaml");
        write(
            &file,
            &format!(
                "notification_engine: {{type: file_based}}\nstate_dir: state\ntenants_dir: tenants\napi: {{listen: \"127.0.0.1:8090\", admin_token_sha256: {TOKEN_HASH}}}\nplugins: {{allow: {{command: false}}}}\n"
            ),
        );
        let service = ServiceFile::read(&file).unwrap();
        assert_eq!(service.state_dir, root.path().join("state"));
        assert_eq!(service.tenants_dir, root.path().join("tenants"));
        assert_eq!(service.api.listen, "127.0.0.1:8090".parse().unwrap());
        let admin = service.api.admin_token_sha256.unwrap();
        assert!(admin.matches("test"));
        assert!(!admin.matches("tset"));
        assert!(service.plugins.is_some() && service.notification_engine.is_some());
    }

    #[test]
    fn service_file_mistakes_are_named() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("serve.yaml");
        for (text, said) in [
            (
                "state_dir: s\ntenant_dir: t\napi: {listen: \"127.0.0.1:1\"}\n",
                "'tenant_dir' is not a setting (did you mean 'tenants_dir' or 'state_dir'?)",
            ),
            (
                "state_dir: s\napi: {listen: \"127.0.0.1:1\"}\n",
                "tenants_dir is a mandatory setting (a folder)",
            ),
            (
                "state_dir: s\ntenants_dir: t\napi: {listen: localhost}\n",
                "api.listen 'localhost' is not an address and port, such as 127.0.0.1:8090",
            ),
            (
                "state_dir: s\ntenants_dir: t\napi: {listen: \"127.0.0.1:1\", admin_token: x}\n",
                "'api.admin_token' is not a setting (did you mean 'admin_token_sha256'?)",
            ),
            (
                "state_dir: s\ntenants_dir: t\napi: {listen: \"127.0.0.1:1\", admin_token_sha256: secret}\n",
                "api.admin_token_sha256: 'secret' is not a SHA-256 in hex (64 digits)",
            ),
        ] {
            write(&file, text);
            let error = ServiceFile::read(&file).unwrap_err();
            assert!(
                error.starts_with(&format!("{}: ", file.display())) && error.contains(said),
                "{text}: {error}"
            );
        }
        let error = ServiceFile::read(&root.path().join("missing.yaml")).unwrap_err();
        assert!(
            error.ends_with("missing.yaml: no such file or directory"),
            "{error}"
        );
    }

    #[test]
    fn tenant_folders_are_read_each_on_its_own() {
        let root = tempfile::tempdir().unwrap();
        let tenants = root.path().join("tenants");
        write(&tenants.join("alpha/listeners/b.yaml"), "listeners: []\n");
        write(&tenants.join("alpha/listeners/a.yml"), "listeners: []\n");
        write(&tenants.join("alpha/listeners/notes.txt"), "not a listener");
        write(&tenants.join("alpha/plugins/board.wasm"), "\0asm");
        write(
            &tenants.join("alpha/tenant.yaml"),
            &format!(
                "token_sha256: {TOKEN_HASH}\nquotas: {{listeners: 10, cpu_seconds_per_minute: 30}}\nplugins: {{allow: {{http: []}}}}\n"
            ),
        );
        write(&tenants.join("beta/listeners/x.yaml"), "listeners: []\n");
        write(&tenants.join("empty/tenant.yaml"), "");
        write(&tenants.join("typo/listeners/x.yaml"), "");
        write(&tenants.join("typo/tenant.yaml"), "quota: {listeners: 1}\n");
        write(&tenants.join("bad quota/listeners/x.yaml"), "");
        write(&tenants.join("zero/listeners/x.yaml"), "");
        write(
            &tenants.join("zero/tenant.yaml"),
            "quotas: {listeners: 0}\n",
        );
        let service = ServiceFile {
            path: root.path().join("serve.yaml"),
            notification_engine: None,
            state_dir: root.path().join("state"),
            tenants_dir: tenants.clone(),
            api: ApiSettings {
                listen: "127.0.0.1:0".parse().unwrap(),
                admin_token_sha256: None,
                tls: None,
            },
            plugins: None,
            log_json: false,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        };
        let TenantScan {
            usable: ok,
            refused,
        } = service.tenants().unwrap();
        let names: Vec<&str> = ok.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta"]);
        let alpha = &ok[0];
        assert_eq!(
            alpha.listener_files,
            [
                tenants.join("alpha/listeners/a.yml"),
                tenants.join("alpha/listeners/b.yaml")
            ]
        );
        assert_eq!(
            alpha.plugin_files,
            [tenants.join("alpha/plugins/board.wasm")]
        );
        assert!(alpha.token_sha256.unwrap().matches("test"));
        assert_eq!(alpha.quotas.listeners, Some(10));
        assert_eq!(alpha.quotas.cpu_millis_per_minute, Some(30_000));
        assert!(alpha.plugins.is_some());
        assert_eq!(ok[1].quotas, Quotas::default());
        assert_eq!(ok[1].token_sha256, None);

        let reason = |name: &str| {
            refused
                .iter()
                .find(|refusal| refusal.dir.ends_with(name))
                .map(|refusal| refusal.reason.clone())
                .unwrap_or_else(|| panic!("{name} was not refused: {refused:?}"))
        };
        assert!(reason("bad quota").contains("cannot be a tenant's name"));
        assert!(reason("empty").contains("holds no listener file"));
        assert!(
            reason("typo").contains("'quota' is not a setting (did you mean 'quotas'?)"),
            "{}",
            reason("typo")
        );
        assert!(
            reason("zero").contains("quotas.listeners must be a whole number above 0, found 0")
        );
        assert_eq!(refused.len(), 4);
    }

    #[test]
    fn tenant_names_fit_folders_tags_and_urls() {
        for good in ["alpha", "team-2", "a_b", "7"] {
            assert_eq!(check_tenant_name(good), Ok(()), "{good}");
        }
        for bad in ["", ".hidden", "-x", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(check_tenant_name(bad).is_err(), "{bad}");
        }
    }
}
