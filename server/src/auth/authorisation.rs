//! Authorisation: which keys a request selects, whether the user may read them all, and the
//! user's destinations from ECPDS.
//!
//! pyaviso checked only the first key of a request (S2: a `range_end` past the user's keys
//! read every destination). Here the whole interval a range or a watch selects must lie inside
//! one allowed prefix, and etcd is sent the request as it was checked: the body is parsed,
//! every field is known, and a canonical body is forwarded (etcd's gateway also reads
//! `rangeEnd` for `range_end`, so forwarding the raw bytes would let a spelling the check did
//! not read through).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use super::cache::Memo;
use crate::gateway::prefix_end;
use crate::http::ApiError;

/// The keys a request selects, as etcd reads `key` and `range_end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `range_end` absent or empty: this key only.
    Key(Vec<u8>),
    /// `[key, range_end)`.
    Range(Vec<u8>, Vec<u8>),
    /// `range_end` `"\0"`: every key from this one on.
    From(Vec<u8>),
}

impl Selection {
    pub fn key(&self) -> &[u8] {
        match self {
            Selection::Key(key) | Selection::Range(key, _) | Selection::From(key) => key,
        }
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match self {
            Selection::Key(key) => write!(f, "key {:?}", text(key)),
            Selection::Range(key, end) => write!(f, "range [{:?}, {:?})", text(key), text(end)),
            Selection::From(key) => write!(f, "every key from {:?}", text(key)),
        }
    }
}

/// A checked request: what it selects and the body to forward.
#[derive(Debug, Clone)]
pub struct Checked {
    pub selection: Selection,
    pub body: Value,
    /// A single key with `keys_only` or `count_only`: asked for the store's revision (B2).
    pub revision_probe: bool,
}

/// The fields of etcd's RangeRequest, with the gateway's other spelling.
const RANGE_FIELDS: &[(&str, &str)] = &[
    ("key", "key"),
    ("range_end", "rangeEnd"),
    ("limit", "limit"),
    ("revision", "revision"),
    ("sort_order", "sortOrder"),
    ("sort_target", "sortTarget"),
    ("serializable", "serializable"),
    ("keys_only", "keysOnly"),
    ("count_only", "countOnly"),
    ("min_mod_revision", "minModRevision"),
    ("max_mod_revision", "maxModRevision"),
    ("min_create_revision", "minCreateRevision"),
    ("max_create_revision", "maxCreateRevision"),
];

/// The fields of etcd's WatchCreateRequest.
const WATCH_FIELDS: &[(&str, &str)] = &[
    ("key", "key"),
    ("range_end", "rangeEnd"),
    ("start_revision", "startRevision"),
    ("progress_notify", "progressNotify"),
    ("filters", "filters"),
    ("prev_kv", "prevKv"),
    ("watch_id", "watchId"),
    ("fragment", "fragment"),
];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// The body as one JSON object (pyaviso's messages for an empty or unreadable one).
fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("Invalid request, Body cannot be empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("Invalid request, the body must be a JSON object")),
        Err(_) => Err(invalid("Invalid request, Body cannot be empty")),
    }
}

/// Base64 as etcd's gateway reads it (standard or URL-safe, padded or not).
fn base64_field(name: &str, value: &Value) -> Result<Vec<u8>, ApiError> {
    let Value::String(text) = value else {
        return Err(invalid(format!(
            "Invalid request, {name} must be a base64 string"
        )));
    };
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| invalid(format!("Invalid request, {name} must be a base64 string")))
}

/// The fields of `map` under their canonical names (both spellings accepted, once), nulls
/// dropped; an unknown field is refused.
fn canonical(
    map: Map<String, Value>,
    fields: &[(&'static str, &'static str)],
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (name, value) in map {
        let Some((canonical, _)) = fields
            .iter()
            .find(|(snake, camel)| name == *snake || name == *camel)
        else {
            return Err(invalid(format!("Invalid request, unknown field {name}")));
        };
        if value.is_null() {
            continue;
        }
        if out.insert(canonical.to_string(), value).is_some() {
            return Err(invalid(format!(
                "Invalid request, {canonical} is given twice"
            )));
        }
    }
    Ok(out)
}

