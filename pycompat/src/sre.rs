//! What Python's regular expression engine (`Modules/_sre/sre.c`, `Lib/re/_casefix.py`) makes of
//! a `str` pattern, as far as `strptime`'s patterns need it: `\d`, `\s` and `re.IGNORECASE`.
//!
//! These differ from the `regex` crate's Unicode classes and case folding on some characters,
//! which is why `strptime` matches with its own small engine.

use crate::unicodectype;

/// Python's `\s` in a `str` pattern: `str.isspace()`, which includes U+001C..U+001F.
pub(crate) fn is_space(c: char) -> bool {
    unicodectype::is_space(c)
}

/// The value of `c` if Python's `\d` matches it (any Unicode 14.0.0 decimal digit).
pub(crate) fn decimal_digit(c: char) -> Option<u32> {
    unicodectype::decimal_value(c)
}

/// Characters whose case mapping the Rust standard library knows from a Unicode version newer
/// than 14.0; Python 3.11 treats them as uncased.
const CASED_AFTER_UNICODE_14: [(char, char); 10] = [
    ('\u{19B}', '\u{19B}'),
    ('\u{264}', '\u{264}'),
    ('\u{1C89}', '\u{1C8A}'),
    ('\u{A7CB}', '\u{A7CF}'),
    ('\u{A7D2}', '\u{A7D5}'),
    ('\u{A7DA}', '\u{A7DC}'),
    ('\u{10D50}', '\u{10D65}'),
    ('\u{10D70}', '\u{10D85}'),
    ('\u{16EA0}', '\u{16EB8}'),
    ('\u{16EBB}', '\u{16ED3}'),
];

/// `_sre.unicode_tolower`: the first character of the full lower-case mapping.
fn python_lower(c: char) -> char {
    if is_cased_after_unicode_14(c) {
        return c;
    }
    c.to_lowercase().next().unwrap_or(c)
}

/// `_sre.unicode_iscased`.
fn python_is_cased(c: char) -> bool {
    !is_cased_after_unicode_14(c)
        && (c.to_lowercase().next() != Some(c) || c.to_uppercase().next() != Some(c))
}

fn is_cased_after_unicode_14(c: char) -> bool {
    CASED_AFTER_UNICODE_14
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// `re._casefix._EXTRA_CASES` as groups: lower-case letters that `re.IGNORECASE` also treats as
/// equal although their lower-case mappings differ (`i`/`ı`, `s`/`ſ`, `σ`/`ς`, ...).
const EXTRA_CASE_GROUPS: [&[char]; 24] = [
    &['\u{69}', '\u{131}'],
    &['\u{73}', '\u{17F}'],
    &['\u{B5}', '\u{3BC}'],
    &['\u{345}', '\u{3B9}', '\u{1FBE}'],
    &['\u{390}', '\u{1FD3}'],
    &['\u{3B0}', '\u{1FE3}'],
    &['\u{3B2}', '\u{3D0}'],
    &['\u{3B5}', '\u{3F5}'],
    &['\u{3B8}', '\u{3D1}'],
    &['\u{3BA}', '\u{3F0}'],
    &['\u{3C0}', '\u{3D6}'],
    &['\u{3C1}', '\u{3F1}'],
    &['\u{3C2}', '\u{3C3}'],
    &['\u{3C6}', '\u{3D5}'],
    &['\u{432}', '\u{1C80}'],
    &['\u{434}', '\u{1C81}'],
    &['\u{43E}', '\u{1C82}'],
    &['\u{441}', '\u{1C83}'],
    &['\u{442}', '\u{1C84}', '\u{1C85}'],
    &['\u{44A}', '\u{1C86}'],
    &['\u{463}', '\u{1C87}'],
    &['\u{1C88}', '\u{A64B}'],
    &['\u{1E61}', '\u{1E9B}'],
    &['\u{FB05}', '\u{FB06}'],
];

/// Whether text character `found` matches pattern character `expected` under `re.IGNORECASE`:
/// an uncased pattern character matches only itself; otherwise the lower-case forms must be
/// equal or in the same extra-case group (what `LITERAL_UNI_IGNORE`/`IN_UNI_IGNORE` test).
pub(crate) fn ignorecase_eq(expected: char, found: char) -> bool {
    if !python_is_cased(expected) {
        return found == expected;
    }
    let expected_lower = python_lower(expected);
    let found_lower = python_lower(found);
    found_lower == expected_lower
        || EXTRA_CASE_GROUPS
            .iter()
            .any(|group| group.contains(&expected_lower) && group.contains(&found_lower))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignorecase_behaves_like_python() {
        // Checked against Python 3.11: re.match(expected, found, re.IGNORECASE).
        assert!(ignorecase_eq('\u{3C3}', '\u{3C2}') && ignorecase_eq('\u{3A3}', '\u{3C2}'));
        assert!(ignorecase_eq('\u{B5}', '\u{39C}') && ignorecase_eq('\u{DF}', '\u{1E9E}'));
        assert!(!ignorecase_eq('\u{19B}', '\u{A7DC}'));
    }
}
