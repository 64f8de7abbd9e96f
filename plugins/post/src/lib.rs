//! The `post` trigger: sends the notification as a CloudEvent (structured mode, pyaviso's
//! attributes) to an HTTP endpoint, through `wasi:http`. The host lets it reach only the
//! configured endpoint's host and port. Any 2xx answer is success.

mod cloudevent;
mod sns;

use std::time::Duration;

use aviso_sdk::http::{Request, Url};
use aviso_sdk::{Config, Error, Notification, Trigger, log};

struct Post;

/// Most of an answer's body kept: it only goes into error messages.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The `protocol` block, validated.
struct Protocol<'a> {
    kind: ProtocolKind,
    config: &'a Config,
}

enum ProtocolKind {
    CloudEventsHttp,
    CloudEventsAws,
}

fn protocol(section: &Config) -> Result<Protocol<'_>, Error> {
    let kind = match section.optional_str("type")? {
        None => {
            return Err(Error::InvalidConfig(
                "protocol type is a mandatory field".into(),
            ));
        }
        Some(kind) => kind.to_ascii_lowercase(),
    };
    let kind = match kind.as_str() {
        "cloudevents_http" => ProtocolKind::CloudEventsHttp,
        "cloudevents_aws" => ProtocolKind::CloudEventsAws,
        other => {
            return Err(Error::InvalidConfig(format!(
                "protocol type {other} not recognised (use cloudevents_http or cloudevents_aws)"
            )));
        }
    };
    match kind {
        ProtocolKind::CloudEventsHttp => {
            let url = section.require_str("url")?;
            Url::parse(url)?;
            section.string_map("headers")?;
        }
        ProtocolKind::CloudEventsAws => {
            sns::Target::from_config(section)?;
            sns::Credentials::from_config(section)?;
        }
    }
    section.optional_seconds("timeout")?;
    // `verify: false` is applied by the host, which owns the TLS connection.
    section.optional_bool("verify")?;
    cloudevent::Attributes::from_config(section)?;
    Ok(Protocol {
        kind,
        config: section,
    })
}

fn protocol_section(config: &Config) -> Result<Config, Error> {
    config
        .optional_section("protocol")?
        .ok_or_else(|| Error::InvalidConfig("protocol is a mandatory field".into()))
}

impl Trigger for Post {
    fn validate(config: &Config) -> Result<(), Error> {
        let section = protocol_section(config)?;
        protocol(&section).map(|_| ())
    }

    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let section = protocol_section(config)?;
        let protocol = protocol(&section)?;
        match protocol.kind {
            ProtocolKind::CloudEventsHttp => {
                let config = protocol.config;
                let url = config.require_str("url")?;
                let attributes = cloudevent::Attributes::from_config(config)?;
                let (body, _) = cloudevent::structured(&attributes, notification);
                let timeout = config.optional_seconds("timeout")?.unwrap_or(60.0);
                let mut request = Request::post(url)
                    .timeout(Duration::try_from_secs_f64(timeout).unwrap_or(Duration::MAX))
                    .max_response_body(MAX_RESPONSE_BODY);
                for (name, value) in config.string_map("headers")? {
                    // The event's own content type wins; the length is the body's.
                    if !name.eq_ignore_ascii_case("content-type") {
                        request = request.header(&name, value);
                    }
                }
                let response = request
                    .header("content-type", "application/cloudevents+json")
                    .body(body)
                    .send()?;
                if !response.is_success() {
                    return Err(Error::Failed(format!(
                        "Not able to POST CloudEvents notification to {url}, status {}, body: {}",
                        response.status_line(),
                        response.body_excerpt()
                    )));
                }
                log::info("CloudEvents notification sent successfully");
                Ok(())
            }
            ProtocolKind::CloudEventsAws => {
                let config = protocol.config;
                let target = sns::Target::from_config(config)?;
                let credentials = sns::Credentials::from_config(config)?;
                let attributes = cloudevent::Attributes::from_config(config)?;
                let (event, id) = cloudevent::structured(&attributes, notification);
                let timeout = config.optional_seconds("timeout")?.unwrap_or(60.0);
                sns::publish(
                    &target,
                    &credentials,
                    &attributes.kind,
                    &id,
                    &event,
                    timeout,
                )?;
                log::info("CloudEvents notification sent successfully to SNS");
                Ok(())
            }
        }
    }
}

aviso_sdk::export_trigger!(Post);