/// The selection of a canonical body, with `key` and `range_end` re-encoded as checked.
fn selection(fields: &mut Map<String, Value>) -> Result<Selection, ApiError> {
    let key = match fields.get("key") {
        None => return Err(invalid("Invalid request, key not found in the body")),
        Some(value) => base64_field("key", value)?,
    };
    if key.is_empty() {
        return Err(invalid("Invalid request, key not found in the body"));
    }
    let end = match fields.get("range_end") {
        None => Vec::new(),
        Some(value) => base64_field("range_end", value)?,
    };
    fields.insert("key".into(), Value::String(STANDARD.encode(&key)));
    if end.is_empty() {
        fields.remove("range_end");
    } else {
        fields.insert("range_end".into(), Value::String(STANDARD.encode(&end)));
    }
    Ok(match end.as_slice() {
        [] => Selection::Key(key),
        [0] => Selection::From(key),
        _ => Selection::Range(key, end),
    })
}

/// A `kv/range` body.
pub fn range_request(body: &[u8]) -> Result<Checked, ApiError> {
    let mut fields = canonical(object(body)?, RANGE_FIELDS)?;
    let selection = selection(&mut fields)?;
    let flag = |name: &str| fields.get(name).and_then(Value::as_bool) == Some(true);
    let revision_probe =
        matches!(selection, Selection::Key(_)) && (flag("keys_only") || flag("count_only"));
    // The field order of the request, as it came.
    Ok(Checked {
        selection,
        body: Value::Object(fields),
        revision_probe,
    })
}

/// A `watch` body: exactly one `create_request` (cancel and progress requests, or several
/// requests in one body, are refused: each would be a way past the check).
pub fn watch_request(body: &[u8]) -> Result<Checked, ApiError> {
    let map = object(body)?;
    let only_create = map.len() == 1
        && map
            .keys()
            .all(|k| k == "create_request" || k == "createRequest");
    if !only_create {
        return Err(invalid(
            "Invalid request, the body must be one create_request",
        ));
    }
    let Some(Value::Object(create)) = map.into_iter().next().map(|(_, v)| v) else {
        return Err(invalid(
            "Invalid request, the body must be one create_request",
        ));
    };
    let mut fields = canonical(create, WATCH_FIELDS)?;
    let selection = selection(&mut fields)?;
    let mut body = Map::new();
    body.insert("create_request".into(), Value::Object(fields));
    Ok(Checked {
        selection,
        body: Value::Object(body),
        revision_probe: false,
    })
}

/// Whether `selection` lies within the keys that start with `prefix`.
fn within(selection: &Selection, prefix: &[u8]) -> bool {
    let end = prefix_end(prefix);
    let everything = end == [0];
    match selection {
        Selection::Key(key) => key.starts_with(prefix),
        Selection::Range(key, range_end) => {
            key.starts_with(prefix) && (everything || range_end.as_slice() <= end.as_slice())
        }
        Selection::From(key) => key.starts_with(prefix) && everything,
    }
}

/// The prefixes open to every authenticated user and those open per destination.
#[derive(Debug, Clone)]
pub struct Rules {
    open: Vec<Vec<u8>>,
    /// Each protected prefix with a `/` at its end (`/ec/diss/`).
    protected: Vec<Vec<u8>>,
}

impl Rules {
    pub fn new(open_keys: &[String], protected_keys: &[String]) -> Rules {
        Rules {
            open: open_keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            protected: protected_keys
                .iter()
                .map(|k| {
                    let mut prefix = k.as_bytes().to_vec();
                    if !prefix.ends_with(b"/") {
                        prefix.push(b'/');
                    }
                    prefix
                })
                .collect(),
        }
    }

    /// Whether an open prefix holds the whole selection (as pyaviso, a prefix is matched as
    /// text: `/ec/mars` holds `/ec/mars2/...` too).
    pub fn open(&self, selection: &Selection) -> bool {
        self.open.iter().any(|prefix| within(selection, prefix))
    }

    /// The destination whose keys hold the whole selection, if one does: the keys under
    /// `<protected>/<DEST>/`, and the single key `<protected>/<DEST>` (a base's status key).
    pub fn destination(&self, selection: &Selection) -> Option<Vec<u8>> {
        self.protected.iter().find_map(|prefix| {
            let rest = selection.key().strip_prefix(prefix.as_slice())?;
            let (destination, under) = match rest.iter().position(|b| *b == b'/') {
                Some(slash) => (&rest[..slash], true),
                None => (rest, false),
            };
            if destination.is_empty() {
                return None;
            }
            let mut base = prefix.clone();
            base.extend_from_slice(destination);
            let whole = if under {
                base.push(b'/');
                within(selection, &base)
            } else {
                *selection == Selection::Key(base)
            };
            whole.then(|| destination.to_vec())
        })
    }
}

/// ECPDS: the destinations of a user, memoised.
pub struct Destinations {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    username: Option<String>,
    password: Option<String>,
    cache: Memo<String, Vec<String>>,
    cache_timeout: Duration,
}

