//! What a data provider submits to aviso-rest, turned into a notification's parameters: a
//! CloudEvent 1.0 (binary mode, `ce-*` headers; or structured mode, the event as a JSON body)
//! whose `data` is `{"event", "request": {...}, <payload field>, "ttl"}`, or a plain JSON body
//! `{"event", "request", "payload", "ttl"}`. The request's fields are flattened into the
//! notification, as pyaviso's aviso-rest does.

use cloudevents::event::Data;
use http::HeaderMap;
use serde_json::{Map, Value};

/// Why a submission cannot be a notification; the texts are pyaviso's where it had one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmissionError {
    #[error("Invalid notification, Body cannot be empty")]
    Empty,
    #[error("Invalid notification, the body is not JSON: {0}")]
    NotJson(String),
    #[error("Failed to find specversion in HTTP request")]
    NoSpecVersion,
    /// Python's set repr, as the cloudevents 1.x SDK wrote it: `{'id'}`, `{'id', 'source'}`.
    #[error("Missing required attributes: {{{}}}", .0.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", "))]
    MissingAttributes(Vec<&'static str>),
    #[error("Invalid CloudEvent: {0}")]
    InvalidEvent(String),
    #[error("Invalid notification, '{0}' could not be located")]
    Missing(&'static str),
    #[error("Invalid notification, '{0}' must be a mapping")]
    NotAMapping(&'static str),
    #[error("Invalid notification, the value of {0} must be a string, a number or a boolean")]
    NotAScalar(String),
}

/// A submission read: the flattened notification's fields, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub fields: Vec<(String, Value)>,
    /// How it came: `binary`, `structured` or `plain`.
    pub mode: &'static str,
}

impl Submission {
    /// The notification's parameters, each value as Python's `str` would give it.
    pub fn parameters(&self) -> Result<Vec<(String, String)>, SubmissionError> {
        self.fields
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(true) => "True".into(),
                    Value::Bool(false) => "False".into(),
                    Value::Null => "None".into(),
                    _ => return Err(SubmissionError::NotAScalar(name.clone())),
                };
                Ok((name.clone(), text))
            })
            .collect()
    }

    /// The raw value of a field (for `skips`, compared before any validation, as pyaviso).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

const REQUIRED: [&str; 3] = ["id", "source", "type"];

/// Reads a request: its headers say binary mode; otherwise the JSON body is a structured
/// CloudEvent (it has `specversion`) or a plain notification (it has `event`).
/// `payload_field` is the schema's name of the payload (`location` for ECMWF's).
pub fn read(
    headers: &HeaderMap,
    body: &[u8],
    payload_field: &str,
) -> Result<Submission, SubmissionError> {
    if headers.contains_key("ce-specversion") {
        let missing: Vec<&'static str> = REQUIRED
            .into_iter()
            .filter(|a| !headers.contains_key(format!("ce-{a}").as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(SubmissionError::MissingAttributes(missing));
        }
        let event = cloudevents::binding::http::to_event(headers, body.to_vec())
            .map_err(|e| SubmissionError::InvalidEvent(e.to_string()))?;
        return from_event(event, "binary");
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SubmissionError::Empty);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| SubmissionError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(SubmissionError::NotJson("it is not a JSON object".into()));
    };
    if !object.contains_key("specversion") {
        if object.contains_key("event") {
            return plain(object, payload_field);
        }
        return Err(SubmissionError::NoSpecVersion);
    }
    let missing: Vec<&'static str> = REQUIRED
        .into_iter()
        .filter(|a| !object.contains_key(*a))
        .collect();
    if !missing.is_empty() {
        return Err(SubmissionError::MissingAttributes(missing));
    }
    let event: cloudevents::Event = serde_json::from_value(Value::Object(object))
        .map_err(|e| SubmissionError::InvalidEvent(e.to_string()))?;
    from_event(event, "structured")
}

fn from_event(
    mut event: cloudevents::Event,
    mode: &'static str,
) -> Result<Submission, SubmissionError> {
    let (_, _, data) = event.take_data();
    let data = match data {
        None => return Err(SubmissionError::Missing("data")),
        Some(Data::Json(value)) => value,
        Some(Data::String(text)) => {
            serde_json::from_str(&text).map_err(|_| SubmissionError::NotAMapping("data"))?
        }
        Some(Data::Binary(bytes)) => {
            serde_json::from_slice(&bytes).map_err(|_| SubmissionError::NotAMapping("data"))?
        }
    };
    let Value::Object(data) = data else {
        return Err(SubmissionError::NotAMapping("data"));
    };
    // The payload arrives under the schema's name already (`location`).
    let mut submission = flatten(data)?;
    submission.mode = mode;
    Ok(submission)
}

