//! What the post trigger needs for AWS SNS that a sandbox cannot look up itself: the SNS
//! endpoint's origin (the only host it may reach) and credentials from the trigger, the
//! environment or `~/.aws/credentials`, as boto3 finds them.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::plugin::HttpOrigin;

/// The origin of the SNS endpoint: `endpoint_url`, or `https://sns.<region_name>.amazonaws.com`.
pub fn sns_origin(protocol: &Map<String, Value>) -> Option<HttpOrigin> {
    if let Some(url) = protocol.get("endpoint_url").and_then(Value::as_str) {
        return HttpOrigin::of_url(url);
    }
    let region = protocol.get("region_name")?.as_str()?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid
        .then(|| HttpOrigin::of_url(&format!("https://sns.{region}.amazonaws.com/")))
        .flatten()
}

/// Adds credentials to the protocol block when it has none: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the `AWS_PROFILE` (or `default`)
/// profile of `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
pub fn add_credentials(protocol: &mut Map<String, Value>) {
    if protocol
        .get("aws_access_key_id")
        .is_some_and(|v| !v.is_null())
    {
        return;
    }
    let found = from_environment().or_else(from_credentials_file);
    if let Some((key, secret, token)) = found {
        protocol.insert("aws_access_key_id".into(), Value::String(key));
        protocol.insert("aws_secret_access_key".into(), Value::String(secret));
        if let Some(token) = token {
            protocol.insert("aws_session_token".into(), Value::String(token));
        }
    }
}

type Found = (String, String, Option<String>);

fn from_environment() -> Option<Found> {
    let key = std::env::var("AWS_ACCESS_KEY_ID")
        .ok()
        .filter(|k| !k.is_empty())?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .ok()
        .filter(|s| !s.is_empty())?;
    Some((
        key,
        secret,
        std::env::var("AWS_SESSION_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    ))
}

fn from_credentials_file() -> Option<Found> {
    let path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| crate::config::home_dir().map(|h| h.join(".aws").join("credentials")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    parse_profile(&text, &profile)
}

/// Reads one profile of an INI credentials file.
fn parse_profile(text: &str, profile: &str) -> Option<Found> {
    let mut in_profile = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let value = Some(value.trim().to_string());
            match name.trim() {
                "aws_access_key_id" => key = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
    }
    Some((key?, secret?, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_origins() {
        let origin = |v: Value| sns_origin(v.as_object().unwrap()).map(|o| o.to_string());
        assert_eq!(
            origin(json!({"region_name": "us-east-2"})).as_deref(),
            Some("https://sns.us-east-2.amazonaws.com:443")
        );
        assert_eq!(
            origin(json!({"region_name": "x", "endpoint_url": "http://127.0.0.1:4566"})).as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(origin(json!({"region_name": "evil.com/x"})), None);
        assert_eq!(origin(json!({})), None);
    }

    #[test]
    fn profiles_of_a_credentials_file() {
        let text = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n[ops]\naws_access_key_id=AKIA2\naws_secret_access_key=s2\naws_session_token=t2\n";
        assert_eq!(
            parse_profile(text, "default"),
            Some(("AKIA1".into(), "s1".into(), None))
        );
        assert_eq!(
            parse_profile(text, "ops"),
            Some(("AKIA2".into(), "s2".into(), Some("t2".into())))
        );
        assert_eq!(parse_profile(text, "nope"), None);
    }
}
