//! Each server's configuration, read in pyaviso's order: built-in defaults, then
//! `/etc/<component>/config.yaml`, `~/.<component>/config.yaml`, `$AVISO_<COMPONENT>_CONFIG`,
//! the `--config` file (each deep-merged over the ones before), then environment variables.
//!
//! Values from the environment are typed as YAML would type them (pyaviso kept them as text,
//! so `AVISO_ADMIN_CLEANER_RETENTION_PERIOD=15` crashed it).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A configuration that cannot be used; the message names the file or variable and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// Looks up an environment variable (a closure, so tests can give their own).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a component's configuration comes from.
pub struct Sources {
    /// `aviso-rest`, `aviso-auth`, `aviso-admin`.
    pub component: &'static str,
    pub system_dir: PathBuf,
    pub home: Option<PathBuf>,
    /// `--config`.
    pub config_file: Option<PathBuf>,
    pub env: EnvLookup,
}

impl Sources {
    pub fn from_process(component: &'static str, config_file: Option<PathBuf>) -> Sources {
        Sources {
            component,
            system_dir: PathBuf::from("/etc").join(component),
            home: aviso::config::home_dir(),
            config_file,
            env: Box::new(|name| std::env::var(name).ok().filter(|v| !v.is_empty())),
        }
    }

    /// `AVISO_REST` for `aviso-rest`.
    fn env_prefix(&self) -> String {
        self.component.replace('-', "_").to_uppercase()
    }

    /// The merged document: defaults, files, then the variables of `environment` (name without
    /// the component prefix, and the dotted path of the setting it sets).
    pub fn load(
        &self,
        defaults: Value,
        environment: &[(&str, &str)],
    ) -> Result<(Value, Vec<PathBuf>), SettingsError> {
        let mut document = defaults;
        let mut read = Vec::new();
        let mut files = vec![(self.system_dir.join("config.yaml"), true)];
        if let Some(home) = &self.home {
            files.push((
                home.join(format!(".{}", self.component))
                    .join("config.yaml"),
                true,
            ));
        }
        if let Some(path) = (self.env)(&format!("{}_CONFIG", self.env_prefix())) {
            files.push((expand_home(&path, self.home.as_deref()), false));
        }
        if let Some(path) = &self.config_file {
            files.push((path.clone(), false));
        }
        for (path, optional) in files {
            match read_yaml(&path) {
                Ok(Some(file)) => {
                    merge(&mut document, file);
                    read.push(path);
                }
                Ok(None) if optional => {}
                Ok(None) => {
                    return Err(SettingsError(format!(
                        "The configuration file {} does not exist",
                        path.display()
                    )));
                }
                Err(message) => return Err(SettingsError(message)),
            }
        }
        for (name, setting) in environment {
            let variable = format!("{}_{name}", self.env_prefix());
            if let Some(text) = (self.env)(&variable) {
                set_path(
                    &mut document,
                    setting,
                    aviso::yaml::YamlValue::plain(text).to_json(),
                );
            }
        }
        Ok((document, read))
    }

    /// A variable of the shared monitoring settings (`AVISO_MONITORING_*`).
    pub fn variable(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }
}

/// Reads a YAML file into JSON; `Ok(None)` when it does not exist.
fn read_yaml(path: &Path) -> Result<Option<Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "Cannot read the configuration file {}: {e}",
                path.display()
            ));
        }
    };
    let yaml = aviso::yaml::parse(&text).map_err(|e| {
        format!(
            "The configuration file {} is not valid YAML: {}",
            path.display(),
            e.0
        )
    })?;
    match yaml.to_json() {
        Value::Null => Ok(Some(Value::Object(Map::new()))),
        value @ Value::Object(_) => Ok(Some(value)),
        _ => Err(format!(
            "The configuration file {} must be a mapping of settings",
            path.display()
        )),
    }
}

/// `~` and `~/...` as the user's home.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    aviso::config::expand_home(path, home)
}

/// Merges `overlay` into `base`: mappings key by key, anything else replaced.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Sets the setting at a dotted path, creating the mappings on the way.
fn set_path(document: &mut Value, path: &str, value: Value) {
    let mut current = document;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let map = current.as_object_mut().expect("a mapping");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        current = map.entry(part).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The typed settings of a merged document; a wrong setting is named with its path.
pub fn typed<T: DeserializeOwned>(document: Value, component: &str) -> Result<T, SettingsError> {
    serde_json::from_value(document)
        .map_err(|e| SettingsError(format!("Invalid {component} configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sources(dir: &Path, env: Vec<(&'static str, &'static str)>) -> Sources {
        Sources {
            component: "aviso-admin",
            system_dir: dir.join("etc"),
            home: Some(dir.join("home")),
            config_file: None,
            env: Box::new(move |name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }),
        }
    }

    #[test]
    fn files_merge_deeply_and_the_environment_wins_with_yaml_types() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("home/.aviso-admin")).unwrap();
        std::fs::write(
            dir.path().join("etc/config.yaml"),
            "cleaner:\n  retention_period: 20\n  url: http://a:2379\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("home/.aviso-admin/config.yaml"),
            "cleaner:\n  url: http://b:2379\n",
        )
        .unwrap();
        let sources = sources(
            dir.path(),
            vec![("AVISO_ADMIN_COMPACTOR_RETENTION_PERIOD", "3")],
        );
        let defaults = json!({"cleaner": {"retention_period": 15, "scheduled_time": "00:00"}, "compactor": {"retention_period": 16}});
        let (document, read) = sources
            .load(
                defaults,
                &[("COMPACTOR_RETENTION_PERIOD", "compactor.retention_period")],
            )
            .unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            document,
            json!({"cleaner": {"retention_period": 20, "scheduled_time": "00:00", "url": "http://b:2379"}, "compactor": {"retention_period": 3}})
        );
    }

    #[test]
    fn a_named_file_that_is_missing_or_not_a_mapping_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut sources = sources(dir.path(), vec![]);
        sources.config_file = Some(dir.path().join("nowhere.yaml"));
        let error = sources.load(json!({}), &[]).unwrap_err();
        assert!(error.0.contains("nowhere.yaml does not exist"), "{error}");
        std::fs::write(dir.path().join("list.yaml"), "- a\n- b\n").unwrap();
        sources.config_file = Some(dir.path().join("list.yaml"));
        let error = sources.load(json!({}), &[]).unwrap_err();
        assert!(error.0.contains("must be a mapping"), "{error}");
    }
}
