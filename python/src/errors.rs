//! pyaviso's exceptions (`pyaviso.custom_exceptions`), and which one each library error
//! becomes. Where pyaviso raised a built-in exception for a kind of problem (`KeyError` for a
//! missing parameter, `AssertionError` for a key the event does not have, `ValueError` from a
//! validator) the same built-in is raised, with pyaviso's message.

use aviso::AvisoError;
use aviso::notification::ParameterError;
use aviso::schema::ValidationError;
use aviso::store::{StoreError, StoreErrorClass};
use pyo3::create_exception;
use pyo3::exceptions::{PyAssertionError, PyException, PyKeyError, PyValueError};
use pyo3::prelude::*;

create_exception!(aviso, InvalidInputError, PyException);
create_exception!(aviso, TriggerException, PyException);
create_exception!(aviso, EventListenerException, PyException);
create_exception!(aviso, EngineException, PyException);
create_exception!(aviso, EngineHistoryNotAvailableError, EngineException);
create_exception!(aviso, ServiceConfigException, PyException);
// pyaviso's `UserConfig` logged and called `sys.exit(-1)` on a bad setting; a library must not
// end the program, so this is raised instead (docs/decisions.md).
create_exception!(aviso, ConfigurationError, PyValueError);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("TriggerException", py.get_type::<TriggerException>())?;
    m.add(
        "EventListenerException",
        py.get_type::<EventListenerException>(),
    )?;
    m.add("EngineException", py.get_type::<EngineException>())?;
    m.add(
        "EngineHistoryNotAvailableError",
        py.get_type::<EngineHistoryNotAvailableError>(),
    )?;
    m.add(
        "ServiceConfigException",
        py.get_type::<ServiceConfigException>(),
    )?;
    m.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    Ok(())
}

/// The Python exception for a library error.
pub fn to_python(error: AvisoError) -> PyErr {
    let message = error.to_string();
    match error {
        AvisoError::Config(_) => ConfigurationError::new_err(message),
        AvisoError::Parameters(ParameterError::Validation(validation)) => {
            validation_error(&validation, message)
        }
        AvisoError::Parameters(_) => InvalidInputError::new_err(message),
        AvisoError::Schema(_) | AvisoError::SchemaLoad(_) => {
            ServiceConfigException::new_err(message)
        }
        AvisoError::Listener(_) => EventListenerException::new_err(message),
        AvisoError::Trigger(_) | AvisoError::Plugin(_) | AvisoError::PluginPolicy(_) => {
            TriggerException::new_err(message)
        }
        AvisoError::Store(store) => store_error(&store),
        AvisoError::Open(_) => EngineException::new_err(message),
        _ => EventListenerException::new_err(message),
    }
}

/// pyaviso's exception types for a notification that does not fit the schema.
pub fn validation_error(error: &ValidationError, message: String) -> PyErr {
    match error {
        ValidationError::MissingEvent | ValidationError::UnknownEvent(_) => {
            InvalidInputError::new_err(message)
        }
        // A `required` key left out: pyaviso raised KeyError for any key its key lacked.
        ValidationError::MissingParameter(_) | ValidationError::MandatoryKey(_) => {
            PyKeyError::new_err(message)
        }
        ValidationError::KeyNotAllowed { .. } => PyAssertionError::new_err(message),
        ValidationError::InvalidValue { .. } | ValidationError::NoEndpoint { .. } => {
            PyValueError::new_err(message)
        }
    }
}

pub fn store_error(error: &StoreError) -> PyErr {
    match error.class {
        StoreErrorClass::Compacted => EngineHistoryNotAvailableError::new_err(error.to_string()),
        _ => EngineException::new_err(error.to_string()),
    }
}
