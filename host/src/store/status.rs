//! The status key of a base key: pyaviso's JSON record of the last notification, linked to the
//! previous one (`prev_rev`) and to the last one of the previous day (`last_prev_day_rev`).

use chrono::{DateTime, NaiveDateTime, Utc};
// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
use pycompat::json::encode_basestring_ascii as json_string;
use serde_json::Value;

use super::KeyValue;

/// pyaviso's version, written in every status: the wire format is pyaviso 1.0.1's.
pub const WIRE_VERSION: &str = "1.0.1";

/// Who and where a status is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The etcd user (`null` for other authentications).
    pub etcd_user: Option<String>,
    pub unix_user: String,
    pub hostname: String,
    /// `ETCD_REST`, `ETCD_GRPC` or `FILE_BASED`.
    pub engine: String,
}

impl Writer {
    /// The current process's user and host.
    pub fn current(engine: &str, etcd_user: Option<String>) -> Writer {
        Writer {
            etcd_user,
            unix_user: unix_user(),
            hostname: hostname(),
            engine: engine.to_string(),
        }
    }
}

/// A status that cannot be read to link a new one to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the status at {key} cannot be read: {reason}")]
pub struct StatusError {
    pub key: String,
    pub reason: String,
}

/// The new status JSON for a notification written at `now`, linked to the previous status
/// (its text and its revision) when there is one.
pub fn new_status(
    writer: &Writer,
    message: &str,
    now: DateTime<Utc>,
    previous: Option<(&str, &[u8], u64)>,
) -> Result<String, StatusError> {
    let mut links = None;
    if let Some((key, text, revision)) = previous {
        let invalid = |reason: String| StatusError {
            key: key.to_string(),
            reason,
        };
        let old: Value =
            serde_json::from_slice(text).map_err(|e| invalid(format!("not JSON ({e})")))?;
        let old_date = old
            .get("date_time")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no date_time".into()))?;
        let old_date = parse_date_time(old_date)
            .ok_or_else(|| invalid(format!("date_time {old_date:?} is not a date")))?;
        let last_prev_day_rev = if old_date.date() == now.date_naive() {
            old.get("last_prev_day_rev").and_then(as_revision)
        } else {
            Some(revision)
        };
        links = Some((revision, last_prev_day_rev));
    }
    let mut out = String::from("{");
    let mut field = |name: &str, value: String| {
        if out.len() > 1 {
            out.push_str(", ");
        }
        out.push_str(&json_string(name));
        out.push_str(": ");
        out.push_str(&value);
    };
    field(
        "etcd_user",
        writer
            .etcd_user
            .as_deref()
            .map(json_string)
            .unwrap_or_else(|| "null".into()),
    );
    field("message", json_string(message));
    field("unix_user", json_string(&writer.unix_user));
    field("aviso_version", json_string(WIRE_VERSION));
    field("engine", json_string(&writer.engine));
    field("hostname", json_string(&writer.hostname));
    field("date_time", json_string(&format_date_time(now)));
    if let Some((prev_rev, last_prev_day_rev)) = links {
        field("prev_rev", prev_rev.to_string());
        if let Some(rev) = last_prev_day_rev {
            field("last_prev_day_rev", rev.to_string());
        }
    }
    out.push('}');
    Ok(out)
}

/// The status to write now after `previous` (the key and its stored record): linked to it,
/// or, when that record cannot be read, a new unlinked one with a warning (pyaviso fails there;
/// a broken record must not stop notifications or pushes).
pub fn next_status(writer: &Writer, message: &str, previous: Option<(&str, &KeyValue)>) -> String {
    let now = Utc::now();
    new_status(
        writer,
        message,
        now,
        previous.map(|(key, kv)| (key, kv.value.as_slice(), kv.mod_revision)),
    )
    .unwrap_or_else(|error| {
        tracing::warn!("{error}; writing a new status without links");
        new_status(writer, message, now, None).expect("a status without links builds")
    })
}

