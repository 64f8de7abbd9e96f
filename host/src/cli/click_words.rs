//! Click's "Did you mean" for an unknown option: Python's `difflib.get_close_matches(option,
//! long_options)` ([`crate::suggest::close_matches`]), shown sorted, so that our usage errors
//! read as pyaviso's.

/// The closing part of Click's `No such option` message, or nothing when no name is close.
pub fn did_you_mean(option: &str, long_options: &[String]) -> String {
    let mut close = crate::suggest::close_matches(option, long_options);
    close.sort();
    let quoted: Vec<String> = close.iter().map(|name| format!("'{name}'")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => format!(" Did you mean {}?", quoted[0]),
        _ => format!(" (Did you mean one of: {}?)", quoted.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suggestions_read_as_click_words_them() {
        // What pyaviso 1.0.1 (Click 8.5) prints for `aviso listen --hots` and `--bogus`.
        let listen = names(&[
            "--from",
            "--to",
            "--now",
            "--catchup",
            "--config",
            "--log",
            "--debug",
            "--quiet",
            "--no-fail",
            "--username",
            "--key",
            "--host",
            "--port",
            "--test",
            "--help",
        ]);
        assert_eq!(
            did_you_mean("--hots", &listen),
            " (Did you mean one of: '--host', '--port', '--test'?)"
        );
        assert_eq!(
            did_you_mean("--bogus", &listen),
            " (Did you mean one of: '--host', '--log'?)"
        );
        assert_eq!(did_you_mean("--zzzzz", &listen), "");
        assert_eq!(did_you_mean("--debgu", &listen), " Did you mean '--debug'?");
    }
}
