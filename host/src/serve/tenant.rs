//! What a tenant's listeners may use: their plugins only from the tenant's own `plugins/`
//! folder, log files only in the tenant's own state folder, the command trigger and outbound
//! HTTP only as the policy grants, and never the service's own credentials.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::listener::{ListenerSet, TriggerKind, TriggerSpec};
use crate::plugin::HttpOrigin;
use crate::trigger::PluginPolicy;

/// The policy when the service file has no `plugins:` section, and the base of one that
/// does: nothing is granted that the site does not name. (`aviso listen` allows any folder,
/// origin and variable by default: one user's own machine; a service runs strangers' code.)
pub fn closed_site_policy(section: Option<&Value>) -> Result<PluginPolicy, String> {
    let mut policy = match section {
        Some(section) => PluginPolicy::from_json(section)?,
        None => PluginPolicy::default(),
    };
    let allow = section.and_then(|s| s.get("allow"));
    let named = |key: &str| allow.and_then(|a| a.get(key)).is_some();
    if !named("http") {
        policy.http = Some(Vec::new());
    }
    if !named("read") {
        policy.read = Some(Vec::new());
    }
    if !named("write") {
        policy.write = Some(Vec::new());
    }
    if !named("env") {
        policy.env = Some(Vec::new());
    }
    Ok(policy)
}

/// The site's policy narrowed by a tenant's own `plugins:` section. A tenant that asks for
/// more than the site allows is refused (with what it asked), not quietly narrowed: its
/// operator should know.
pub fn tenant_policy(
    site: &PluginPolicy,
    section: Option<&Value>,
    origin: &str,
) -> Result<PluginPolicy, String> {
    let Some(section) = section else {
        return Ok(site.clone());
    };
    let (policy, beyond) = site.narrowed_by(section, origin)?;
    if beyond.is_empty() {
        Ok(policy)
    } else {
        Err(beyond.join("; "))
    }
}

/// Where a tenant's triggers may reach.
pub struct Confinement<'a> {
    pub tenant: &'a str,
    /// `plugins/*.wasm` of the tenant.
    pub plugin_files: &'a [PathBuf],
    /// Where the tenant's log triggers write (`<state_dir>/tenants/<name>/logs`).
    pub log_dir: &'a Path,
    pub policy: &'a PluginPolicy,
}

impl Confinement<'_> {
    /// Every trigger of `sets` confined, or the first that cannot be, named with its file and
    /// position.
    pub fn apply(&self, sets: &mut [ListenerSet]) -> Result<(), String> {
        for set in sets.iter_mut() {
            for (index, listener) in set.listeners.iter_mut().enumerate() {
                for (position, trigger) in listener.triggers.iter_mut().enumerate() {
                    self.confine(trigger).map_err(|reason| {
                        format!(
                            "{}, listener {}: trigger {}: {reason}",
                            set.source,
                            index + 1,
                            position + 1
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    fn confine(&self, trigger: &mut TriggerSpec) -> Result<(), String> {
        let settings = trigger
            .settings
            .as_object_mut()
            .ok_or("a trigger must be a mapping")?;
        match trigger.kind {
            TriggerKind::Echo | TriggerKind::Function => Ok(()),
            TriggerKind::Plugin => {
                let name = settings
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or("path is a mandatory field")?;
                let file = self
                    .plugin_files
                    .iter()
                    .find(|file| file.file_name().and_then(|n| n.to_str()) == Some(name))
                    .ok_or_else(|| {
                        format!(
                            "plugin {name} is not one of the tenant's plugins: a tenant's listener names a file of its plugins/ folder ({})",
                            self.known_plugins()
                        )
                    })?;
                settings.insert("path".into(), Value::String(file.display().to_string()));
                Ok(())
            }
            TriggerKind::Log => {
                let path = settings
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or("path is a mandatory field")?;
                let relative = Path::new(path);
                let inside = relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
                if !inside {
                    return Err(format!(
                        "log path {path} must be a file name or a relative path without '..': a tenant's log files are kept in its own folder"
                    ));
                }
                let file = self.log_dir.join(relative);
                if let Some(folder) = file.parent() {
                    std::fs::create_dir_all(folder).map_err(|e| {
                        format!(
                            "cannot create {}: {}",
                            folder.display(),
                            crate::cause::io_error(&e)
                        )
                    })?;
                }
                settings.insert("path".into(), Value::String(file.display().to_string()));
                Ok(())
            }
            TriggerKind::Command => {
                if self.policy.command {
                    Ok(())
                } else {
                    Err(format!(
                        "the command trigger runs programs on the service's machine: the site has not granted it to tenant {} (plugins.allow.command in its tenant.yaml, within the site's)",
                        self.tenant
                    ))
                }
            }
            TriggerKind::Post => self.confine_post(settings),
        }
    }

    /// A post trigger reaches only origins the policy allows, with credentials of its own.
    fn confine_post(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String> {
        let Some(protocol) = settings.get("protocol").and_then(Value::as_object) else {
            return Ok(()); // the trigger itself says what is missing
        };
        let kind = protocol
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        if kind.as_deref() == Some("cloudevents_aws") {
            // Otherwise the service's own AWS credentials (environment, ~/.aws) would be used.
            if protocol.get("aws_access_key_id").is_none()
                || protocol.get("aws_secret_access_key").is_none()
            {
                return Err(
                    "a tenant's cloudevents_aws trigger gives its own aws_access_key_id and aws_secret_access_key"
                        .into(),
                );
            }
            return Ok(());
        }
        let Some(url) = protocol.get("url").and_then(Value::as_str) else {
            return Ok(());
        };
        let origin =
            HttpOrigin::of_url(url).ok_or_else(|| format!("url {url} is not an HTTP(S) URL"))?;
        match &self.policy.http {
            Some(allowed) if !allowed.contains(&origin) => Err(format!(
                "{url} is not an origin the policy allows (plugins.allow.http{})",
                if allowed.is_empty() {
                    " is empty".to_string()
                } else {
                    format!(
                        ": {}",
                        allowed
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )),
            _ => Ok(()),
        }
    }

    fn known_plugins(&self) -> String {
        if self.plugin_files.is_empty() {
            return "it has none".into();
        }
        let names: Vec<String> = self
            .plugin_files
            .iter()
            .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect();
        format!("it has {}", names.join(", "))
    }
}

/// What a tenant's plugins may never reach, whatever the policies grant: the service's state
/// (every tenant's positions, dead letters and logs), the tenants folder (every tenant's files
/// and token hashes), the service file, and the service's own credentials.
pub struct OutOfReach {
    pub paths: Vec<(PathBuf, &'static str)>,
}

impl OutOfReach {
    /// Refuses a policy granting a folder that holds one of those paths or lies inside one.
    pub fn check(&self, policy: &PluginPolicy) -> Result<(), String> {
        let granted = [("read", &policy.read), ("write", &policy.write)];
        for (kind, folders) in granted {
            for folder in folders.iter().flatten() {
                let folder_seen = resolved(folder);
                for (path, what) in &self.paths {
                    let path_seen = resolved(path);
                    if path_seen.starts_with(&folder_seen) || folder_seen.starts_with(&path_seen) {
                        return Err(format!(
                            "plugins.allow.{kind} grants {}, which reaches {what} ({}): a tenant's plugins may not; grant a folder beside it",
                            folder.display(),
                            path.display()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The path with its links followed where it exists, else as written (made absolute).
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}