/// `%Y-%m-%dT%H:%M:%S.%fZ` with six fractional digits, as pyaviso writes.
pub fn format_date_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads a status date with 1 to 6 fractional digits (pyaviso's tests use 3).
pub fn parse_date_time(text: &str) -> Option<NaiveDateTime> {
    let (seconds, fraction) = text.strip_suffix('Z')?.split_once('.')?;
    if fraction.is_empty() || fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = NaiveDateTime::parse_from_str(seconds, "%Y-%m-%dT%H:%M:%S").ok()?;
    let micros: i64 = format!("{fraction:0<6}").parse().ok()?;
    Some(base + chrono::Duration::microseconds(micros))
}

/// The `prev_rev` of a stored status record, when it has one.
pub fn prev_rev(text: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(text)
        .ok()?
        .get("prev_rev")
        .and_then(as_revision)
}

/// pyaviso's tests store revisions as strings too.
fn as_revision(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn unix_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is read at once.
    let from_passwd = unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*entry).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    from_passwd
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's name (for status records and telemetry).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn writer() -> Writer {
        Writer {
            etcd_user: None,
            unix_user: "root".into(),
            hostname: "vm".into(),
            engine: "ETCD_REST".into(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&parse_date_time(text).unwrap())
    }

    #[test]
    fn first_status_has_no_links_and_pyaviso_layout() {
        let status = new_status(
            &writer(),
            "notification to key /tmp/aviso/flight/20210102/italy/FCO/AZ204",
            at("2026-11-28T21:45:47.074912Z"),
            None,
        )
        .unwrap();
        assert_eq!(
            status,
            r#"{"etcd_user": null, "message": "notification to key /tmp/aviso/flight/20210102/italy/FCO/AZ204", "unix_user": "root", "aviso_version": "1.0.1", "engine": "ETCD_REST", "hostname": "vm", "date_time": "2026-11-28T21:45:47.074912Z"}"#
        );
    }

    #[test]
    fn links_follow_the_day_change_rule() {
        let old_same_day =
            br#"{"date_time": "2026-11-28T10:00:00.123Z", "last_prev_day_rev": "7"}"#;
        let status = new_status(
            &writer(),
            "m",
            at("2026-11-28T21:00:00.0Z"),
            Some(("/b/", old_same_day, 12)),
        )
        .unwrap();
        assert!(
            status.ends_with(r#""prev_rev": 12, "last_prev_day_rev": 7}"#),
            "{status}"
        );

        let old_without = br#"{"date_time": "2026-11-28T10:00:00.1Z"}"#;
        let status = new_status(
            &writer(),
            "m",
            at("2026-11-28T21:00:00.0Z"),
            Some(("/b/", old_without, 12)),
        )
        .unwrap();
        assert!(status.ends_with(r#""prev_rev": 12}"#), "{status}");

        let old_yesterday =
            br#"{"date_time": "2026-11-27T23:59:59.999999Z", "last_prev_day_rev": 3}"#;
        let status = new_status(
            &writer(),
            "m",
            at("2026-11-28T00:00:00.000001Z"),
            Some(("/b/", old_yesterday, 12)),
        )
        .unwrap();
        assert!(
            status.ends_with(r#""prev_rev": 12, "last_prev_day_rev": 12}"#),
            "{status}"
        );
    }

    #[test]
    fn a_broken_previous_status_is_an_error_naming_the_key() {
        let error = new_status(&writer(), "m", Utc::now(), Some(("/b/", b"None", 3))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the status at /b/ cannot be read"),
            "{error}"
        );
        let error = new_status(&writer(), "m", Utc::now(), Some(("/b/", b"{}", 3))).unwrap_err();
        assert!(error.to_string().contains("no date_time"), "{error}");
    }

    #[test]
    fn dates_with_one_to_six_fraction_digits() {
        assert!(parse_date_time("2026-11-28T21:45:47.0Z").is_some());
        assert!(parse_date_time("2026-11-28T21:45:47.123Z").is_some());
        assert!(parse_date_time("2026-11-28T21:45:47.1234567Z").is_none());
        assert!(parse_date_time("2026-11-28T21:45:47Z").is_none());
        assert_eq!(
            format_date_time(at("2026-11-28T21:45:47.5Z")),
            "2026-11-28T21:45:47.500000Z"
        );
    }
}
