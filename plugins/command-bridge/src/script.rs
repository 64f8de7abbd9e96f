//! Turns the listener's command template into a shell script in which every `${...}` is a
//! quoted variable reference, whatever quoting context the author put it in.

use aviso_sdk::Error;

/// What a `${token}` stands for.
pub enum Value {
    Text(String),
    /// The path of the host-written JSON file (`${jsonpath}`).
    JsonPath,
}

/// The environment variable the host sets to the JSON file's path.
pub const JSONPATH_VARIABLE: &str = "AVISO_JSONPATH";
/// In `environment` values, the host replaces this text with the JSON file's path.
pub const JSONPATH_TOKEN: &str = "${jsonpath}";

pub struct Translated {
    pub script: String,
    pub variables: Vec<(String, String)>,
    pub uses_jsonpath: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Quoting {
    None,
    Single,
    Double,
}

/// Finds a pyaviso token (`${` then word characters, `|` or `.`, then `}`) at the start of `text`;
/// returns the token's name and its length.
fn token_at(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix("${")?;
    let end = rest.find('}')?;
    let name = &rest[..end];
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '|' || c == '.');
    valid.then_some((name, end + 3))
}

/// Translates a command template into a script and the variables it needs.
pub fn translate(
    template: &str,
    lookup: &dyn Fn(&str) -> Result<Value, Error>,
) -> Result<Translated, Error> {
    let mut script = String::with_capacity(template.len());
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut uses_jsonpath = false;
    let mut quoting = Quoting::None;
    let mut index = 0;
    while index < template.len() {
        let rest = &template[index..];
        if let Some((name, length)) = token_at(rest) {
            let variable = match lookup(name)? {
                Value::JsonPath => {
                    uses_jsonpath = true;
                    JSONPATH_VARIABLE.to_string()
                }
                Value::Text(text) => {
                    let variable = format!("AVISO_VALUE_{}", variables.len() + 1);
                    variables.push((variable.clone(), text));
                    variable
                }
            };
            script.push_str(&match quoting {
                Quoting::None => format!("\"${{{variable}}}\""),
                Quoting::Double => format!("${{{variable}}}"),
                Quoting::Single => format!("'\"${{{variable}}}\"'"),
            });
            index += length;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        script.push(c);
        index += c.len_utf8();
        match (quoting, c) {
            (Quoting::None, '\'') => quoting = Quoting::Single,
            (Quoting::None, '"') => quoting = Quoting::Double,
            (Quoting::Single, '\'') | (Quoting::Double, '"') => quoting = Quoting::None,
            // A backslash outside single quotes escapes the next character: copy it as is.
            (Quoting::None | Quoting::Double, '\\') => {
                if let Some(next) = template[index..].chars().next() {
                    script.push(next);
                    index += next.len_utf8();
                }
            }
            _ => {}
        }
    }
    Ok(Translated {
        script,
        variables,
        uses_jsonpath,
    })
}

/// Substitutes tokens as plain text (for environment values, which no shell reads);
/// `${jsonpath}` is left for the host to replace with the file's path.
pub fn substitute_plain(
    template: &str,
    lookup: &dyn Fn(&str) -> Result<Value, Error>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len());
    let mut index = 0;
    while index < template.len() {
        let rest = &template[index..];
        if let Some((name, length)) = token_at(rest) {
            match lookup(name)? {
                Value::Text(text) => out.push_str(&text),
                Value::JsonPath => out.push_str(JSONPATH_TOKEN),
            }
            index += length;
        } else if let Some(c) = rest.chars().next() {
            out.push(c);
            index += c.len_utf8();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Result<Value, Error> {
        match name {
            "jsonpath" => Ok(Value::JsonPath),
            "missing" => Err(Error::Failed("no".into())),
            other => Ok(Value::Text(format!("<{other}>"))),
        }
    }

    fn script(template: &str) -> (String, Vec<(String, String)>) {
        let t = translate(template, &lookup).unwrap();
        (t.script, t.variables)
    }

    #[test]
    fn tokens_become_quoted_variables_in_every_quoting_context() {
        let (s, v) = script(
            "./run.sh --date ${request.date} \"n=${request.number}\" 'raw ${event}' ${jsonpath}",
        );
        assert_eq!(
            s,
            "./run.sh --date \"${AVISO_VALUE_1}\" \"n=${AVISO_VALUE_2}\" 'raw '\"${AVISO_VALUE_3}\"'' \"${AVISO_JSONPATH}\""
        );
        assert_eq!(
            v,
            vec![
                ("AVISO_VALUE_1".to_string(), "<request.date>".to_string()),
                ("AVISO_VALUE_2".to_string(), "<request.number>".to_string()),
                ("AVISO_VALUE_3".to_string(), "<event>".to_string()),
            ]
        );
    }

    #[test]
    fn escaped_quotes_and_plain_dollars_are_left_alone() {
        let (s, _) = script("echo \\\"${event}\\\" $HOME ${} ${a b}");
        assert_eq!(s, "echo \\\"\"${AVISO_VALUE_1}\"\\\" $HOME ${} ${a b}");
    }

    #[test]
    fn a_failing_lookup_fails_the_translation() {
        assert!(translate("echo ${missing}", &lookup).is_err());
    }

    #[test]
    fn environment_values_are_plain_text() {
        assert_eq!(
            substitute_plain("${request.airport}-x ${jsonpath}", &lookup).unwrap(),
            "<request.airport>-x ${jsonpath}"
        );
    }
}
