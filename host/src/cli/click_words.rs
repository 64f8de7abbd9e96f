//! Click's "Did you mean" for an unknown option: Python's `difflib.get_close_matches(option,
//! long_options)` (at most three names whose `SequenceMatcher` ratio is at least 0.6), shown
//! sorted, so that our usage errors read as pyaviso's.

/// The closing part of Click's `No such option` message, or nothing when no name is close.
pub fn did_you_mean(option: &str, long_options: &[String]) -> String {
    let mut close = close_matches(option, long_options);
    close.sort();
    let quoted: Vec<String> = close.iter().map(|name| format!("'{name}'")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => format!(" Did you mean {}?", quoted[0]),
        _ => format!(" (Did you mean one of: {}?)", quoted.join(", ")),
    }
}

/// `difflib.get_close_matches(word, possibilities, n=3, cutoff=0.6)`.
fn close_matches<'a>(word: &str, possibilities: &'a [String]) -> Vec<&'a str> {
    let word: Vec<char> = word.chars().collect();
    let mut scored: Vec<(f64, &str)> = possibilities
        .iter()
        .filter_map(|candidate| {
            let chars: Vec<char> = candidate.chars().collect();
            let score = ratio(&chars, &word);
            (score >= 0.6).then_some((score, candidate.as_str()))
        })
        .collect();
    // heapq.nlargest on (score, name) tuples.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(a.1)));
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

/// `SequenceMatcher(None, a, b).ratio()`: twice the matched characters over both lengths.
fn ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    2.0 * matched(a, b) as f64 / total as f64
}

/// Characters in the matching blocks: the longest common run (the first one found, scanning
/// `a` then `b`), then the same on either side of it.
fn matched(a: &[char], b: &[char]) -> usize {
    let (mut best_i, mut best_j, mut best) = (0, 0, 0);
    let mut previous = vec![0usize; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![0usize; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            if ca == cb {
                let run = previous[j] + 1;
                current[j + 1] = run;
                if run > best {
                    (best_i, best_j, best) = (i + 1 - run, j + 1 - run, run);
                }
            }
        }
        previous = current;
    }
    if best == 0 {
        return 0;
    }
    best + matched(&a[..best_i], &b[..best_j]) + matched(&a[best_i + best..], &b[best_j + best..])
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
