//! User plugins (`type: plugin`) and the site policy that bounds what a listener may grant them
//! (the configuration's `plugins:` section).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::CommonSettings;
use crate::plugin::{DirGrant, Grants, HttpOrigin, Limits, MAX_CONCURRENT_CALLS, MAX_MEMORY_BYTES};

/// The most any listener may grant a user plugin. Without a `plugins:` section, a listener may
/// grant any HTTP origin, directory and environment variable, but never the command capability.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginPolicy {
    /// `None`: any origin.
    pub http: Option<Vec<HttpOrigin>>,
    /// Directories (and everything below them) that may be granted read-only; `None`: any.
    pub read: Option<Vec<PathBuf>>,
    /// Directories that may be granted read-write; `None`: any.
    pub write: Option<Vec<PathBuf>>,
    /// Environment variables that may be passed; `None`: any.
    pub env: Option<Vec<String>>,
    pub command: bool,
    /// Memory a plugin gets when its listener does not say (`plugins.defaults.memory`).
    pub default_memory_bytes: usize,
    /// Time limit a plugin gets when its listener does not say (`plugins.defaults.timeout`).
    pub default_timeout: Option<Duration>,
    pub max_memory_bytes: usize,
    pub max_timeout: Duration,
    /// Plugin calls run at once in this process (`plugins.concurrent_calls`); `None`: a
    /// default that fits the machine.
    pub concurrent_calls: Option<usize>,
}

impl Default for PluginPolicy {
    fn default() -> Self {
        PluginPolicy {
            http: None,
            read: None,
            write: None,
            env: None,
            command: false,
            default_memory_bytes: Limits::default().memory_bytes,
            default_timeout: None,
            max_memory_bytes: 256 << 20,
            max_timeout: Duration::from_secs(3600),
            concurrent_calls: None,
        }
    }
}

impl PluginPolicy {
    /// Reads the site's `plugins:` section (as JSON): what it names replaces the defaults.
    /// The policy of the configuration's `plugins:` sections: the site's (or the default),
    /// narrowed by the later layers'. Returns it with a warning for each thing a later layer
    /// asked beyond the site's policy (left out).
    pub fn from_sections(
        sections: &crate::config::PluginSections,
    ) -> Result<(PluginPolicy, Vec<String>), String> {
        let mut policy = match &sections.site {
            None => PluginPolicy::default(),
            Some(section) => PluginPolicy::from_json(&section.to_json())?,
        };
        let mut warnings = Vec::new();
        for (section, origin) in &sections.narrowing {
            let (narrowed, more) = policy.narrowed_by(&section.to_json(), &origin.to_string())?;
            warnings.extend(more);
            policy = narrowed;
        }
        Ok((policy, warnings))
    }

    /// Plugin calls run at once in this process: `plugins.concurrent_calls`, or what fits the
    /// machine's memory.
    pub fn concurrent_calls(&self) -> usize {
        self.concurrent_calls
            .unwrap_or_else(|| crate::plugin::default_concurrent_calls(self.default_memory_bytes))
    }

    pub fn from_json(section: &Value) -> Result<PluginPolicy, String> {
        let section = PolicySection::read(section)?;
        let mut policy = PluginPolicy::default();
        if let Some(http) = section.http {
            policy.http = http;
        }
        if let Some(read) = section.read {
            policy.read = read;
        }
        if let Some(write) = section.write {
            policy.write = write;
        }
        if let Some(env) = section.env {
            policy.env = env;
        }
        if let Some(command) = section.command {
            policy.command = command;
        }
        if let Some(memory) = section.default_memory_bytes {
            policy.default_memory_bytes = memory;
        }
        if let Some(timeout) = section.default_timeout {
            policy.default_timeout = Some(timeout);
        }
        if let Some(memory) = section.max_memory_bytes {
            policy.max_memory_bytes = memory;
        }
        if let Some(timeout) = section.max_timeout {
            policy.max_timeout = timeout;
        }
        if let Some(calls) = section.concurrent_calls {
            policy.concurrent_calls = Some(calls);
        }
        Ok(policy)
    }

