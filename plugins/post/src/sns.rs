//! AWS SNS `Publish` (query API, signed with Signature Version 4), as pyaviso's
//! `cloudevents_aws` protocol sends it through boto3: `Message` is `{"default": <CloudEvent
//! JSON>}` with `MessageStructure=json`, `Subject` the CloudEvent type.

use std::time::Duration;

use aviso_sdk::http::{Method, Request, Url};
use aviso_sdk::{Config, Error, clock, pyjson};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::MAX_RESPONSE_BODY;

/// Credentials; the host fills them from the environment or `~/.aws/credentials` when the
/// trigger does not give them.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

pub struct Target {
    pub arn: String,
    pub region: String,
    pub endpoint: Url,
    pub message_group_id: Option<String>,
    /// (name, data type, string value)
    pub attributes: Vec<(String, String, String)>,
}

impl Target {
    pub fn from_config(protocol: &Config) -> Result<Target, Error> {
        let arn = protocol.require_str("arn")?.to_string();
        let region = protocol.require_str("region_name")?.to_string();
        let endpoint = match protocol.optional_str("endpoint_url")? {
            Some(url) => Url::parse(url)?,
            None => Url::parse(&format!("https://sns.{region}.amazonaws.com/"))?,
        };
        let mut attributes = Vec::new();
        if let Some(section) = protocol.optional_section("MessageAttributes")? {
            for (name, value) in &section.0 {
                let field = |key: &str| -> Result<String, Error> {
                    value
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            Error::InvalidConfig(format!(
                                "MessageAttributes.{name}.{key} is a mandatory field"
                            ))
                        })
                };
                attributes.push((name.clone(), field("DataType")?, field("StringValue")?));
            }
        }
        Ok(Target {
            arn,
            region,
            endpoint,
            message_group_id: protocol.optional_str("MessageGroupId")?.map(str::to_string),
            attributes,
        })
    }
}

impl Credentials {
    pub fn from_config(protocol: &Config) -> Result<Credentials, Error> {
        let missing = || {
            Error::InvalidConfig(
                "no AWS credentials: give aws_access_key_id and aws_secret_access_key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use ~/.aws/credentials".into(),
            )
        };
        Ok(Credentials {
            access_key_id: protocol
                .optional_str("aws_access_key_id")?
                .ok_or_else(missing)?
                .to_string(),
            secret_access_key: protocol
                .optional_str("aws_secret_access_key")?
                .ok_or_else(missing)?
                .to_string(),
            session_token: protocol
                .optional_str("aws_session_token")?
                .map(str::to_string),
        })
    }
}

/// Publishes `event_json` (a CloudEvent) with subject `subject`; `event_id` deduplicates FIFO topics.
pub fn publish(
    target: &Target,
    credentials: &Credentials,
    subject: &str,
    event_id: &str,
    event_json: &str,
    timeout: f64,
) -> Result<(), Error> {
    let mut message = serde_json::Map::new();
    message.insert("default".into(), Value::String(event_json.to_string()));
    let message = pyjson::dumps(&Value::Object(message), None, false);
    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), "Publish".into()),
        ("Version".into(), "2010-03-31".into()),
        ("TopicArn".into(), target.arn.clone()),
        ("Message".into(), message),
        ("MessageStructure".into(), "json".into()),
        ("Subject".into(), subject.to_string()),
    ];
    for (i, (name, data_type, value)) in target.attributes.iter().enumerate() {
        let prefix = format!("MessageAttributes.entry.{}", i + 1);
        params.push((format!("{prefix}.Name"), name.clone()));
        params.push((format!("{prefix}.Value.DataType"), data_type.clone()));
        params.push((format!("{prefix}.Value.StringValue"), value.clone()));
    }
    if let Some(group) = &target.message_group_id {
        params.push(("MessageGroupId".into(), group.clone()));
        params.push(("MessageDeduplicationId".into(), event_id.to_string()));
    }
    let body = params
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let now = clock::now(0);
    let date = format!("{:04}{:02}{:02}", now.year, now.month, now.day);
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", now.hour, now.minute, now.second);
    let host = target.endpoint.authority().to_ascii_lowercase();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let mut signed: Vec<(&str, String)> = vec![
        ("content-type", content_type.to_string()),
        ("host", host),
        ("x-amz-date", amz_date.clone()),
    ];
    if let Some(token) = &credentials.session_token {
        signed.push(("x-amz-security-token", token.clone()));
    }
    let authorization = authorization(
        credentials,
        &target.region,
        &date,
        &amz_date,
        target.endpoint.path_and_query(),
        &signed,
        body.as_bytes(),
    );
    let mut request = Request::with_url(Method::Post, target.endpoint.clone())
        .timeout(Duration::try_from_secs_f64(timeout).unwrap_or(Duration::MAX))
        .max_response_body(MAX_RESPONSE_BODY);
    for (name, value) in signed.iter().filter(|(name, _)| *name != "host") {
        request = request.header(name, value);
    }
    let response = request
        .header("authorization", authorization)
        .body(body)
        .send()?;
    if response.is_success() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "Not able to publish to SNS topic {}, status {}, {}",
            target.arn,
            response.status_line(),
            response.body_excerpt()
        )))
    }
}

/// The SigV4 `Authorization` header for a POST to `path` with these (lower-case) headers.
fn authorization(
    credentials: &Credentials,
    region: &str,
    date: &str,
    amz_date: &str,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut sorted: Vec<&(&str, String)> = headers.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    let canonical_headers: String = sorted
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.trim()))
        .collect();
    let signed_headers = sorted.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "POST\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        canonical_query(query),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/{region}/sns/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, "sns", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 percent-encoding of everything but unreserved characters, as SigV4 requires.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected signature was computed by botocore's `SigV4Auth` for the same request,
    /// key and time.
    #[test]
    fn signing_key_and_signature_follow_sigv4() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("host", "sns.us-east-1.amazonaws.com".to_string()),
            ("x-amz-date", "20150830T123600Z".to_string()),
        ];
        let header = authorization(
            &credentials,
            "us-east-1",
            "20150830",
            "20150830T123600Z",
            "/",
            &headers,
            b"Action=ListTopics",
        );
        assert_eq!(
            header,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sns/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=47dcdb14700a16e535ad2f0fc8ec200c510d7789706e8918c7ceef62049cc342"
        );
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        assert_eq!(uri_encode("a b/{\"x\"}~é"), "a%20b%2F%7B%22x%22%7D~%C3%A9");
    }
}
