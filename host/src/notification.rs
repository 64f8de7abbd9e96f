//! Notifications: the `k1=v1,k2=v2` parameters users type, key building (base, stem, admin) with
//! canonical values, and the pyaviso JSON form handed to triggers.

use indexmap::IndexMap;

use crate::schema::{EventSchema, Purpose, Schema, ValidationError};
use pycompat::str_format::Template;

/// The keys of one notification in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationKeys {
    /// base + stem: where the notification's value is stored.
    pub key: String,
    /// Where the status of the base is kept (ends with `/`).
    pub base: String,
    /// The admin key, when the schema's endpoint defines one.
    pub admin: Option<String>,
}

/// A notification ready to be written: canonical request, payload and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub event: String,
    /// Canonical values, in the order they were given.
    pub request: IndexMap<String, String>,
    /// `payload`, or the schema's rename of it.
    pub payload_field: String,
    pub payload: Option<String>,
    /// Seconds before the notification expires, from the `ttl` parameter.
    pub ttl: Option<i64>,
}

/// What the parameters are for: `aviso key` and `aviso value` take request keys only, while
/// `aviso notify` also takes the payload field and `ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterUse {
    Key,
    Notify,
}

/// Why a parameter string could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// The detail says which part is wrong (empty when the whole string is).
    #[error(
        "Wrong structure for the notification string, it should be <key_name>=<key_value>,...{0}"
    )]
    Structure(String),
    #[error("Invalid value {0} for ttl, it should be an integer number of seconds")]
    Ttl(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
}

/// Splits `k1=v1,k2=v2,...` as pyaviso does: at least two pairs, each exactly one `=`.
pub fn parse_parameters(text: &str) -> Result<Vec<(String, String)>, ParameterError> {
    let pairs: Vec<&str> = text.split(',').collect();
    if pairs.len() < 2 {
        return Err(ParameterError::Structure(
            "; at least two pairs are needed, separated by ','".into(),
        ));
    }
    pairs
        .into_iter()
        .map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            match parts.as_slice() {
                [key, value] => Ok((key.to_string(), value.to_string())),
                [_] => Err(ParameterError::Structure(format!(
                    "; '{pair}' has no '=' (a value cannot contain ','; send such a payload with --payload-file or --from-json)"
                ))),
                _ => Err(ParameterError::Structure(format!(
                    "; '{pair}' has more than one '=' (a value cannot contain '='; send such a payload with --payload-file or --from-json)"
                ))),
            }
        })
        .collect()
}

impl Notification {
    /// Validates parameters (which include `event`) against the schema and canonicalises them.
    pub fn from_parameters(
        parameters: &[(String, String)],
        schema: &Schema,
        usage: ParameterUse,
    ) -> Result<Notification, ParameterError> {
        let event = parameters
            .iter()
            .find(|(k, _)| k == "event")
            .map(|(_, v)| v.clone())
            .ok_or(ValidationError::MissingEvent)?;
        let event_schema = schema.event(&event)?;
        let mut payload = None;
        let mut ttl = None;
        let mut request_values = Vec::new();
        for (key, value) in parameters {
            match key.as_str() {
                "event" => {}
                field if usage == ParameterUse::Notify && field == schema.payload_field => {
                    payload = Some(value.clone());
                }
                "ttl" if usage == ParameterUse::Notify => {
                    ttl = Some(
                        value
                            .trim()
                            .parse()
                            .map_err(|_| ParameterError::Ttl(value.clone()))?,
                    );
                }
                _ => request_values.push((key.as_str(), vec![value.as_str()])),
            }
        }
        let request = event_schema
            .canonical_request(request_values, Purpose::Notification)?
            .into_iter()
            .filter_map(|(k, mut values)| values.pop().map(|v| (k, v)))
            .collect();
        Ok(Notification {
            event,
            request,
            payload_field: schema.payload_field.clone(),
            payload,
            ttl,
        })
    }

    /// The notification's keys for the given engine.
    pub fn keys(&self, schema: &Schema, engine: &str) -> Result<NotificationKeys, ValidationError> {
        build_keys(schema.event(&self.event)?, &self.request, engine)
    }

    /// pyaviso's notification dict: `{"event", "request", <payload field>}`, the payload only when
    /// there is one.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("event".into(), self.event.clone().into());
        let request = self
            .request
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        object.insert("request".into(), serde_json::Value::Object(request));
        if let Some(payload) = &self.payload {
            object.insert(self.payload_field.clone(), payload.clone().into());
        }
        serde_json::Value::Object(object)
    }
}

/// Builds base, full and admin keys from canonical values (`str.format` of the templates).
pub fn build_keys(
    event: &EventSchema,
    values: &IndexMap<String, String>,
    engine: &str,
) -> Result<NotificationKeys, ValidationError> {
    let endpoint = event.endpoint(engine)?;
    let base = format_key(&endpoint.base, values)?;
    let stem = format_key(&endpoint.stem, values)?;
    let admin = endpoint
        .admin
        .as_ref()
        .map(|t| format_key(t, values))
        .transpose()?;
    Ok(NotificationKeys {
        key: format!("{base}{stem}"),
        base,
        admin,
    })
}

/// Formats a key template; every placeholder without a value is named in the error (pyaviso
/// named only the first, so fixing one showed the next).
pub fn format_key(
    template: &Template,
    values: &IndexMap<String, String>,
) -> Result<String, ValidationError> {
    let mut missing: Vec<&str> = Vec::new();
    for name in template.names().filter(|n| !values.contains_key(*n)) {
        if !missing.contains(&name) {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(ValidationError::MissingParameter(missing.join(", ")));
    }
    template
        .format_named(|name| values.get(name).map(String::as_str))
        .map_err(|e| ValidationError::MissingParameter(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests;
