//! A configured client: pyaviso's `key`, `value`, `notify` and `listen` on the library's
//! `Aviso`, which keeps one connection to the store for every call.

use std::path::PathBuf;

use aviso::Aviso;
use aviso::listener::{self, FunctionTrigger, ListenerSet};
use aviso::notification::Notification;
use aviso::schema::Schema;
use aviso::yaml::YamlValue;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::configuration::Configuration;
use crate::errors::{self, ServiceConfigException};
use crate::listening::Listening;
use crate::runtime;

#[pyclass(module = "aviso._native")]
pub struct Client {
    aviso: Aviso,
}

#[pymethods]
impl Client {
    /// A client for `configuration`, with the schema it selects (loaded now, from the
    /// configuration service when `remote_schema` is on), or with `schema` (JSON) when given.
    #[new]
    #[pyo3(signature = (configuration, schema=None))]
    fn new(
        py: Python<'_>,
        configuration: &Configuration,
        schema: Option<String>,
    ) -> PyResult<Self> {
        let settings = configuration.settings.clone();
        let aviso = match schema {
            Some(text) => {
                let schema = Schema::from_json(&text, "the listener_schema given")
                    .map_err(|e| ServiceConfigException::new_err(e.to_string()))?;
                Aviso::with_schema(settings, schema)
            }
            None => py
                .detach(|| Aviso::new(settings))
                .map_err(errors::to_python)?,
        };
        Ok(Client { aviso })
    }

    /// The notification field that carries the payload (`payload`, or the schema's name).
    #[getter]
    fn payload_field(&self) -> String {
        self.aviso.schema().payload_field.clone()
    }

    /// `(key, base key, admin key or None)` of a notification's parameters (`event` included).
    fn key(&self, parameters: Vec<(String, String)>) -> PyResult<(String, String, Option<String>)> {
        let keys = self.aviso.key(&parameters).map_err(errors::to_python)?;
        Ok((keys.key, keys.base, keys.admin))
    }

    /// The value stored for a notification's parameters, `None` when there is none.
    fn value(
        &self,
        py: Python<'_>,
        parameters: Vec<(String, String)>,
    ) -> PyResult<Option<Vec<u8>>> {
        let aviso = &self.aviso;
        py.detach(|| runtime().block_on(aviso.value(&parameters)))
            .map_err(errors::to_python)
    }

    /// Writes a notification (parameters with `event`, the payload field and `ttl`).
    fn notify(&self, py: Python<'_>, parameters: Vec<(String, String)>) -> PyResult<()> {
        let aviso = &self.aviso;
        py.detach(|| runtime().block_on(aviso.notify(&parameters)))
            .map(|_| ())
            .map_err(errors::to_python)
    }

    /// Starts listening and returns at once. `documents` are listener definitions as JSON
    /// (`{"listeners": [...]}`, each with where it came from), in which a `function` trigger's
    /// `function` is the index of its callable in `functions`; `files` are listener files.
    /// Dates are UTC, `%Y-%m-%dT%H:%M:%S.%f`.
    #[pyo3(signature = (documents, files, functions, catchup, from_date=None, to_date=None))]
    #[allow(clippy::too_many_arguments)]
    fn listen(
        &self,
        py: Python<'_>,
        documents: Vec<(String, String)>,
        files: Vec<String>,
        functions: Vec<Py<PyAny>>,
        catchup: bool,
        from_date: Option<String>,
        to_date: Option<String>,
    ) -> PyResult<Listening> {
        let functions: Vec<std::sync::Arc<Py<PyAny>>> =
            functions.into_iter().map(std::sync::Arc::new).collect();
        // Without files the library would take the configuration's listeners: the Python
        // side decides that, and gives them as a document.
        let mut sets = if files.is_empty() {
            Vec::new()
        } else {
            self.aviso
                .load_listeners(&files.iter().map(PathBuf::from).collect::<Vec<_>>())
                .map_err(errors::to_python)?
        };
        for (source, text) in documents {
            sets.push(self.listener_set(&source, &text, &functions)?);
        }
        let date = |text: Option<String>| {
            text.map(|t| {
                chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").map_err(|e| {
                    errors::InvalidInputError::new_err(format!("Invalid date {t}: {e}"))
                })
            })
            .transpose()
        };
        let replay = match (date(from_date)?, date(to_date)?) {
            (Some(from), to) => Some((from, to)),
            (None, _) => None,
        };
        // A trigger that cannot be used is refused here, not later on the listening thread
        // (which `_listen` does not wait for).
        let aviso = &self.aviso;
        py.detach(|| runtime().block_on(aviso.check_triggers(&sets)))
            .map_err(errors::to_python)?;
        Ok(Listening::start(self.aviso.clone(), sets, catchup, replay))
    }
}

impl Client {
    fn listener_set(
        &self,
        source: &str,
        text: &str,
        functions: &[std::sync::Arc<Py<PyAny>>],
    ) -> PyResult<ListenerSet> {
        let document: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| errors::EventListenerException::new_err(format!("{source}: {e}")))?;
        let document = YamlValue::from_json(&document);
        let items = match document.get("listeners") {
            Some(YamlValue::Seq(items)) => items.clone(),
            _ => Vec::new(),
        };
        let lookup = |setting: Option<&YamlValue>| -> Result<FunctionTrigger, String> {
            let index = setting
                .and_then(YamlValue::as_scalar)
                .and_then(|text| text.parse::<usize>().ok())
                .filter(|index| *index < functions.len())
                .ok_or_else(|| {
                    "'function' is a mandatory field for the 'Function' trigger".to_string()
                })?;
            Ok(python_function(functions[index].clone()))
        };
        let engine = self
            .aviso
            .settings()
            .notification_engine
            .engine
            .engine_type
            .name();
        if document.get("listeners").is_none() || items.is_empty() {
            // The library's messages for a document without listeners.
            return listener::parse_listeners(&document, source, self.aviso.schema(), engine)
                .map_err(|e| errors::to_python(e.into()));
        }
        listener::parse_listener_list_with_functions(
            &items,
            source,
            self.aviso.schema(),
            engine,
            &lookup,
        )
        .map_err(|e| errors::to_python(e.into()))
    }
}

/// A `function` trigger calling a Python callable with pyaviso's notification dict. What it
/// raises fails the trigger for that notification, with the exception in the log.
fn python_function(callable: std::sync::Arc<Py<PyAny>>) -> FunctionTrigger {
    FunctionTrigger::new(move |notification: &Notification| {
        Python::attach(|py| {
            let call = || -> PyResult<()> {
                let argument = notification_dict(py, notification)?;
                callable.call1(py, PyTuple::new(py, [argument])?)?;
                Ok(())
            };
            call().map_err(|error| {
                let text = error
                    .traceback(py)
                    .and_then(|traceback| traceback.format().ok())
                    .unwrap_or_default();
                tracing::debug!("{text}");
                let name = error
                    .get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "exception".into());
                format!("the function raised {name}: {}", error.value(py))
            })
        })
    })
}

/// pyaviso's notification dict: `{"event", "request": {...strings}, <payload field>}`.
fn notification_dict<'py>(
    py: Python<'py>,
    notification: &Notification,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("event", &notification.event)?;
    let request = PyDict::new(py);
    for (key, value) in &notification.request {
        request.set_item(key, value)?;
    }
    dict.set_item("request", request)?;
    if let Some(payload) = &notification.payload {
        dict.set_item(&notification.payload_field, payload)?;
    }
    Ok(dict)
}
