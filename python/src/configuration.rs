//! The settings behind a `UserConfig`: read in pyaviso's order by the library (defaults,
//! `/etc/aviso/config.yaml`, `~/.aviso/config.yaml`, `$AVISO_CONFIG`, the given file, then the
//! `AVISO_*` variables), then changed one setting at a time by the program. Each change is
//! checked at once, so a bad value is reported where it is set.

use std::path::PathBuf;

use aviso::config::{
    CliOverrides, ConfigSources, EngineSettings, Layers, LoggingSetting, Origin, Program,
    SchemaParserKind, Settings, read_layers,
};
use aviso::yaml::{self, YamlValue};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::ConfigurationError;

#[pyclass(module = "aviso._native")]
pub struct Configuration {
    layers: Layers,
    home: Option<PathBuf>,
    pub(crate) settings: Settings,
    /// Counts the changes, so that a client made for these settings can be reused until then.
    generation: u64,
}

fn json_argument(text: &str, what: &str) -> PyResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| ConfigurationError::new_err(format!("{what} is not valid: {e}")))
}

fn configuration_error(error: aviso::config::ConfigError) -> PyErr {
    ConfigurationError::new_err(error.to_string())
}

#[pymethods]
impl Configuration {
    /// Reads every layer; `conf_from_file` (JSON) stands for every configuration file.
    #[staticmethod]
    #[pyo3(signature = (conf_path=None, conf_from_file=None))]
    fn read(conf_path: Option<String>, conf_from_file: Option<String>) -> PyResult<Configuration> {
        let sources = ConfigSources::from_process(
            Program::Aviso,
            conf_path.map(PathBuf::from),
            CliOverrides::default(),
        );
        let document = conf_from_file
            .map(|text| json_argument(&text, "conf_from_file").map(|v| YamlValue::from_json(&v)))
            .transpose()?;
        let layers = read_layers(&sources, document.as_ref()).map_err(configuration_error)?;
        let settings =
            Settings::resolve(&layers, sources.home_dir.as_deref()).map_err(configuration_error)?;
        for (setting, origin) in &layers.unknown {
            tracing::warn!("Unknown setting {setting} in {origin} is ignored");
        }
        Ok(Configuration {
            layers,
            home: sources.home_dir,
            settings,
            generation: 0,
        })
    }

    /// Sets one setting, named by its path (`notification_engine.port`), to a JSON value. A
    /// value that is not valid leaves the configuration as it was.
    fn set(&mut self, setting: &str, value: &str) -> PyResult<()> {
        let value = json_argument(value, setting)?;
        let mut layers = self.layers.clone();
        layers
            .set_by_path(setting, YamlValue::from_json(&value), Origin::Api)
            .map_err(ConfigurationError::new_err)?;
        self.settings =
            Settings::resolve(&layers, self.home.as_deref()).map_err(configuration_error)?;
        self.layers = layers;
        self.generation += 1;
        Ok(())
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.generation
    }

    /// Equal for equal settings: clients are shared by configurations that are alike, so
    /// notifications from many threads are written together (one publisher per store).
    fn fingerprint(&self) -> String {
        // The home too: the schema, the positions and the embedded store are found there.
        format!("{:?} {:?}", self.settings, aviso::config::home_dir())
    }

    /// The settings in pyaviso's shape, as JSON.
    fn values(&self) -> String {
        settings_view(&self.settings).to_string()
    }

    /// The logging setting: `("file", path)`, `("inline", JSON)`, or `None`.
    fn logging(&self) -> Option<(String, String)> {
        match &self.settings.logging {
            None => None,
            Some(LoggingSetting::File(path)) => Some(("file".into(), path.display().to_string())),
            Some(LoggingSetting::Inline(value)) => {
                Some(("inline".into(), value.to_json().to_string()))
            }
        }
    }

    /// The configuration's `listeners:` section as JSON, or `None`.
    fn listeners(&self) -> Option<String> {
        self.settings
            .listeners
            .as_ref()
            .map(|value| value.to_json().to_string())
    }
}

/// A YAML document as JSON, typed as PyYAML types it (for logging configuration files).
#[pyfunction]
pub fn load_yaml(text: &str) -> PyResult<String> {
    let document = yaml::parse(text).map_err(|e| ConfigurationError::new_err(e.0))?;
    Ok(document.to_json().to_string())
}

fn engine_view(engine: &EngineSettings) -> serde_json::Map<String, Value> {
    let mut view = serde_json::Map::new();
    view.insert("host".into(), engine.host.clone().into());
    view.insert("port".into(), engine.port.into());
    view.insert("type".into(), engine.engine_type.name().into());
    view.insert("https".into(), engine.https.into());
    view.insert("timeout".into(), json!(engine.timeout));
    view.insert(
        "automatic_retry_delay".into(),
        json!(engine.automatic_retry_delay),
    );
    view
}

/// pyaviso's `UserConfig` fields (and ours), from resolved settings.
fn settings_view(settings: &Settings) -> Value {
    let n = &settings.notification_engine;
    let mut notification_engine = engine_view(&n.engine);
    notification_engine.insert("polling_interval".into(), n.polling_interval.into());
    notification_engine.insert("service".into(), n.service.clone().into());
    notification_engine.insert("catchup".into(), n.catchup.into());
    notification_engine.insert("liveness_check".into(), n.liveness_check.into());
    notification_engine.insert(
        "endpoints".into(),
        n.endpoints
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect(),
    );
    let mut configuration_engine = engine_view(&settings.configuration_engine.engine);
    configuration_engine.insert(
        "max_file_size".into(),
        settings.configuration_engine.max_file_size.into(),
    );
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    json!({
        "notification_engine": notification_engine,
        "configuration_engine": configuration_engine,
        "delivery": {
            "attempts": settings.delivery.attempts,
            "retry_delay": settings.delivery.retry_delay,
        },
        "auth_type": settings.auth_type.name(),
        "username": settings.username,
        "username_file": path(&settings.username_file),
        "key_file": settings.key_file.display().to_string(),
        "key_ttl": settings.key_ttl,
        "schema_parser": match &settings.schema_parser {
            SchemaParserKind::Generic => "generic".to_string(),
            SchemaParserKind::Ecmwf => "ecmwf".to_string(),
            SchemaParserKind::Component(path) => path.display().to_string(),
        },
        "remote_schema": settings.remote_schema,
        "state_dir": path(&settings.state_dir),
        "debug": settings.debug,
        "quiet": settings.quiet,
        "no_fail": settings.no_fail,
    })
}
