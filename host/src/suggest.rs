//! "Did you mean": names close to one a user mistyped (a command, an option, a key in a
//! listener file, a trigger setting), measured as Python's `difflib` does, which is what Click
//! and so pyaviso use.

/// `difflib.get_close_matches(word, possibilities, n=3, cutoff=0.6)`.
pub fn close_matches<'a, S: AsRef<str>>(word: &str, possibilities: &'a [S]) -> Vec<&'a str> {
    let word: Vec<char> = word.chars().collect();
    let mut scored: Vec<(f64, &str)> = possibilities
        .iter()
        .filter_map(|candidate| {
            let chars: Vec<char> = candidate.as_ref().chars().collect();
            let score = ratio(&chars, &word);
            (score >= 0.6).then_some((score, candidate.as_ref()))
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

/// The hint for a name that is not one of `known`: the close ones, else the whole list.
/// `" (did you mean 'triggers'?)"`, `" (expected one of: event, name, request, triggers)"`.
pub fn hint<S: AsRef<str>>(typed: &str, known: &[S]) -> String {
    let close = close_matches(typed, known);
    let quoted = |names: Vec<&str>| {
        names
            .iter()
            .map(|name| format!("'{name}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    if close.is_empty() {
        let all: Vec<&str> = known.iter().map(AsRef::as_ref).collect();
        format!(" (expected one of: {})", all.join(", "))
    } else {
        format!(" (did you mean {}?)", quoted(close))
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn close_names_are_suggested_else_every_name_is_listed() {
        let keys = ["event", "name", "request", "triggers"];
        assert_eq!(hint("trigers", &keys), " (did you mean 'triggers'?)");
        assert_eq!(hint("requests", &keys), " (did you mean 'request'?)");
        assert_eq!(
            hint("zzz", &keys),
            " (expected one of: event, name, request, triggers)"
        );
        let settings = ["command", "working_dir", "environment"];
        assert_eq!(hint("workdir", &settings), " (did you mean 'working_dir'?)");
        assert_eq!(
            hint("enviroment", &settings),
            " (did you mean 'environment'?)"
        );
    }
}
