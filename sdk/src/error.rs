//! Why a plugin call failed, as the host sees it: the four cases of the WIT `error` variant,
//! with conversions from the errors a plugin meets most, so that `?` works throughout `run`.

use std::fmt;

use crate::bindings::aviso::plugin::types as wit;

/// Why a trigger (or a schema parser) failed.
///
/// The variant tells the host what to do: an [`InvalidConfig`](Error::InvalidConfig) refuses
/// the listener when it loads, [`Denied`](Error::Denied) and [`Failed`](Error::Failed) fail
/// the trigger for this notification, and [`Transient`](Error::Transient) is tried again when
/// the listener's `retries` allow it. The text is what the user reads in the log.
///
/// Common errors convert with `?`:
///
/// | from | becomes |
/// |---|---|
/// | `String`, `&str` | `Failed` with that text |
/// | [`std::io::Error`] | `Transient` for time-outs, interruptions and lost connections, else `Failed` |
/// | [`serde_json::Error`] | `Failed` (`Transient` when reading from I/O failed) |
/// | [`std::fmt::Error`], UTF-8 errors, number parsing errors | `Failed` |
///
/// [`Context::context`] puts what was being done in front of the message and keeps the
/// variant.
///
/// ```
/// use aviso_sdk::Error;
///
/// fn count(text: &str) -> Result<u32, Error> {
///     let number: u32 = text.trim().parse()?;
///     if number == 0 {
///         return Err("there is nothing to count".into());
///     }
///     Ok(number)
/// }
///
/// assert_eq!(count(" 3 "), Ok(3));
/// assert_eq!(
///     count("three").unwrap_err(),
///     Error::Failed("invalid digit found in string".into())
/// );
/// assert_eq!(
///     count("0").unwrap_err().to_string(),
///     "there is nothing to count"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration cannot be used; reported when the listener loads, never retried.
    InvalidConfig(String),
    /// A capability the plugin needs was not granted (a directory, an HTTP origin, the command
    /// capability); never retried.
    Denied(String),
    /// The trigger ran and failed; trying again will not help.
    Failed(String),
    /// A temporary failure (a network error, a time-out); the host may try again.
    Transient(String),
}

impl Error {
    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidConfig(m) | Error::Denied(m) | Error::Failed(m) | Error::Transient(m) => {
                m
            }
        }
    }

    /// The same kind of error with `what` in front of its message: `"{what}: {message}"`.
    pub fn context(self, what: impl fmt::Display) -> Error {
        let prefix = |m: String| format!("{what}: {m}");
        match self {
            Error::InvalidConfig(m) => Error::InvalidConfig(prefix(m)),
            Error::Denied(m) => Error::Denied(prefix(m)),
            Error::Failed(m) => Error::Failed(prefix(m)),
            Error::Transient(m) => Error::Transient(prefix(m)),
        }
    }

    #[doc(hidden)]
    pub fn from_wit(e: wit::Error) -> Error {
        match e {
            wit::Error::InvalidConfig(m) => Error::InvalidConfig(m),
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Failed(m) => Error::Failed(m),
            wit::Error::Transient(m) => Error::Transient(m),
        }
    }
}

/// The message alone: the host names the kind where it matters (`denied: ...`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

#[doc(hidden)]
impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidConfig(m) => wit::Error::InvalidConfig(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Failed(m) => wit::Error::Failed(m),
            Error::Transient(m) => wit::Error::Transient(m),
        }
    }
}

impl From<String> for Error {
    /// A plain failure with this message.
    fn from(message: String) -> Error {
        Error::Failed(message)
    }
}

impl From<&str> for Error {
    /// A plain failure with this message.
    fn from(message: &str) -> Error {
        Error::Failed(message.to_string())
    }
}