    /// This (the site's) policy as a later configuration layer narrows it: a layer may take
    /// capabilities away and lower limits, never add or raise. What a layer asks beyond the
    /// site's policy is left out, and each such entry is returned as a warning.
    pub fn narrowed_by(
        &self,
        section: &Value,
        origin: &str,
    ) -> Result<(PluginPolicy, Vec<String>), String> {
        let section = PolicySection::read(section)?;
        let mut policy = self.clone();
        let mut warnings = Vec::new();
        let mut beyond = |setting: &str, entry: &dyn std::fmt::Display| {
            warnings.push(format!(
                "plugins.{setting} {entry} in {origin} is ignored: the site policy does not allow it"
            ))
        };
        if let Some(Some(asked)) = section.http {
            policy.http = Some(narrow_list(
                &self.http,
                asked,
                |allowed, o| allowed.contains(o),
                |o| beyond("allow.http", o),
            ));
        }
        if let Some(Some(asked)) = section.env {
            policy.env = Some(narrow_list(
                &self.env,
                asked,
                |allowed, n| allowed.contains(n),
                |n| beyond("allow.env", n),
            ));
        }
        for (setting, site, asked, narrowed) in [
            ("allow.read", &self.read, section.read, &mut policy.read),
            ("allow.write", &self.write, section.write, &mut policy.write),
        ] {
            if let Some(Some(asked)) = asked {
                *narrowed = Some(narrow_list(
                    site,
                    asked,
                    |roots, dir: &PathBuf| roots.iter().any(|root| dir_within(dir, root)),
                    |dir| beyond(setting, &dir.display()),
                ));
            }
        }
        if section.command == Some(true) && !self.command {
            beyond("allow.command", &"true");
        }
        if section.command == Some(false) {
            policy.command = false;
        }
        if let Some(memory) = section.max_memory_bytes {
            policy.max_memory_bytes = policy.max_memory_bytes.min(memory);
        }
        if let Some(timeout) = section.max_timeout {
            policy.max_timeout = policy.max_timeout.min(timeout);
        }
        if let Some(memory) = section.default_memory_bytes {
            policy.default_memory_bytes = memory;
        }
        if let Some(timeout) = section.default_timeout {
            policy.default_timeout = Some(timeout);
        }
        // Defaults stay within the limits, whichever layer set them.
        policy.default_memory_bytes = policy.default_memory_bytes.min(policy.max_memory_bytes);
        policy.default_timeout = policy.default_timeout.map(|t| t.min(policy.max_timeout));
        if let Some(calls) = section.concurrent_calls {
            policy.concurrent_calls = Some(
                policy
                    .concurrent_calls
                    .map_or(calls, |site| site.min(calls)),
            );
        }
        Ok((policy, warnings))
    }
}

/// What a layer asks for, kept where the site allows it; the rest is reported.
fn narrow_list<T, A>(
    site: &Option<Vec<A>>,
    asked: Vec<T>,
    allows: impl Fn(&Vec<A>, &T) -> bool,
    mut refused: impl FnMut(&T),
) -> Vec<T> {
    asked
        .into_iter()
        .filter(|item| match site {
            None => true,
            Some(allowed) if allows(allowed, item) => true,
            Some(_) => {
                refused(item);
                false
            }
        })
        .collect()
}

/// Whether directory `dir` is `root` or below it, both resolved (symlinks, `..`).
fn dir_within(dir: &Path, root: &Path) -> bool {
    DirGrant::open(dir, false).is_ok_and(|grant| grant.is_within(root))
}

/// One `plugins:` section as written: `None` where it says nothing.
#[derive(Debug, Default)]
struct PolicySection {
    http: Option<Option<Vec<HttpOrigin>>>,
    read: Option<Option<Vec<PathBuf>>>,
    write: Option<Option<Vec<PathBuf>>>,
    env: Option<Option<Vec<String>>>,
    command: Option<bool>,
    default_memory_bytes: Option<usize>,
    default_timeout: Option<Duration>,
    max_memory_bytes: Option<usize>,
    max_timeout: Option<Duration>,
    concurrent_calls: Option<usize>,
}