/// `{"event", "request", "payload", "ttl"}`: `payload` is the schema's payload field.
fn plain(
    mut object: Map<String, Value>,
    payload_field: &str,
) -> Result<Submission, SubmissionError> {
    if payload_field != "payload" {
        if let Some(payload) = object.remove("payload") {
            object.insert(payload_field.to_string(), payload);
        }
    }
    let mut submission = flatten(object)?;
    submission.mode = "plain";
    Ok(submission)
}

/// `{event, request: {..}, others}` → `event, <request fields>, <others>`.
fn flatten(mut data: Map<String, Value>) -> Result<Submission, SubmissionError> {
    let event = data
        .remove("event")
        .ok_or(SubmissionError::Missing("event"))?;
    let request = match data.remove("request") {
        None => return Err(SubmissionError::Missing("request")),
        Some(Value::Object(request)) => request,
        Some(_) => return Err(SubmissionError::NotAMapping("request")),
    };
    let mut fields = vec![("event".to_string(), event)];
    fields.extend(request);
    fields.extend(data);
    Ok(Submission { fields, mode: "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn structured(value: Value) -> Result<Submission, SubmissionError> {
        read(&HeaderMap::new(), value.to_string().as_bytes(), "location")
    }

    fn event() -> Value {
        json!({
            "specversion": "1.0", "id": "1", "source": "/host/user", "type": "aviso",
            "datacontenttype": "application/json",
            "data": {"event": "dissemination", "request": {"destination": "SCL", "step": 6},
                     "location": "s3://b/k", "ttl": "1"}
        })
    }

    #[test]
    fn a_structured_event_is_flattened_event_and_request_first() {
        let submission = structured(event()).unwrap();
        assert_eq!(submission.mode, "structured");
        let mut parameters = submission.parameters().unwrap();
        assert_eq!(parameters[0], ("event".into(), "dissemination".into()));
        parameters.sort();
        assert_eq!(
            parameters,
            [
                ("destination", "SCL"),
                ("event", "dissemination"),
                ("location", "s3://b/k"),
                ("step", "6"),
                ("ttl", "1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn missing_parts_are_named_as_pyaviso_names_them() {
        let without = |field: &str| {
            let mut e = event();
            e.as_object_mut().unwrap().remove(field);
            structured(e).unwrap_err().to_string()
        };
        assert_eq!(without("id"), "Missing required attributes: {'id'}");
        assert_eq!(without("source"), "Missing required attributes: {'source'}");
        assert_eq!(without("type"), "Missing required attributes: {'type'}");
        assert_eq!(
            without("specversion"),
            "Failed to find specversion in HTTP request"
        );
        assert_eq!(
            without("data"),
            "Invalid notification, 'data' could not be located"
        );
        let mut e = event();
        e["data"].as_object_mut().unwrap().remove("event");
        assert_eq!(
            structured(e).unwrap_err().to_string(),
            "Invalid notification, 'event' could not be located"
        );
        let mut e = event();
        e["data"].as_object_mut().unwrap().remove("request");
        assert_eq!(
            structured(e).unwrap_err().to_string(),
            "Invalid notification, 'request' could not be located"
        );
        assert_eq!(
            read(&HeaderMap::new(), b"", "location").unwrap_err(),
            SubmissionError::Empty
        );
    }

    #[test]
    fn a_binary_event_takes_its_attributes_from_headers() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "7"),
            ("ce-source", "/test"),
            ("ce-type", "aviso"),
            ("content-type", "application/json"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let body = json!({"event": "mars", "request": {"class": "od"}}).to_string();
        let submission = read(&headers, body.as_bytes(), "location").unwrap();
        assert_eq!(submission.mode, "binary");
        assert_eq!(submission.field("class"), Some(&json!("od")));
        headers.remove("ce-id");
        assert_eq!(
            read(&headers, body.as_bytes(), "location")
                .unwrap_err()
                .to_string(),
            "Missing required attributes: {'id'}"
        );
    }

    #[test]
    fn a_plain_body_renames_payload_and_refuses_structures_as_values() {
        let body =
            json!({"event": "dissemination", "request": {"destination": "SCL"}, "payload": "x"});
        let submission = read(&HeaderMap::new(), body.to_string().as_bytes(), "location").unwrap();
        assert_eq!(submission.mode, "plain");
        assert_eq!(submission.field("location"), Some(&json!("x")));
        let body = json!({"event": "dissemination", "request": {"destination": ["SCL"]}});
        let submission = read(&HeaderMap::new(), body.to_string().as_bytes(), "location").unwrap();
        assert_eq!(
            submission.parameters().unwrap_err().to_string(),
            "Invalid notification, the value of destination must be a string, a number or a boolean"
        );
    }
}
