//! A trigger's configuration: the JSON object the host passes, read either into a type of the
//! plugin's own through serde ([`Config::parse_as`]) or one setting at a time with getters.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Error;

/// A trigger's configuration: the JSON object of its listener entry (for a `type: plugin`
/// trigger, its `config:` block).
///
/// Read it into a struct of your own with [`parse_as`](Config::parse_as), or setting by setting
/// with the getters ([`require_str`](Config::require_str), [`optional_str`](Config::optional_str),
/// ...). Either way a wrong setting is an [`Error::InvalidConfig`] naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config(pub Map<String, Value>);

impl Config {
    /// Parses the configuration text the host passes: a JSON object.
    ///
    /// ```
    /// use aviso_sdk::{Config, Error};
    ///
    /// let config = Config::parse(r#"{"board": "/tmp/board.txt"}"#)?;
    /// assert_eq!(config.require_str("board")?, "/tmp/board.txt");
    /// assert!(matches!(Config::parse("[1, 2]"), Err(Error::InvalidConfig(_))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Config, Error> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Config(map)),
            Ok(other) => Err(Error::InvalidConfig(format!(
                "configuration must be an object, found {other}"
            ))),
            Err(e) => Err(Error::InvalidConfig(format!(
                "configuration is not valid JSON: {e}"
            ))),
        }
    }

    /// The configuration as a value of the plugin's own type, through serde.
    ///
    /// A setting that does not fit is an [`Error::InvalidConfig`] that names it, with its
    /// path for nested settings (`protocol.timeout: invalid type: ...`, `targets[1]: ...`); a
    /// missing one reads as pyaviso's `<setting> is a mandatory field`. Settings the type does
    /// not mention are ignored unless it says `#[serde(deny_unknown_fields)]`. Inside an
    /// internally tagged or untagged enum, which serde reads as a whole before choosing the
    /// variant, the path names the enum's setting.
    ///
    /// ```
    /// use aviso_sdk::{Config, Error};
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Settings {
    ///     board: String,
    ///     #[serde(default)]
    ///     airline: Option<String>,
    ///     limits: Limits,
    /// }
    ///
    /// #[derive(Deserialize)]
    /// struct Limits {
    ///     lines: u32,
    /// }
    ///
    /// let config = Config::parse(r#"{"board": "/tmp/b.txt", "limits": {"lines": 10}}"#)?;
    /// let settings: Settings = config.parse_as()?;
    /// assert_eq!(settings.board, "/tmp/b.txt");
    /// assert_eq!(settings.airline, None);
    /// assert_eq!(settings.limits.lines, 10);
    ///
    /// let config = Config::parse(r#"{"board": "/tmp/b.txt", "limits": {"lines": "many"}}"#)?;
    /// assert_eq!(
    ///     config.parse_as::<Settings>().err(),
    ///     Some(Error::InvalidConfig(
    ///         "limits.lines: invalid type: string \"many\", expected u32".into()
    ///     ))
    /// );
    ///
    /// let config = Config::parse(r#"{"limits": {"lines": 3}}"#)?;
    /// assert_eq!(
    ///     config.parse_as::<Settings>().err(),
    ///     Some(Error::InvalidConfig("board is a mandatory field".into()))
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // Each setting goes on a line of its own, so the line serde_json reports names it.
        let mut lines = Lines::default();
        lines.value(&Value::Object(self.0.clone()), "", None);
        serde_json::from_str(&lines.text).map_err(|e| {
            let path = e
                .line()
                .checked_sub(1)
                .and_then(|i| lines.paths.get(i))
                .map(String::as_str)
                .unwrap_or("");
            Error::InvalidConfig(describe(&e, path))
        })
    }

    /// A setting, if it is present and not `null`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A string setting that must be present: pyaviso's `<key> is a mandatory field`.
    pub fn require_str(&self, key: &str) -> Result<&str, Error> {
        match self.get(key) {
            None => Err(Error::InvalidConfig(format!("{key} is a mandatory field"))),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a string, found {other}"
            ))),
        }
    }

    /// An optional string setting.
    pub fn optional_str(&self, key: &str) -> Result<Option<&str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a string, found {other}"
            ))),
        }
    }

    /// A nested object setting (e.g. `protocol`), itself a `Config`.
    pub fn optional_section(&self, key: &str) -> Result<Option<Config>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Config(map.clone()))),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a mapping, found {other}"
            ))),
        }
    }

    /// A mapping of strings (e.g. `environment`, `headers`); numbers and booleans are taken as
    /// their text, as a YAML author expects.
    pub fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, Error> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(Error::InvalidConfig(format!(
                        "{key}.{k} must be a string, found {other}"
                    ))),
                })
                .collect(),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a mapping, found {other}"
            ))),
        }
    }

    /// An optional number of seconds (not negative).
    pub fn optional_seconds(&self, key: &str) -> Result<Option<f64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().filter(|s| *s >= 0.0).map(Some).ok_or_else(|| {
                Error::InvalidConfig(format!("{key} must be a number of seconds, found {n}"))
            }),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be a number of seconds, found {other}"
            ))),
        }
    }

    /// An optional boolean setting.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{key} must be true or false, found {other}"
            ))),
        }
    }
}