/// Why ECPDS gave no list.
#[derive(Debug)]
pub enum DestinationsError {
    /// Its own answer: the user does not exist (404) or another error (500).
    Refused(ApiError),
    /// Unreachable, too slow or failing (503).
    Unavailable(String),
}

impl Destinations {
    pub fn new(
        client: reqwest::Client,
        url: &str,
        timeout: Duration,
        username: Option<String>,
        password: Option<String>,
        cache_capacity: usize,
        cache_timeout: Duration,
    ) -> Destinations {
        Destinations {
            client,
            url: url.to_string(),
            timeout,
            username,
            password,
            cache: Memo::new(cache_capacity),
            cache_timeout,
        }
    }

    /// The user's destinations, from the memo or ECPDS; `(list, from the memo)`.
    pub async fn of(&self, user: &str) -> Result<(Vec<String>, bool), DestinationsError> {
        if let Some(list) = self.cache.get(&user.to_string()) {
            return Ok((list, true));
        }
        let list = self.ask(user).await?;
        tracing::debug!("Username {user} is allowed to access: {list:?}");
        self.cache
            .insert(user.to_string(), list.clone(), self.cache_timeout);
        Ok((list, false))
    }

    async fn ask(&self, user: &str) -> Result<Vec<String>, DestinationsError> {
        let support = || {
            DestinationsError::Refused(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "Error in retrieving destinations for {user}, please contact the support team"
                ),
            ))
        };
        let url = reqwest::Url::parse_with_params(&self.url, &[("id", user)]).map_err(|e| {
            tracing::error!("authorisation_server.url {}: {e}", self.url);
            support()
        })?;
        let mut request = self.client.get(url).timeout(self.timeout);
        if let Some(username) = &self.username {
            request = request.basic_auth(username, self.password.as_ref());
        }
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            DestinationsError::Unavailable(format!(
                "Not able to retrieve destinations for {user} from {}: {}",
                self.url,
                aviso::cause::plain(&e)
            ))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            DestinationsError::Unavailable(format!(
                "Not able to retrieve destinations for {user} from {}: {}",
                self.url,
                aviso::cause::plain(&e)
            ))
        })?;
        tracing::debug!(
            "ECPDS answered {status} for {user} in {:?}",
            started.elapsed()
        );
        if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
            return Err(DestinationsError::Unavailable(format!(
                "Not able to retrieve destinations for {user} from {}, {status}",
                self.url
            )));
        }
        if status != StatusCode::OK {
            tracing::error!(
                "Not able to retrieve destinations for {user} from {}, {status}: {}",
                self.url,
                String::from_utf8_lossy(&bytes)
            );
            return Err(support());
        }
        let Ok(answer) = serde_json::from_slice::<Value>(&bytes) else {
            tracing::error!(
                "ECPDS at {} sent an answer that is not JSON: {}",
                self.url,
                String::from_utf8_lossy(&bytes)
            );
            return Err(support());
        };
        if answer.get("success").and_then(Value::as_str) != Some("yes") {
            let error = match answer.get("error") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            tracing::error!(
                "Error in retrieving destinations for {user} from {}, error {error}",
                self.url
            );
            if error.to_lowercase().contains("not found") {
                return Err(DestinationsError::Refused(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Error in retrieving destinations for {user}, {error}"),
                )));
            }
            return Err(support());
        }
        Ok(answer
            .get("destinationList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(text: &[u8]) -> String {
        STANDARD.encode(text)
    }

    fn range(body: Value) -> Result<Checked, ApiError> {
        range_request(body.to_string().as_bytes())
    }

    fn rules() -> Rules {
        Rules::new(
            &["/ec/mars".into(), "/ec/config/aviso".into()],
            &["/ec/diss".into()],
        )
    }

    fn sel(key: &str, end: Option<&[u8]>) -> Selection {
        let body = match end {
            None => json!({"key": b64(key.as_bytes())}),
            Some(end) => json!({"key": b64(key.as_bytes()), "range_end": b64(end)}),
        };
        range(body).unwrap().selection
    }

    #[test]
    fn bodies_are_read_as_etcd_reads_them_and_forwarded_canonical() {
        let checked = range(json!({"key": b64(b"/ec/mars/"), "rangeEnd": b64(b"/ec/mars0"), "keysOnly": true, "revision": null})).unwrap();
        assert_eq!(
            checked.selection,
            Selection::Range(b"/ec/mars/".to_vec(), b"/ec/mars0".to_vec())
        );
        assert_eq!(
            checked.body,
            json!({"key": b64(b"/ec/mars/"), "range_end": b64(b"/ec/mars0"), "keys_only": true})
        );
        assert!(!checked.revision_probe);
        // URL-safe base64 is read too, and sent on in the standard alphabet.
        let checked =
            range(json!({"key": URL_SAFE_NO_PAD.encode([0xfb, 0xff]), "count_only": true}))
                .unwrap();
        assert_eq!(checked.body["key"], b64(&[0xfb, 0xff]));
        assert!(checked.revision_probe);
        let message = |r: Result<Checked, ApiError>| r.unwrap_err().message;
        assert_eq!(
            message(range_request(b"")),
            "Invalid request, Body cannot be empty"
        );
        assert_eq!(
            message(range_request(b"{not json")),
            "Invalid request, Body cannot be empty"
        );
        assert_eq!(
            message(range(json!({"keyyy": "x"}))),
            "Invalid request, unknown field keyyy"
        );
        assert_eq!(
            message(range(json!({"limit": 1}))),
            "Invalid request, key not found in the body"
        );
        assert_eq!(
            message(range(
                json!({"key": b64(b"/a"), "range_end": b64(b"/b"), "rangeEnd": b64(b"/c")})
            )),
            "Invalid request, range_end is given twice"
        );
        assert_eq!(
            message(range(json!({"key": "%%%"}))),
            "Invalid request, key must be a base64 string"
        );
    }

    #[test]
    fn a_watch_body_is_one_create_request() {
        let create = json!({"key": b64(b"/ec/diss/SCL/"), "range_end": b64(b"/ec/diss/SCL0"), "start_revision": 5, "progress_notify": true});
        let checked =
            watch_request(json!({"create_request": create}).to_string().as_bytes()).unwrap();
        assert_eq!(checked.body, json!({"create_request": create}));
        for refused in [
            json!({"cancel_request": {"watch_id": 0}}),
            json!({"progress_request": {}}),
            json!({"create_request": create, "cancel_request": {"watch_id": 0}}),
            json!({"create_request": "x"}),
        ] {
            assert_eq!(
                watch_request(refused.to_string().as_bytes())
                    .unwrap_err()
                    .message,
                "Invalid request, the body must be one create_request"
            );
        }
        // Two objects in one body (etcd's gateway would read both).
        let two = format!(
            "{}{}",
            json!({"create_request": create}),
            json!({"create_request": {"key": b64(b"/")}})
        );
        assert_eq!(
            watch_request(two.as_bytes()).unwrap_err().message,
            "Invalid request, Body cannot be empty"
        );
    }

    #[test]
    fn the_whole_interval_must_lie_in_one_allowed_prefix() {
        let rules = rules();
        assert!(rules.open(&sel("/ec/mars/date=1", None)));
        assert!(rules.open(&sel("/ec/mars/", Some(b"/ec/mars0"))));
        assert!(rules.open(&sel("/ec/mars", Some(b"/ec/mart"))));
        assert!(!rules.open(&sel("/ec/mars", Some(b"/ec/mart\x00"))));
        assert!(!rules.open(&sel("/ec/mars", Some(b"/ec/zzz"))));
        assert!(!rules.open(&sel("/ec/mars", Some(b"\0"))));
        assert!(!rules.open(&sel("/ec/diss/SCL/", None)));

        let scl = Some(b"SCL".to_vec());
        assert_eq!(rules.destination(&sel("/ec/diss/SCL/x", None)), scl);
        assert_eq!(rules.destination(&sel("/ec/diss/SCL", None)), scl);
        assert_eq!(
            rules.destination(&sel("/ec/diss/SCL/", Some(b"/ec/diss/SCL0"))),
            scl
        );
        // S2: the status key of SCL as a start does not open what follows it.
        assert_eq!(
            rules.destination(&sel("/ec/diss/SCL", Some(b"/ec/diss0"))),
            None
        );
        assert_eq!(rules.destination(&sel("/ec/diss/SCL", Some(b"\0"))), None);
        assert_eq!(
            rules.destination(&sel("/ec/diss/SCL/", Some(b"/ec/diss/SCM"))),
            None
        );
        // SCL-2 sorts between /ec/diss/SCL and /ec/diss/SCL/.
        assert_eq!(
            rules.destination(&sel("/ec/diss/SCL", Some(b"/ec/diss/SCL0"))),
            None
        );
        assert_eq!(rules.destination(&sel("/ec/diss/", None)), None);
        assert_eq!(
            rules.destination(&sel("/ec/diss/", Some(b"/ec/diss0"))),
            None
        );
    }
}