impl From<std::io::Error> for Error {
    /// Time-outs, interruptions and lost connections are worth trying again; anything else
    /// (a missing file, a permission) is not.
    fn from(e: std::io::Error) -> Error {
        use std::io::ErrorKind::*;
        match e.kind() {
            TimedOut | Interrupted | WouldBlock | ConnectionRefused | ConnectionReset
            | ConnectionAborted | NotConnected | BrokenPipe => Error::Transient(e.to_string()),
            _ => Error::Failed(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    /// Text that is not the JSON expected is a failure; only a failed read is transient.
    fn from(e: serde_json::Error) -> Error {
        match e.classify() {
            serde_json::error::Category::Io => Error::Transient(e.to_string()),
            _ => Error::Failed(e.to_string()),
        }
    }
}

impl From<fmt::Error> for Error {
    fn from(_: fmt::Error) -> Error {
        Error::Failed("formatting failed".into())
    }
}

impl From<std::str::Utf8Error> for Error {
    fn from(e: std::str::Utf8Error) -> Error {
        Error::Failed(format!("not UTF-8 text: {e}"))
    }
}

impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Error {
        Error::Failed(format!("not UTF-8 text: {e}"))
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Error {
        Error::Failed(e.to_string())
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Error {
        Error::Failed(e.to_string())
    }
}

/// Adds what was being done to the error of a `Result`, keeping its kind.
///
/// ```
/// use aviso_sdk::{Context, Error};
///
/// fn read_board(path: &str) -> Result<String, Error> {
///     let text = std::fs::read_to_string(path).context(format!("cannot read {path}"))?;
///     Ok(text)
/// }
///
/// let error = read_board("/no/such/board.txt").unwrap_err();
/// assert!(matches!(error, Error::Failed(_)));
/// assert!(error.to_string().starts_with("cannot read /no/such/board.txt: "), "{error}");
/// ```
pub trait Context<T> {
    /// Converts the error into an [`Error`] and puts `what` in front of its message.
    fn context(self, what: impl fmt::Display) -> Result<T, Error>;

    /// As [`context`](Context::context), building the text only when there is an error.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, Error>;
}

impl<T, E: Into<Error>> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, Error> {
        self.map_err(|e| e.into().context(what))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, Error> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_transient_only_when_waiting_could_help() {
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        assert_eq!(Error::from(timed_out), Error::Transient("no answer".into()));
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(Error::from(missing), Error::Failed("no such file".into()));
        let refused = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "not yours");
        assert_eq!(Error::from(refused), Error::Failed("not yours".into()));
    }

    #[test]
    fn json_errors_fail_with_serde_json_s_message() {
        let e = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(
            Error::from(e),
            Error::Failed("EOF while parsing an object at line 1 column 1".into())
        );
    }

    #[test]
    fn question_mark_converts_strings_formatting_and_utf8() {
        fn run(step: u8) -> Result<(), Error> {
            match step {
                0 => Err("plain text")?,
                1 => Err(String::from("owned text"))?,
                2 => Err(fmt::Error)?,
                _ => {
                    String::from_utf8(vec![0xff])?;
                    Ok(())
                }
            }
        }
        assert_eq!(run(0), Err(Error::Failed("plain text".into())));
        assert_eq!(run(1), Err(Error::Failed("owned text".into())));
        assert_eq!(run(2), Err(Error::Failed("formatting failed".into())));
        assert_eq!(
            run(3),
            Err(Error::Failed(
                "not UTF-8 text: invalid utf-8 sequence of 1 bytes from index 0".into()
            ))
        );
    }

    #[test]
    fn context_keeps_the_kind_and_prefixes_the_message() {
        let e = Error::Transient("connection reset".into()).context("posting to example.com");
        assert_eq!(
            e,
            Error::Transient("posting to example.com: connection reset".into())
        );
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        assert_eq!(
            r.with_context(|| "cannot write board.txt"),
            Err(Error::Failed("cannot write board.txt: disk full".into()))
        );
    }

    #[test]
    fn error_is_a_std_error_that_displays_its_message() {
        let e: Box<dyn std::error::Error> = Box::new(Error::Denied("no HTTP grant".into()));
        assert_eq!(e.to_string(), "no HTTP grant");
    }
}
