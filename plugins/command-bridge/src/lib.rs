//! The `command` trigger: runs the listener's command through the host's command capability,
//! with pyaviso's substitutions (`${request.x}`, `${event}`, `${payload}` or its rename,
//! `${json}`, `${jsonpath}`).
//!
//! A notification value never becomes shell code: each `${...}` in the command is replaced by
//! a reference to an environment variable holding the value, quoted for where it stands, so the
//! shell runs only the command the listener's author wrote. A command that puts a placeholder
//! where no quoting makes it safe (arithmetic, `[[ ]]`, `eval`, ...) is refused when the listener
//! loads. Success is exit status 0.

mod script;

use aviso_sdk::command::{self, CommandRequest};
use aviso_sdk::{Config, Error, Notification, Trigger, log, pyjson};

struct Command;

impl Trigger for Command {
    fn validate(config: &Config) -> Result<(), Error> {
        let template = config.require_str("command")?;
        for (name, value) in config.string_map("environment")? {
            script::check_environment_variable(&name, &value)?;
        }
        config.optional_str("working_dir")?;
        // The contexts of the placeholders do not depend on their values: translating with any
        // value refuses a command now rather than when its first notification arrives.
        let any_value = |token: &str| -> Result<Value, Error> {
            Ok(match token {
                "jsonpath" => Value::JsonPath,
                _ => Value::Text(String::new()),
            })
        };
        script::translate(template, &any_value)?;
        Ok(())
    }

    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let template = config.require_str("command")?;
        let json = notification.to_json();
        let lookup = |token: &str| -> Result<Value, Error> { resolve(token, &json) };
        let translated = script::translate(template, &lookup)?;
        let environment = config
            .string_map("environment")?
            .into_iter()
            .map(|(name, value)| Ok((name, script::substitute_plain(&value, &lookup)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let uses_jsonpath = translated.uses_jsonpath
            || environment
                .iter()
                .any(|(_, v)| v.contains(script::JSONPATH_TOKEN));
        let request = CommandRequest {
            script: translated.script,
            variables: translated.variables,
            environment,
            working_dir: config.optional_str("working_dir")?.map(str::to_string),
            json_file: uses_jsonpath.then(|| pyjson::dumps(&json, None, false)),
            timeout_seconds: 0,
        };
        let output = command::run(&request)?;
        if !output.stdout.is_empty() {
            log::info(output.stdout.trim_end());
        }
        if output.status != 0 {
            let detail = output.stderr.trim_end();
            return Err(Error::Failed(if detail.is_empty() {
                format!("command exited with status {}", output.status)
            } else {
                format!("command exited with status {}: {detail}", output.status)
            }));
        }
        if !output.stderr.is_empty() {
            log::info(output.stderr.trim_end());
        }
        log::debug("Command Trigger completed");
        Ok(())
    }
}

use script::Value;

/// The text a `${token}` stands for: `json` is the whole notification as pyaviso's
/// `json.dumps`, `jsonpath` the host's file, anything else a path into the notification.
fn resolve(token: &str, notification: &serde_json::Value) -> Result<Value, Error> {
    match token {
        "json" => Ok(Value::Text(pyjson::dumps(notification, None, false))),
        "jsonpath" => Ok(Value::JsonPath),
        path => {
            let mut current = notification;
            for part in path.split('.') {
                current = current.get(part).ok_or_else(|| {
                    Error::Failed(format!(
                        "${{{path}}} cannot be substituted: the notification has no '{part}'"
                    ))
                })?;
            }
            match current {
                serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
                other => Err(Error::Failed(format!(
                    "${{{path}}} cannot be substituted: it is not a text value but {other}"
                ))),
            }
        }
    }
}

aviso_sdk::export_trigger!(Command);

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(config: serde_json::Value) -> Result<(), Error> {
        Command::validate(&Config::parse(&config.to_string())?)
    }

    #[test]
    fn a_command_that_puts_a_value_where_bash_evaluates_it_is_refused_when_it_loads() {
        let refused = validate(serde_json::json!({"command": "echo $(( ${request.step} + 1 ))"}));
        let Err(Error::InvalidConfig(message)) = refused else {
            panic!("accepted or failed otherwise: {refused:?}");
        };
        assert!(
            message
                .starts_with("${request.step} cannot be used inside $(( )): bash would evaluate"),
            "{message}"
        );
        let refused = validate(serde_json::json!({
            "command": "./run.sh",
            "environment": {"PATH": "/opt/${request.site}/bin"},
        }));
        assert!(matches!(refused, Err(Error::InvalidConfig(m)) if m.contains("PATH")));
    }

    #[test]
    fn the_documented_commands_load() {
        for command in [
            "./my_script.sh --date ${request.date} --number ${request.number}",
            "./my_script.sh --jsonpath ${jsonpath}",
            "printf '%s\\n' \"$(cat ${jsonpath})\" > out.txt",
        ] {
            let config = serde_json::json!({
                "command": command,
                "environment": {"AIRPORT": "${request.airport}"},
            });
            assert_eq!(validate(config), Ok(()), "{command}");
        }
    }
}
