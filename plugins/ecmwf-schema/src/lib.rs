//! The `ecmwf` schema parser: fills the values of every `EnumHandler` of the event schema from
//! the MARS language definition (`language.json`) pushed beside it, as pyaviso's
//! `EcmwfSchemaParser` does. `language["_field"][<key>]["values"]` lists each value with its
//! aliases (`["od", "operational"]`); all of them become valid values.

use aviso_sdk::{Error, SchemaParser, ServiceFile, log};
use serde_json::{Map, Value};

/// The file pyaviso looks for (a path containing this name).
const LANGUAGE_FILE: &str = "language.json";

struct EcmwfSchema;

impl SchemaParser for EcmwfSchema {
    fn parse(schema: &str, files: &[ServiceFile]) -> Result<String, Error> {
        let language_file = language_file(files)?;
        let language: Value = serde_json::from_slice(&language_file.content)
            .map_err(|e| Error::Failed(format!("{} is not valid JSON: {e}", language_file.path)))?;
        let mut schema: Value = serde_json::from_str(schema)
            .map_err(|e| Error::Failed(format!("the event schema is not valid JSON: {e}")))?;
        fill_enum_values(&mut schema, &language, &language_file.path)?;
        Ok(schema.to_string())
    }
}

aviso_sdk::export_schema_parser!(EcmwfSchema);

/// The one language file among the service's files.
fn language_file(files: &[ServiceFile]) -> Result<&ServiceFile, Error> {
    let found: Vec<&ServiceFile> = files
        .iter()
        .filter(|f| f.path.contains(LANGUAGE_FILE))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::Failed(format!(
            "No MARS language schema file found: the ecmwf schema parser needs a file named {LANGUAGE_FILE} beside the event schema"
        ))),
        many => Err(Error::Failed(format!(
            "More than one MARS language schema file found: {}",
            many.iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Adds the language's values to every `EnumHandler` of every event's request.
fn fill_enum_values(schema: &mut Value, language: &Value, origin: &str) -> Result<(), Error> {
    let fields = language
        .get("_field")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Failed(format!("{origin} has no \"_field\" object")))?;
    let Some(events) = schema.as_object_mut() else {
        return Err(Error::Failed(
            "the event schema is not a JSON object".into(),
        ));
    };
    for (event, definition) in events.iter_mut() {
        let Some(request) = definition.get_mut("request").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, handlers) in request.iter_mut() {
            let Some(handlers) = handlers.as_array_mut() else {
                continue;
            };
            for handler in handlers.iter_mut().filter_map(Value::as_object_mut) {
                if handler.get("type").and_then(Value::as_str) != Some("EnumHandler") {
                    continue;
                }
                let values = language_values(fields, key).ok_or_else(|| {
                    Error::Failed(format!(
                        "event {event}: {key} is an EnumHandler but {origin} lists no values for it (_field.{key}.values)"
                    ))
                })?;
                add_values(handler, &values)
                    .map_err(|problem| Error::Failed(format!("event {event}: {key}: {problem}")))?;
                log::debug(&format!("{event}.{key}: {} values", values.len()));
            }
        }
    }
    Ok(())
}

/// The values of one key, aliases flattened: `[["od","operational"],["rd"]]` gives
/// `od, operational, rd`.
fn language_values(fields: &Map<String, Value>, key: &str) -> Option<Vec<Value>> {
    let listed = fields.get(key)?.get("values")?.as_array()?;
    let mut values = Vec::new();
    flatten(listed, &mut values);
    Some(values)
}

fn flatten(items: &[Value], into: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(nested) => flatten(nested, into),
            other => into.push(other.clone()),
        }
    }
}

/// Appends `values` to the handler's own, skipping any it already has.
fn add_values(handler: &mut Map<String, Value>, values: &[Value]) -> Result<(), String> {
    let list = handler
        .entry("values")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or("the EnumHandler's values must be a list")?;
    for value in values {
        if !list.contains(value) {
            list.push(value.clone());
        }
    }
    Ok(())
}
