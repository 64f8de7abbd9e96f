//! aviso-rest's configuration: pyaviso's (`host`, `port`, `server_type`, `debug`, `skips`,
//! `aviso`, `monitoring`), from `/etc/aviso-rest/config.yaml`, `~/.aviso-rest/config.yaml`,
//! `$AVISO_REST_CONFIG`, `--config` and `AVISO_REST_*`.

use std::collections::BTreeMap;

use aviso::config::{ConfigSources, Layers, Program, Settings};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::settings::{SettingsError, Sources, typed};
use crate::telemetry::MonitoringSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSettings {
    pub host: String,
    pub port: u16,
    /// pyaviso's choice of HTTP server (`uvicorn`, formerly `flask`/`gunicorn`): accepted, and
    /// meaningless here (one server, tokio's).
    pub server_type: String,
    pub debug: bool,
    /// A notification whose field has one of these values is skipped (answered, not written).
    pub skips: BTreeMap<String, Vec<Value>>,
    /// A whole aviso client configuration; without it, the client's own files are read.
    pub aviso: Option<Value>,
    pub monitoring: MonitoringSettings,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

fn defaults() -> Value {
    json!({
        "host": "127.0.0.1", "port": 8080, "server_type": "uvicorn", "debug": false,
        "skips": {}, "aviso": null, "monitoring": {}, "max_body_bytes": 1_048_576,
    })
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("DEBUG", "debug"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("SERVER_TYPE", "server_type"),
];

impl RestSettings {
    pub fn load(sources: &Sources) -> Result<RestSettings, SettingsError> {
        let (document, _) = sources.load(defaults(), ENVIRONMENT)?;
        let mut settings: RestSettings = typed(document, "aviso-rest")?;
        settings.monitoring = settings.monitoring.for_component(sources);
        Ok(settings)
    }

    /// The aviso client's settings: the `aviso:` section (with `AVISO_*` variables, as pyaviso
    /// applies them over it), or else the client's usual files and variables.
    pub fn client_settings(&self) -> Result<Settings, SettingsError> {
        let invalid = |e: &dyn std::fmt::Display| {
            SettingsError(format!(
                "Invalid aviso section of the aviso-rest configuration: {e}"
            ))
        };
        match &self.aviso {
            Some(section) => {
                // JSON is YAML: the section goes back through the client's own reader.
                let document =
                    aviso::yaml::parse(&section.to_string()).map_err(|e| invalid(&e.0))?;
                let mut layers = Layers::default();
                layers
                    .merge_document(&document, &aviso::config::Origin::Api)
                    .map_err(|e| invalid(&e))?;
                layers.close_site_layer();
                layers.merge_environment(&|name| std::env::var(name).ok());
                Settings::resolve(&layers, aviso::config::home_dir().as_deref())
                    .map_err(|e| invalid(&e))
            }
            None => Settings::load(&ConfigSources::from_process(
                Program::Aviso,
                None,
                Default::default(),
            ))
            .map(|(settings, _)| settings)
            .map_err(|e| SettingsError(format!("aviso client configuration: {e}"))),
        }
    }
}
