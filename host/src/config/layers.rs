//! The raw layers of the configuration (defaults, files, environment, command line), each value
//! remembering where it came from so that a bad one can be reported with its origin.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::yaml::{self, YamlValue};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Cli(&'static str),
    /// Set by a program through the library API.
    Api,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File(path) => write!(f, "configuration file {}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Cli(option) => write!(f, "command-line option {option}"),
            Origin::Api => f.write_str("the library API"),
        }
    }
}

/// Setting paths that a file may contain. Sections (`notification_engine.*`) are merged key by key,
/// whole values (`logging`, `listeners`) are replaced by a later layer. `plugins` is the site
/// policy: every layer's section is kept, and later ones may only narrow the system file's.
pub(super) const KNOWN_SETTINGS: &[&str] = &[
    "notification_engine.host",
    "notification_engine.endpoints",
    "notification_engine.port",
    "notification_engine.https",
    "notification_engine.type",
    "notification_engine.polling_interval",
    "notification_engine.timeout",
    "notification_engine.service",
    "notification_engine.catchup",
    "notification_engine.automatic_retry_delay",
    "notification_engine.liveness_check",
    "delivery.attempts",
    "delivery.retry_delay",
    "configuration_engine.host",
    "configuration_engine.port",
    "configuration_engine.https",
    "configuration_engine.type",
    "configuration_engine.max_file_size",
    "configuration_engine.timeout",
    "configuration_engine.automatic_retry_delay",
    "auth_type",
    "username",
    "username_file",
    "key_file",
    "key_ttl",
    "schema_parser",
    "remote_schema",
    "state_dir",
    "debug",
    "quiet",
    "no_fail",
    "logging",
    "listeners",
    "plugins",
];

const SECTIONS: &[&str] = &["notification_engine", "configuration_engine", "delivery"];

/// Environment variables and the settings they set (pyaviso's names). `AVISO_TIMEOUT` and
/// `AVISO_AUTOMATIC_RETRY_DELAY` set both engines, as in pyaviso.
pub(super) const ENVIRONMENT: &[(&str, &[&str])] = &[
    ("AVISO_NOTIFICATION_HOST", &["notification_engine.host"]),
    (
        "AVISO_NOTIFICATION_ENDPOINTS",
        &["notification_engine.endpoints"],
    ),
    ("AVISO_NOTIFICATION_PORT", &["notification_engine.port"]),
    ("AVISO_NOTIFICATION_HTTPS", &["notification_engine.https"]),
    ("AVISO_NOTIFICATION_ENGINE", &["notification_engine.type"]),
    (
        "AVISO_POLLING_INTERVAL",
        &["notification_engine.polling_interval"],
    ),
    (
        "AVISO_TIMEOUT",
        &[
            "notification_engine.timeout",
            "configuration_engine.timeout",
        ],
    ),
    (
        "AVISO_NOTIFICATION_SERVICE",
        &["notification_engine.service"],
    ),
    (
        "AVISO_NOTIFICATION_CATCHUP",
        &["notification_engine.catchup"],
    ),
    (
        "AVISO_AUTOMATIC_RETRY_DELAY",
        &[
            "notification_engine.automatic_retry_delay",
            "configuration_engine.automatic_retry_delay",
        ],
    ),
    ("AVISO_CONFIGURATION_HOST", &["configuration_engine.host"]),
    ("AVISO_CONFIGURATION_PORT", &["configuration_engine.port"]),
    ("AVISO_CONFIGURATION_HTTPS", &["configuration_engine.https"]),
    ("AVISO_CONFIGURATION_ENGINE", &["configuration_engine.type"]),
    (
        "AVISO_MAX_FILE_SIZE",
        &["configuration_engine.max_file_size"],
    ),
    ("AVISO_AUTH_TYPE", &["auth_type"]),
    ("AVISO_USERNAME", &["username"]),
    ("AVISO_USERNAME_FILE", &["username_file"]),
    ("AVISO_KEY_FILE", &["key_file"]),
    ("AVISO_KEY_TTL", &["key_ttl"]),
    ("AVISO_SCHEMA_PARSER", &["schema_parser"]),
    ("AVISO_REMOTE_SCHEMA", &["remote_schema"]),
    ("AVISO_STATE_DIR", &["state_dir"]),
    (
        "AVISO_LIVENESS_CHECK",
        &["notification_engine.liveness_check"],
    ),
    ("AVISO_DELIVERY_ATTEMPTS", &["delivery.attempts"]),
    ("AVISO_DELIVERY_RETRY_DELAY", &["delivery.retry_delay"]),
    ("AVISO_DEBUG", &["debug"]),
    ("AVISO_QUIET", &["quiet"]),
    ("AVISO_NO_FAIL", &["no_fail"]),
    ("AVISO_LOG", &["logging"]),
];