impl PolicySection {
    fn read(section: &Value) -> Result<PolicySection, String> {
        let mut policy = PolicySection::default();
        let Some(section) = section.as_object() else {
            return Err(format!("'plugins' must be a mapping, found {section}"));
        };
        if let Some(unknown) = section.keys().find(|k| {
            !matches!(
                k.as_str(),
                "allow" | "defaults" | "limits" | "concurrent_calls"
            )
        }) {
            return Err(format!(
                "plugins.{unknown} is not a setting (use plugins.allow, plugins.defaults, plugins.limits and plugins.concurrent_calls)"
            ));
        }
        if let Some(allow) = section.get("allow") {
            let allow = allow
                .as_object()
                .ok_or_else(|| format!("plugins.allow must be a mapping, found {allow}"))?;
            for (key, value) in allow {
                match key.as_str() {
                    "http" => policy.http = Some(any_or(value, "plugins.allow.http", origin)?),
                    "read" => {
                        policy.read = Some(any_or(value, "plugins.allow.read", |t| {
                            Ok(PathBuf::from(t))
                        })?)
                    }
                    "write" => {
                        policy.write = Some(any_or(value, "plugins.allow.write", |t| {
                            Ok(PathBuf::from(t))
                        })?)
                    }
                    "env" => {
                        policy.env =
                            Some(any_or(value, "plugins.allow.env", |t| Ok(t.to_string()))?)
                    }
                    "command" => {
                        policy.command = Some(value.as_bool().ok_or_else(|| {
                            format!("plugins.allow.command must be true or false, found {value}")
                        })?)
                    }
                    other => {
                        return Err(format!(
                            "plugins.allow.{other} is not a capability (http, read, write, env, command)"
                        ));
                    }
                }
            }
        }
        if let Some(defaults) = section.get("defaults") {
            let defaults = defaults
                .as_object()
                .ok_or_else(|| format!("plugins.defaults must be a mapping, found {defaults}"))?;
            for (key, value) in defaults {
                match key.as_str() {
                    "memory" => {
                        policy.default_memory_bytes =
                            Some(memory(value, "plugins.defaults.memory")?)
                    }
                    "timeout" => {
                        policy.default_timeout = Some(seconds(value, "plugins.defaults.timeout")?)
                    }
                    other => {
                        return Err(format!(
                            "plugins.defaults.{other} is not a limit (memory, timeout)"
                        ));
                    }
                }
            }
        }
        if let Some(limits) = section.get("limits") {
            let limits = limits
                .as_object()
                .ok_or_else(|| format!("plugins.limits must be a mapping, found {limits}"))?;
            for (key, value) in limits {
                match key.as_str() {
                    "memory" => {
                        policy.max_memory_bytes = Some(memory(value, "plugins.limits.memory")?)
                    }
                    "timeout" => {
                        policy.max_timeout = Some(seconds(value, "plugins.limits.timeout")?)
                    }
                    other => {
                        return Err(format!(
                            "plugins.limits.{other} is not a limit (memory, timeout)"
                        ));
                    }
                }
            }
        }
        if let Some(value) = section.get("concurrent_calls") {
            policy.concurrent_calls = Some(
                value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=MAX_CONCURRENT_CALLS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "plugins.concurrent_calls must be a whole number from 1 to {MAX_CONCURRENT_CALLS}, found {value}"
                        )
                    })?,
            );
        }
        Ok(policy)
    }
}

/// `"*"` means any; otherwise a list.
fn any_or<T>(
    value: &Value,
    setting: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Vec<T>>, String> {
    match value {
        Value::String(s) if s == "*" => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| format!("{setting} must list strings, found {item}"))
                    .and_then(&parse)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(format!("{setting} must be a list or \"*\", found {other}")),
    }
}

fn origin(text: &str) -> Result<HttpOrigin, String> {
    HttpOrigin::of_url(text)
        .ok_or_else(|| format!("{text:?} is not an http:// or https:// address"))
}

/// MiB, as a number.
fn memory(value: &Value, setting: &str) -> Result<usize, String> {
    // Compared in MiB before shifting: `m << 20` drops high bits, so 2^44 MiB became 0 bytes and
    // passed the check; `as usize` would truncate on 32-bit targets.
    value
        .as_u64()
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| (1..=(MAX_MEMORY_BYTES >> 20)).contains(m))
        .map(|m| m << 20)
        .ok_or_else(|| {
            format!(
                "{setting} must be a whole number of MiB from 1 to {}, found {value}",
                MAX_MEMORY_BYTES >> 20
            )
        })
}

/// Seconds, as a number; the same bounds as a trigger's `timeout`.
fn seconds(value: &Value, setting: &str) -> Result<Duration, String> {
    super::timeout_setting(value, setting)
}

/// A `type: plugin` trigger: its component, configuration, grants and limits.
pub(super) struct UserPlugin {
    pub path: PathBuf,
    pub config: Map<String, Value>,
    pub grants: Grants,
    pub limits: Limits,
}