/// serde_json's message without its position, behind the setting's path; a missing field in
/// pyaviso's words.
fn describe(e: &serde_json::Error, path: &str) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("{} is a mandatory field", join(path, field));
    }
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// JSON text with one setting per line, and the path of the setting on each line (a closing
/// bracket's line has its container's path).
#[derive(Default)]
struct Lines {
    text: String,
    paths: Vec<String>,
}

impl Lines {
    /// Writes `value`, whose path is `path`, after `key` (inside an object) on a new line.
    fn value(&mut self, value: &Value, path: &str, key: Option<&str>) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.paths.push(path.to_string());
        if let Some(key) = key {
            self.text
                .push_str(&Value::String(key.to_string()).to_string());
            self.text.push(':');
        }
        match value {
            Value::Object(map) if !map.is_empty() => {
                self.text.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.value(v, &join(path, k), Some(k));
                }
                self.close('}', path);
            }
            Value::Array(items) if !items.is_empty() => {
                self.text.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.value(item, &format!("{path}[{i}]"), None);
                }
                self.close(']', path);
            }
            scalar_or_empty => self.text.push_str(&scalar_or_empty.to_string()),
        }
    }

    fn close(&mut self, bracket: char, path: &str) {
        self.text.push('\n');
        self.text.push(bracket);
        self.paths.push(path.to_string());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Post {
        protocol: Protocol,
        #[serde(default)]
        retries: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Protocol {
        #[serde(rename = "type")]
        kind: Kind,
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        timeout: Option<f64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        CloudeventsHttp,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Targets {
        targets: Vec<Target>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Target {
        host: String,
        port: u16,
    }

    fn parse_as<T: DeserializeOwned>(json: Value) -> Result<T, Error> {
        Config::parse(&json.to_string())?.parse_as()
    }

    #[test]
    fn a_configuration_that_fits_reads_into_the_type() {
        let post: Post = parse_as(serde_json::json!({
            "protocol": {
                "type": "cloudevents_http",
                "url": "https://example.com/hook",
                "headers": {"Authorization": "Bearer \"x\"\n"},
                "timeout": null,
            },
        }))
        .unwrap();
        assert_eq!(
            post,
            Post {
                protocol: Protocol {
                    kind: Kind::CloudeventsHttp,
                    url: "https://example.com/hook".into(),
                    headers: BTreeMap::from([("Authorization".into(), "Bearer \"x\"\n".into())]),
                    timeout: None,
                },
                retries: 0,
            }
        );
    }

    #[test]
    fn a_wrong_setting_is_named_by_its_path() {
        let wrong_type = parse_as::<Post>(serde_json::json!({
            "protocol": {"type": "cloudevents_http", "url": "https://example.com", "timeout": "soon"},
        }));
        assert_eq!(
            wrong_type,
            Err(Error::InvalidConfig(
                "protocol.timeout: invalid type: string \"soon\", expected f64".into()
            ))
        );
        let in_a_list = parse_as::<Targets>(serde_json::json!({
            "targets": [{"host": "a", "port": 80}, {"host": "b", "port": 70000}],
        }));
        assert_eq!(
            in_a_list,
            Err(Error::InvalidConfig(
                "targets[1].port: invalid value: integer `70000`, expected u16".into()
            ))
        );
        let unknown = parse_as::<Post>(serde_json::json!({
            "protocol": {"type": "cloudevents_http", "url": "u"},
            "retry": 3,
        }));
        assert_eq!(
            unknown,
            Err(Error::InvalidConfig(
                "retry: unknown field `retry`, expected `protocol` or `retries`".into()
            ))
        );
        let variant = parse_as::<Post>(serde_json::json!({
            "protocol": {"type": "carrier_pigeon", "url": "u"},
        }));
        assert_eq!(
            variant,
            Err(Error::InvalidConfig(
                "protocol.type: unknown variant `carrier_pigeon`, expected `cloudevents_http`"
                    .into()
            ))
        );
    }

    #[test]
    fn a_missing_setting_is_a_mandatory_field() {
        assert_eq!(
            parse_as::<Post>(serde_json::json!({})),
            Err(Error::InvalidConfig("protocol is a mandatory field".into()))
        );
        assert_eq!(
            parse_as::<Post>(serde_json::json!({"protocol": {"type": "cloudevents_http"}})),
            Err(Error::InvalidConfig(
                "protocol.url is a mandatory field".into()
            ))
        );
        assert_eq!(
            parse_as::<Targets>(serde_json::json!({"targets": [{"host": "a"}]})),
            Err(Error::InvalidConfig(
                "targets[0].port is a mandatory field".into()
            ))
        );
    }

    #[test]
    fn getters_keep_pyaviso_s_wording() {
        let config =
            Config::parse(r#"{"url": 3, "verify": "yes", "headers": {"a": [1]}}"#).unwrap();
        assert_eq!(
            config.require_str("path"),
            Err(Error::InvalidConfig("path is a mandatory field".into()))
        );
        assert_eq!(
            config.require_str("url"),
            Err(Error::InvalidConfig("url must be a string, found 3".into()))
        );
        assert_eq!(
            config.optional_bool("verify"),
            Err(Error::InvalidConfig(
                "verify must be true or false, found \"yes\"".into()
            ))
        );
        assert_eq!(
            config.string_map("headers"),
            Err(Error::InvalidConfig(
                "headers.a must be a string, found [1]".into()
            ))
        );
    }
}