/// The merged raw values: one entry per setting path, the last layer to set it wins.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    values: BTreeMap<&'static str, (YamlValue, Origin)>,
    /// Settings found in files that we do not know, reported once as warnings.
    pub unknown: Vec<(String, Origin)>,
    /// Every `plugins:` section, in the order read.
    pub plugin_sections: Vec<(YamlValue, Origin)>,
    /// How many of them came from the site's own layer (the system configuration file).
    pub site_plugin_sections: usize,
    /// The configuration files looked at, in order, and whether each was there.
    pub files: Vec<(PathBuf, bool)>,
}

impl Layers {
    pub fn set(&mut self, setting: &'static str, value: YamlValue, origin: Origin) {
        self.values.insert(setting, (value, origin));
    }

    pub fn get(&self, setting: &str) -> Option<&(YamlValue, Origin)> {
        self.values.get(setting)
    }

    /// Sets a setting named by its path (`notification_engine.port`), as a program does;
    /// `Err` names a setting there is not.
    pub fn set_by_path(
        &mut self,
        setting: &str,
        value: YamlValue,
        origin: Origin,
    ) -> Result<(), String> {
        match KNOWN_SETTINGS.iter().find(|known| **known == setting) {
            Some(known) => {
                self.set(known, value, origin);
                Ok(())
            }
            None => Err(format!("{setting} is not a setting")),
        }
    }

    /// Merges a configuration file's document (already parsed) into the layers.
    pub fn merge_document(
        &mut self,
        document: &YamlValue,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let entries = match document {
            YamlValue::Null => return Ok(()),
            YamlValue::Map(entries) => entries,
            other => {
                return Err(ConfigError::File {
                    origin: origin.clone(),
                    message: format!("expected a mapping of settings, found {}", other.kind()),
                });
            }
        };
        for (key, value) in entries {
            if SECTIONS.contains(&key.as_str()) {
                match value {
                    YamlValue::Null => {}
                    YamlValue::Map(section) => {
                        for (sub_key, sub_value) in section {
                            self.merge_one(&format!("{key}.{sub_key}"), sub_value, origin);
                        }
                    }
                    other => {
                        return Err(ConfigError::File {
                            origin: origin.clone(),
                            message: format!("'{key}' must be a mapping, found {}", other.kind()),
                        });
                    }
                }
            } else {
                self.merge_one(key, value, origin);
            }
        }
        Ok(())
    }

    /// Marks what was merged so far as the site's layer: its `plugins:` section is the ceiling
    /// that later layers may only narrow.
    pub fn close_site_layer(&mut self) {
        self.site_plugin_sections = self.plugin_sections.len();
    }

    fn merge_one(&mut self, path: &str, value: &YamlValue, origin: &Origin) {
        if path == "plugins" {
            self.plugin_sections.push((value.clone(), origin.clone()));
        }
        match KNOWN_SETTINGS.iter().find(|known| **known == path) {
            Some(known) => self.set(known, value.clone(), origin.clone()),
            None => self.unknown.push((path.to_string(), origin.clone())),
        }
    }

    /// Reads and merges a configuration file. A missing optional file is skipped.
    pub fn merge_file(&mut self, path: &Path, optional: bool) -> Result<(), ConfigError> {
        let origin = Origin::File(path.to_path_buf());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                self.files.push((path.to_path_buf(), false));
                return Ok(());
            }
            Err(e) => {
                return Err(ConfigError::File {
                    origin,
                    message: e.to_string(),
                });
            }
        };
        self.files.push((path.to_path_buf(), true));
        let document = yaml::parse(&text).map_err(|e| ConfigError::File {
            origin: origin.clone(),
            message: e.0,
        })?;
        self.merge_document(&document, &origin)
    }

    /// Applies the `AVISO_*` variables found by `lookup`.
    pub fn merge_environment(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        for (variable, settings) in ENVIRONMENT {
            if let Some(text) = lookup(variable) {
                for setting in *settings {
                    let value = if *setting == "logging" {
                        YamlValue::string(text.clone())
                    } else {
                        YamlValue::plain(text.clone())
                    };
                    self.set(setting, value, Origin::Env(variable.to_string()));
                }
            }
        }
    }
}
