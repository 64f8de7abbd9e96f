//! The library API, mirroring pyaviso's `NotificationManager`: what the CLI can do, a Rust
//! program can do through `Aviso`.

use std::path::PathBuf;

use crate::config::{SchemaParserKind, Settings, home_dir};
use crate::listener::{self, ListenerError, ListenerSet};
use crate::notification::{Notification, NotificationKeys, ParameterError, ParameterUse};
use crate::plugin::ComponentCache;
use crate::schema::{Schema, SchemaError, SchemaLocations};
use crate::trigger::{PluginPolicy, TriggerRuntime};

/// Any error of the library API.
#[derive(Debug, thiserror::Error)]
pub enum AvisoError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error(transparent)]
    Trigger(#[from] crate::trigger::TriggerError),
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    /// The configuration's `plugins:` section is not usable.
    #[error("Invalid plugins section in the configuration: {0}")]
    PluginPolicy(String),
    /// A setting asks for something this build cannot do yet; the message says what.
    #[error("{0}")]
    Unsupported(String),
}

/// A configured Aviso client: settings plus the event schema they select.
#[derive(Debug, Clone)]
pub struct Aviso {
    settings: Settings,
    schema: Schema,
}

impl Aviso {
    /// Loads the schema the settings ask for (local file, system file or built-in).
    pub fn new(settings: Settings) -> Result<Aviso, AvisoError> {
        if settings.remote_schema {
            return Err(AvisoError::Unsupported(
                "remote_schema: true needs the configuration service (aviso-config), which this version of aviso does not provide yet; set remote_schema: false and put the schema in ~/.aviso/service_configuration/event_listener_schema.json".into(),
            ));
        }
        if settings.schema_parser == SchemaParserKind::Ecmwf {
            return Err(AvisoError::Unsupported(
                "schema_parser: ecmwf reads the MARS language file from the configuration service, which this version of aviso does not provide yet; use schema_parser: generic with a schema that lists its enum values".into(),
            ));
        }
        let schema = SchemaLocations::standard(home_dir()).load()?;
        Ok(Aviso { settings, schema })
    }

    /// A client with a given schema, whatever the settings say about where schemas come from.
    pub fn with_schema(settings: Settings, schema: Schema) -> Aviso {
        Aviso { settings, schema }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The name of the engine whose schema endpoint is used.
    fn engine_name(&self) -> &'static str {
        self.settings.notification_engine.engine.engine_type.name()
    }

    /// The keys of a notification given as parameters (`event` included), like `aviso key`.
    pub fn key(&self, parameters: &[(String, String)]) -> Result<NotificationKeys, AvisoError> {
        let notification =
            Notification::from_parameters(parameters, &self.schema, ParameterUse::Key)?;
        Ok(notification
            .keys(&self.schema, self.engine_name())
            .map_err(ParameterError::from)?)
    }

    /// The site policy for user plugins: the configuration's `plugins:` section, or the default.
    pub fn plugin_policy(&self) -> Result<PluginPolicy, AvisoError> {
        match &self.settings.plugins {
            None => Ok(PluginPolicy::default()),
            Some(section) => {
                PluginPolicy::from_json(&section.to_json()).map_err(AvisoError::PluginPolicy)
            }
        }
    }

    /// The plugin host for this configuration's triggers: site policy, and compiled plugins
    /// cached in `~/.cache/aviso/plugins`.
    pub fn trigger_runtime(&self) -> Result<TriggerRuntime, AvisoError> {
        Ok(TriggerRuntime::new(
            ComponentCache::standard(),
            self.plugin_policy()?,
        )?)
    }

    /// Reads listener files, or the configuration's `listeners:` section when no file is given.
    /// Every file is checked before anything starts; the first error is returned.
    pub fn load_listeners(&self, files: &[PathBuf]) -> Result<Vec<ListenerSet>, AvisoError> {
        let engine = self.engine_name();
        if files.is_empty() {
            let section = self.settings.listeners.as_ref().ok_or_else(|| ListenerError {
                origin: "the configuration".into(),
                listener: None,
                message: "Event listeners definition cannot be empty: give listener files or define 'listeners' in the configuration".into(),
            })?;
            let source = "the 'listeners' of the configuration";
            let set = match section {
                crate::yaml::YamlValue::Seq(items) => {
                    listener::parse_listener_list(items, source, &self.schema, engine)?
                }
                other => {
                    return Err(ListenerError {
                        origin: source.into(),
                        listener: None,
                        message: format!(
                            "Wrong file structure, 'listeners' must be a list, found {}",
                            other.kind()
                        ),
                    }
                    .into());
                }
            };
            return Ok(vec![set]);
        }
        files
            .iter()
            .map(|path| Ok(listener::load_listener_file(path, &self.schema, engine)?))
            .collect()
    }
}
