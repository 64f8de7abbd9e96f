//! Why something failed, in the words a user reads: the cause at the bottom of a library's error
//! chain (gRPC status, transport, connector, OS error) as one short phrase, without the layers
//! that repeat the address, Rust's debug formatting or OS error numbers.

use std::error::Error;
use std::io;

/// The cause of `error` in a few words: "connection refused", "cannot resolve the host name",
/// "invalid peer certificate: UnknownIssuer".
pub fn plain(error: &(dyn Error + 'static)) -> String {
    let mut innermost = error.to_string();
    let mut current: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(layer) = current {
        if let Some(io) = layer.downcast_ref::<io::Error>() {
            // An I/O error may wrap the real cause (a TLS error inside a connector's error).
            match io.get_ref() {
                Some(inner) if inner.source().is_some() || inner.is::<rustls::Error>() => {}
                _ => return io_error(io),
            }
        }
        innermost = layer.to_string();
        current = layer.source();
    }
    crate::tls::explained(&words(&innermost))
}

/// An OS error in words, without its number: "permission denied", "no such file or directory".
pub fn io_error(error: &io::Error) -> String {
    use io::ErrorKind::*;
    let kind = match error.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "the connection was reset by the other side",
        ConnectionAborted => "the connection was aborted",
        NotConnected | BrokenPipe => "the connection was closed",
        TimedOut => "timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available",
        AddrInUse => "address already in use",
        NotFound => "no such file or directory",
        PermissionDenied => "permission denied",
        AlreadyExists => "it already exists",
        IsADirectory => "it is a directory",
        NotADirectory => "not a directory",
        ReadOnlyFilesystem => "read-only file system",
        StorageFull => "no space left on the device",
        _ => return crate::tls::explained(&words(&error.to_string())),
    };
    kind.to_string()
}

/// A library's message with the noise taken out: " (os error 2)", resolver jargon.
fn words(message: &str) -> String {
    let message = strip_os_error_number(message);
    if message.contains("failed to lookup address information") || message == "dns error" {
        return "cannot resolve the host name".to_string();
    }
    message
}

/// A wait or a time limit for messages: `0.7 s`, `1.4 s`, `15 s`, `2 min`, `1 min 30 s`
/// (Rust's own `713.807315ms` is for programmers).
pub fn duration(time: std::time::Duration) -> String {
    let seconds = time.as_secs_f64();
    if seconds < 10.0 && time.subsec_millis() != 0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    match (whole / 60, whole % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// `message` without a trailing " (os error N)": the number means nothing to users, and inside
/// the sandbox it is WASI's numbering, which contradicts the Linux one
/// ("Permission denied (os error 2)").
pub fn strip_os_error_number(message: &str) -> String {
    let mut text = message.to_string();
    while let Some(start) = text.find(" (os error ") {
        let Some(length) = text[start..].find(')') else {
            break;
        };
        let number = &text[start + " (os error ".len()..start + length];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        text.replace_range(start..=start + length, "");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_numbers_are_dropped_wherever_they_are() {
        assert_eq!(
            strip_os_error_number("cannot open x.log: Permission denied (os error 2)"),
            "cannot open x.log: Permission denied"
        );
        assert_eq!(
            strip_os_error_number("a (os error 44) and b (os error 2): done"),
            "a and b: done"
        );
        assert_eq!(strip_os_error_number("(os error x)"), "(os error x)");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_micros(713_807)), "0.7 s");
        assert_eq!(duration(Duration::from_millis(1_409)), "1.4 s");
        assert_eq!(duration(Duration::from_secs(15)), "15 s");
        assert_eq!(duration(Duration::from_millis(14_600)), "15 s");
        assert_eq!(duration(Duration::from_secs(120)), "2 min");
        assert_eq!(duration(Duration::from_secs(90)), "1 min 30 s");
    }

    #[test]
    fn io_errors_are_named_by_their_kind() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(plain(&refused), "connection refused");
        let denied = io::Error::from_raw_os_error(13);
        assert_eq!(io_error(&denied), "permission denied");
        let resolver =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(plain(&resolver), "cannot resolve the host name");
    }

    #[test]
    fn the_cause_at_the_bottom_of_a_chain_is_found() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<io::Error>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Layer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1.as_ref().map(|e| e as _)
            }
        }
        let chain = Layer(
            "tcp connect error",
            Some(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(plain(&chain), "connection refused");
        assert_eq!(
            plain(&Layer("status: Unavailable", None)),
            "status: Unavailable"
        );
    }
}