impl UserPlugin {
    pub fn read(
        settings: &Map<String, Value>,
        policy: &PluginPolicy,
        common: &CommonSettings,
    ) -> Result<UserPlugin, String> {
        for key in settings.keys() {
            if !matches!(
                key.as_str(),
                "type"
                    | "path"
                    | "config"
                    | "allow"
                    | "limits"
                    | "timeout"
                    | "retries"
                    | "required"
            ) {
                return Err(format!(
                    "'{key}' is not a setting of plugin triggers (path, config, allow, limits, timeout, retries, required)"
                ));
            }
        }
        let path = match settings.get("path") {
            Some(Value::String(p)) => crate::config::expand_user_path(p)?,
            None => return Err("path is a mandatory field".into()),
            Some(other) => return Err(format!("path must be a string, found {other}")),
        };
        let config = match settings.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => return Err(format!("config must be a mapping, found {other}")),
        };
        let mut grants = Grants::default();
        if let Some(allow) = settings.get("allow") {
            let allow = allow
                .as_object()
                .ok_or_else(|| format!("allow must be a mapping, found {allow}"))?;
            for (key, value) in allow {
                match key.as_str() {
                    "http" => {
                        // Even an empty list links outbound HTTP, with every request denied.
                        grants.http.get_or_insert_with(Vec::new);
                        for text in strings(value, "allow.http")? {
                            let origin = origin(&text)?;
                            if policy
                                .http
                                .as_ref()
                                .is_some_and(|allowed| !allowed.contains(&origin))
                            {
                                return Err(format!(
                                    "allow.http {origin} is not allowed by the site policy (plugins.allow.http)"
                                ));
                            }
                            grants.http.get_or_insert_with(Vec::new).push(origin);
                        }
                    }
                    "read" | "write" => {
                        let writable = key == "write";
                        let allowed = if writable {
                            &policy.write
                        } else {
                            &policy.read
                        };
                        for text in strings(value, &format!("allow.{key}"))? {
                            let dir = crate::config::expand_user_path(&text)?;
                            let grant = DirGrant::open(&dir, writable)
                                .map_err(|e| format!("allow.{key} {text}: {e}"))?;
                            if let Some(roots) = allowed
                                && !roots.iter().any(|root| grant.is_within(root))
                            {
                                let roots: Vec<String> =
                                    roots.iter().map(|r| r.display().to_string()).collect();
                                return Err(format!(
                                    "allow.{key} {text} (that is {}) is not allowed by the site policy: plugins.allow.{key} allows only {}",
                                    grant.real_path.display(),
                                    roots.join(", ")
                                ));
                            }
                            grants.dirs.push(grant);
                        }
                    }
                    "env" => {
                        for name in strings(value, "allow.env")? {
                            if policy
                                .env
                                .as_ref()
                                .is_some_and(|allowed| !allowed.contains(&name))
                            {
                                return Err(format!(
                                    "allow.env {name} is not allowed by the site policy (plugins.allow.env)"
                                ));
                            }
                            if let Ok(v) = std::env::var(&name) {
                                grants.env.push((name, v));
                            }
                        }
                    }
                    "command" => {
                        let wanted = value.as_bool().ok_or_else(|| {
                            format!("allow.command must be true or false, found {value}")
                        })?;
                        if wanted && !policy.command {
                            return Err("allow.command is not allowed by the site policy (set plugins.allow.command: true to permit it)".into());
                        }
                        grants.command = wanted;
                    }
                    other => {
                        return Err(format!(
                            "allow.{other} is not a capability (http, read, write, env, command)"
                        ));
                    }
                }
            }
        }
        let mut limits = Limits {
            memory_bytes: policy.default_memory_bytes,
            ..common.limits()
        };
        if let (None, Some(default)) = (settings.get("timeout"), policy.default_timeout) {
            limits.timeout = default;
        }
        if let Some(section) = settings.get("limits") {
            let section = section
                .as_object()
                .ok_or_else(|| format!("limits must be a mapping, found {section}"))?;
            for (key, value) in section {
                match key.as_str() {
                    "memory" => limits.memory_bytes = memory(value, "limits.memory")?,
                    "timeout" => limits.timeout = seconds(value, "limits.timeout")?,
                    other => {
                        return Err(format!("limits.{other} is not a limit (memory, timeout)"));
                    }
                }
            }
        }
        if limits.memory_bytes > policy.max_memory_bytes {
            return Err(format!(
                "limits.memory {} MiB is above the site policy's {} MiB (plugins.limits.memory)",
                limits.memory_bytes >> 20,
                policy.max_memory_bytes >> 20
            ));
        }
        if limits.timeout > policy.max_timeout {
            return Err(format!(
                "timeout {} is above the site policy's {} (plugins.limits.timeout)",
                crate::cause::duration(limits.timeout),
                crate::cause::duration(policy.max_timeout)
            ));
        }
        Ok(UserPlugin {
            path: absolute_or_same(&path),
            config,
            grants,
            limits,
        })
    }
}

fn strings(value: &Value, setting: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{setting} must list strings, found {i}"))
            })
            .collect(),
        other => Err(format!(
            "{setting} must be a list of strings, found {other}"
        )),
    }
}

fn absolute_or_same(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
