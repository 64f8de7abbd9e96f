//! pycompat against the reference Python, once for every module: many generated inputs (format
//! specs × values, `str.format` templates, floats, strftime formats × dates, strptime inputs,
//! strings with control, format, unassigned and private-use characters, JSON values, `int()` and
//! `float()` texts, every code point) go to `python3` running `tests/python/oracle.py`, and each
//! answer must equal pycompat's byte for byte (an error: the same message).
//!
//! The reference is CPython 3.11 with Unicode 14.0.0; the test fails if `python3` (or `$PYTHON3`)
//! is another version, since the Unicode tables and some messages differ between versions.
//! The inputs come from a fixed seed, so every run checks the same cases.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{Datelike, NaiveDate};
use pycompat::format::{FormatSpec, FormatValue};
use pycompat::str_format::Template;
use pycompat::strptime::DateFormat;
use pycompat::{float_parse, float_repr, int_parse, json, repr};
use serde_json::{Value, json};

/// The Python every answer comes from.
const REFERENCE_PYTHON: &str = "3.11";
const REFERENCE_UNICODE: &str = "14.0.0";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python_program() -> String {
    std::env::var("PYTHON3").unwrap_or_else(|_| "python3".to_string())
}

/// A Python command with a fixed, locale-independent environment: the C locale for
/// `strftime` (as pyaviso runs on Linux) and UTF-8 for the text it reads and writes.
fn python_command(script: &Path) -> Command {
    let mut command = Command::new(python_program());
    command
        .arg(script)
        .env("LC_ALL", "C")
        .env("PYTHONUTF8", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONSTARTUP");
    command
}

/// Python's answers to `requests` (`[kind, arguments...]`, see oracle.py), in order: the result,
/// or the text of the exception.
fn python(requests: &[Value]) -> Vec<Result<Value, String>> {
    let script = crate_dir().join("tests").join("python").join("oracle.py");
    let mut child = python_command(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot start {} ({error}): the differential test needs CPython {REFERENCE_PYTHON} \
                 (scripts/setup.sh installs python3; $PYTHON3 names another interpreter)",
                python_program()
            )
        });
    let mut stdin = child.stdin.take().expect("piped");
    let input: String = requests
        .iter()
        .map(|request| format!("{request}\n"))
        .collect();
    let writer = std::thread::spawn(move || {
        stdin
            .write_all(input.as_bytes())
            .expect("python reads its requests");
    });
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let header: Value = serde_json::from_str(
        &lines
            .next()
            .expect("python answers")
            .expect("python's answer is UTF-8"),
    )
    .expect("the oracle's first line is JSON");
    assert_eq!(
        (header["python"].as_str(), header["unicode"].as_str()),
        (Some(REFERENCE_PYTHON), Some(REFERENCE_UNICODE)),
        "the reference is CPython {REFERENCE_PYTHON} (Unicode {REFERENCE_UNICODE}); {} is another \
         version (set $PYTHON3 to a CPython {REFERENCE_PYTHON})",
        python_program()
    );
    let answers: Vec<Result<Value, String>> = lines
        .map(|line| {
            let answer: Value =
                serde_json::from_str(&line.expect("UTF-8")).expect("each answer is JSON");
            match answer.get("error") {
                Some(error) => Err(error.as_str().expect("a message").to_string()),
                None => Ok(answer["ok"].clone()),
            }
        })
        .collect();
    writer.join().expect("the writer finishes");
    let status = child.wait().expect("python ends");
    assert!(status.success(), "the oracle failed: {status}");
    assert_eq!(answers.len(), requests.len(), "one answer per request");
    answers
}

/// Python's answers as text.
fn python_texts(requests: &[Value]) -> Vec<Result<String, String>> {
    python(requests)
        .into_iter()
        .map(|answer| answer.map(|value| value.as_str().expect("a text result").to_string()))
        .collect()
}

/// A deterministic generator (xorshift64*), so that every run checks the same inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// `count` picks from `pieces`, joined.
    fn text(&mut self, pieces: &[&str], count: usize) -> String {
        (0..count).map(|_| *self.pick(pieces)).collect()
    }
}

/// The differences found in one area; the test fails with the first few.
struct Differences {
    area: &'static str,
    checked: usize,
    found: Vec<String>,
}

impl Differences {
    fn new(area: &'static str) -> Differences {
        Differences {
            area,
            checked: 0,
            found: Vec::new(),
        }
    }

    fn check(
        &mut self,
        input: impl FnOnce() -> String,
        ours: &Result<String, String>,
        python: &Result<String, String>,
    ) {
        self.checked += 1;
        if ours != python {
            self.differ(input(), ours, python);
        }
    }

    fn differ(
        &mut self,
        input: String,
        ours: &Result<String, String>,
        python: &Result<String, String>,
    ) {
        let (ours, python) = excerpts(&format!("{ours:?}"), &format!("{python:?}"));
        self.found.push(format!(
            "{}\n    ours:   {ours}\n    python: {python}",
            shorten(&input)
        ));
    }

    fn assert_none(self) {
        assert!(self.checked > 0, "{}: nothing was checked", self.area);
        let shown: Vec<&String> = self.found.iter().take(25).collect();
        assert!(
            self.found.is_empty(),
            "{}: {} of {} cases differ from Python; the first ones:\n{}",
            self.area,
            self.found.len(),
            self.checked,
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        eprintln!("{}: {} cases as Python", self.area, self.checked);
    }
}

/// Long texts (a repr of 4096 characters) shown around their first difference.
fn excerpts(ours: &str, python: &str) -> (String, String) {
    const LIMIT: usize = 200;
    let ours: Vec<char> = ours.chars().collect();
    let python: Vec<char> = python.chars().collect();
    if ours.len().max(python.len()) <= LIMIT {
        return (ours.iter().collect(), python.iter().collect());
    }
    let first = ours.iter().zip(&python).take_while(|(a, b)| a == b).count();
    let start = first.saturating_sub(40);
    let window = |text: &[char]| -> String {
        let end = text.len().min(start + LIMIT);
        format!("…{}…", text[start.min(end)..end].iter().collect::<String>())
    };
    (window(&ours), window(&python))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// Floats of every kind: special values, random bit patterns (every exponent, subnormals, NaNs),
/// short decimals, and binary fractions whose shortest digits end in a tie.
fn random_float(rng: &mut Rng) -> f64 {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        0.1,
        0.5,
        1.0,
        1.5,
        2.5,
        -2.5,
        0.125,
        0.375,
        1e16,
        1e15,
        9999999999999998.0,
        1e-4,
        1e-5,
        1e22,
        1e23,
        123456789.0,
        1234567.891,
        -1234.5,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    match rng.below(5) {
        0 => *rng.pick(SPECIAL),
        1 => f64::from_bits(rng.next()),
        2 => {
            let mantissa = rng.below(1_000_000) as f64;
            let exponent = rng.below(60) as i32 - 30;
            let sign = if rng.chance(30) { -1.0 } else { 1.0 };
            format!("{}e{exponent}", sign * mantissa)
                .parse()
                .expect("a float")
        }
        3 => {
            // a / 2^j: few binary digits, many decimal ones, often a tie at 17 digits.
            let numerator = (rng.next() >> rng.below(40)) as f64;
            numerator / f64::powi(2.0, rng.below(60) as i32)
        }
        _ => (rng.below(20_000) as f64 - 10_000.0) / *rng.pick(&[1.0, 8.0, 100.0, 1000.0, 3.0]),
    }
}

fn random_int(rng: &mut Rng) -> i64 {
    const SPECIAL: &[i64] = &[
        0,
        1,
        -1,
        7,
        42,
        -42,
        65,
        97,
        255,
        1234,
        -1234,
        8364,
        65535,
        1_234_567,
        -1_234_567,
        9_007_199_254_740_993,
        0x10FFFF,
        0x110000,
        i64::MAX,
        i64::MIN,
    ];
    if rng.chance(40) {
        *rng.pick(SPECIAL)
    } else {
        (rng.next() as i64) >> rng.below(64)
    }
}

const STRINGS: &[&str] = &[
    "",
    "a",
    "ab",
    "abc",
    "hello world",
    "12345678901234",
    "é€😀",
    "x\ny",
    "  ",
];

fn random_value<'a>(rng: &mut Rng, text: &'a str) -> FormatValue<'a> {
    match rng.below(3) {
        0 => FormatValue::Int(random_int(rng)),
        1 => FormatValue::Float(random_float(rng)),
        _ => FormatValue::Str(text),
    }
}

fn encode(value: &FormatValue) -> Value {
    match *value {
        FormatValue::Int(number) => json!({ "int": number }),
        FormatValue::Float(number) => json!({ "float": number.to_bits() }),
        FormatValue::Str(text) => json!({ "str": text }),
    }
}

fn type_name(value: &FormatValue) -> &'static str {
    match value {
        FormatValue::Int(_) => "int",
        FormatValue::Float(_) => "float",
        FormatValue::Str(_) => "str",
    }
}

/// Python names the value's type in one message that a spec alone cannot know:
/// "Invalid format specifier 'x' for object of type 'int'"; ours stops before " for object".
fn same_error(ours: &str, python: &str, value: &FormatValue) -> bool {
    ours == python
        || (ours.starts_with("Invalid format specifier ")
            && python == format!("{ours} for object of type '{}'", type_name(value)))
}

/// Where pycompat refuses on purpose what Python would do (see the modules' documentation).
fn deliberately_refused(message: &str) -> bool {
    [
        "is a surrogate, which a Rust string cannot hold",
        "exceeds the supported maximum",
        "unsupported conversion",
        "is not supported",
        "nested replacement fields in format spec are not supported",
        "needs a named value",
    ]
    .iter()
    .any(|refusal| message.contains(refusal))
}

// ---------------------------------------------------------------------------------------------
// Format specs and templates

#[test]
fn format_specs_as_python() {
    let mut rng = Rng::new(0x5EC5);
    let mut cases: Vec<(String, FormatValue)> = Vec::new();
    for _ in 0..8000 {
        let spec = [
            *rng.pick(&[
                "", "", "", "<", ">", "=", "^", "*<", "*>", "*=", "*^", "0>", "0=", "é^", " <",
                "{>", "}^",
            ]),
            *rng.pick(&["", "", "+", "-", " "]),
            *rng.pick(&["", "", "", "z"]),
            *rng.pick(&["", "", "", "#"]),
            *rng.pick(&["", "", "0"]),
            *rng.pick(&["", "", "1", "5", "12", "20", "٣"]),
            *rng.pick(&["", "", "", ",", "_"]),
            *rng.pick(&["", "", "", ".0", ".1", ".3", ".6", ".17", ".25"]),
            *rng.pick(&[
                "", "", "b", "c", "d", "e", "E", "f", "F", "g", "G", "n", "o", "s", "x", "X", "%",
                "q",
            ]),
        ]
        .concat();
        for _ in 0..3 {
            let text = *rng.pick(STRINGS);
            cases.push((spec.clone(), random_value(&mut rng, text)));
        }
    }
    // Arbitrary specs, for the parser's paths and messages.
    const ALPHABET: &[&str] = &[
        "<", ">", "=", "^", "+", "-", " ", "z", "#", "0", "1", "2", "9", ",", "_", ".", "e", "f",
        "g", "d", "n", "x", "s", "c", "%", "é", "*", "٣",
    ];
    for _ in 0..6000 {
        let length = rng.below(6);
        let spec = rng.text(ALPHABET, length);
        let text = *rng.pick(STRINGS);
        cases.push((spec, random_value(&mut rng, text)));
    }
    let requests: Vec<Value> = cases
        .iter()
        .map(|(spec, value)| json!(["format", encode(value), spec]))
        .collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("format(value, spec)");
    for ((spec, value), python) in cases.iter().zip(&answers) {
        let ours = FormatSpec::parse(spec)
            .and_then(|parsed| parsed.apply(value))
            .map_err(|error| error.0);
        match (&ours, python) {
            (Err(message), _) if deliberately_refused(message) => continue,
            (Err(ours), Err(python)) if same_error(ours, python, value) => differences.checked += 1,
            _ => differences.check(|| format!("format({value:?}, {spec:?})"), &ours, python),
        }
    }
    differences.assert_none();
}

#[test]
fn templates_as_python() {
    let mut rng = Rng::new(0x7E3);
    const PIECES: &[&str] = &[
        "{", "}", "{}", "{0}", "{1}", "{:", ":", "!", "r", "s", "x", "0", "1", "٠", ".", "[", "]",
        "a", " ", ">", "5", ".2f", "{{", "}}", "é", "{:d}", "{:>4}", "{0:_}",
    ];
    let mut cases: Vec<(String, FormatValue)> = Vec::new();
    while cases.len() < 12_000 {
        let length = 1 + rng.below(6);
        let template = rng.text(PIECES, length);
        // Long digit runs are widths Python would fill for a long time.
        let longest_digit_run = template
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        if longest_digit_run > 3 {
            continue;
        }
        let text = *rng.pick(STRINGS);
        cases.push((template, random_value(&mut rng, text)));
    }
    let requests: Vec<Value> = cases
        .iter()
        .map(|(template, value)| json!(["template", template, encode(value)]))
        .collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("template.format(value)");
    for ((template, value), python) in cases.iter().zip(&answers) {
        let (ours, found_when_parsed) = match Template::parse(template) {
            Ok(parsed) => (parsed.format_one(value).map_err(|error| error.0), false),
            Err(error) => (Err(error.0), true),
        };
        match (&ours, python) {
            (Err(message), _) if deliberately_refused(message) => continue,
            (Err(ours), Err(python)) if same_template_error(ours, python, value) => {
                differences.checked += 1
            }
            // A template is checked whole when parsed; Python formats field by field and may
            // first fail on a field before the problem, with this value.
            (Err(_), Err(python)) if found_when_parsed && !value_independent(python) => {
                differences.checked += 1
            }
            _ => differences.check(|| format!("{template:?}.format({value:?})"), &ours, python),
        }
    }
    differences.assert_none();
}

/// Ours names the template the error was found in.
fn same_template_error(ours: &str, python: &str, value: &FormatValue) -> bool {
    let python = python
        .strip_suffix(&format!(" for object of type '{}'", type_name(value)))
        .unwrap_or(python);
    same_error(ours, python, value) || ours.starts_with(&format!("{python} in format template '"))
}

/// Python's template errors that do not depend on the value: the ones parsing finds.
fn value_independent(message: &str) -> bool {
    [
        "Single '{' encountered",
        "Single '}' encountered",
        "expected '}' before end of string",
        "unmatched '{' in format spec",
        "unexpected '{' in field name",
        "end of string while looking for conversion specifier",
        "expected ':' after conversion specifier",
        "cannot switch from",
        "Too many decimal digits",
        "Unknown conversion specifier",
        "Invalid format specifier",
        "Cannot specify both",
        "Format specifier missing precision",
    ]
    .iter()
    .any(|start| message.starts_with(start))
}

#[test]
fn float_repr_as_python() {
    let mut rng = Rng::new(0xF10A7);
    let floats: Vec<f64> = (0..30_000).map(|_| random_float(&mut rng)).collect();
    let requests: Vec<Value> = floats
        .iter()
        .map(|number| json!(["float_repr", number.to_bits()]))
        .collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("repr(float)");
    for (number, python) in floats.iter().zip(&answers) {
        differences.check(
            || format!("repr({number:e}) (bits {:#x})", number.to_bits()),
            &Ok(float_repr::repr(*number)),
            python,
        );
    }
    differences.assert_none();
}

// ---------------------------------------------------------------------------------------------
// strftime and strptime

const DIRECTIVES: &[&str] = &[
    "%d", "%m", "%Y", "%y", "%H", "%I", "%M", "%S", "%f", "%j", "%p", "%a", "%A", "%b", "%B", "%U",
    "%W", "%w", "%u",
];
const LITERALS: &[&str] = &[
    "-", "/", ":", " ", "T", "x", "年", "%%", "  ", "\t", ".", ",", "'", "\"", "k", "S",
];

/// A format of up to six pieces, each directive at most once (Python refuses repeats).
fn random_date_format(rng: &mut Rng) -> String {
    let mut used: Vec<&str> = Vec::new();
    let mut format = String::new();
    for _ in 0..1 + rng.below(6) {
        if rng.chance(60) {
            let directive = *rng.pick(DIRECTIVES);
            if !used.contains(&directive) {
                used.push(directive);
                format.push_str(directive);
            }
        } else {
            format.push_str(rng.pick::<&str>(LITERALS));
        }
    }
    format
}

/// (year, month, day, hour, minute, second, microsecond) within Python's range.
fn random_datetime(rng: &mut Rng) -> [u32; 7] {
    let year = match rng.below(4) {
        0 => *rng.pick(&[1, 5, 68, 69, 99, 100, 999, 1000, 1900, 1904, 2000, 9999]),
        1 => 1 + rng.below(9999) as u32,
        _ => 1950 + rng.below(120) as u32,
    };
    let month = 1 + rng.below(12) as u32;
    let last_day = NaiveDate::from_ymd_opt(year as i32, month % 12 + 1, 1)
        .map(|next| next.pred_opt().expect("a day before").day0() + 1)
        .unwrap_or(31);
    let day = if rng.chance(20) {
        last_day
    } else {
        1 + rng.below(last_day as usize) as u32
    };
    [
        year,
        month,
        day,
        rng.below(24) as u32,
        rng.below(60) as u32,
        rng.below(60) as u32,
        if rng.chance(50) {
            0
        } else {
            rng.below(1_000_000) as u32
        },
    ]
}

fn naive(fields: [u32; 7]) -> chrono::NaiveDateTime {
    let [year, month, day, hour, minute, second, micro] = fields;
    NaiveDate::from_ymd_opt(year as i32, month, day)
        .and_then(|date| date.and_hms_micro_opt(hour, minute, second, micro))
        .expect("a valid date")
}

#[test]
fn strftime_as_python() {
    let mut rng = Rng::new(0x57F);
    let cases: Vec<(String, [u32; 7])> = (0..8000)
        .map(|_| (random_date_format(&mut rng), random_datetime(&mut rng)))
        .collect();
    let requests: Vec<Value> = cases
        .iter()
        .map(|(format, fields)| json!(["strftime", format, fields]))
        .collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("datetime.strftime");
    for ((format, fields), python) in cases.iter().zip(&answers) {
        let ours = DateFormat::parse(format)
            .map(|parsed| parsed.format(&naive(*fields)))
            .map_err(|error| error.to_string());
        differences.check(
            || format!("datetime{fields:?}.strftime({format:?})"),
            &ours,
            python,
        );
    }
    differences.assert_none();
}

/// A date written in `format`, then changed the ways users write dates: zeros dropped, case
/// changed, other blanks or digits of other scripts, a character more or less.
fn random_date_text(rng: &mut Rng, format: &DateFormat, fields: [u32; 7]) -> String {
    let mut text = format.format(&naive(fields));
    if rng.chance(30) {
        text = text.replacen('0', "", 1 + rng.below(2));
    }
    if rng.chance(20) {
        text = text.to_lowercase();
    } else if rng.chance(20) {
        text = text.to_uppercase();
    }
    if rng.chance(20) {
        text = text.replace(
            ' ',
            rng.pick::<&str>(&["  ", "\t", "\u{1C}", "\u{2003}", "\u{A0}", ""]),
        );
    }
    if rng.chance(15) {
        // Fullwidth or Arabic-Indic digits: Python's \d takes them in some places, not in others.
        let zero = *rng.pick(&['\u{FF10}', '\u{660}']);
        text = text
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(digit) if rng.chance(50) => {
                    char::from_u32(u32::from(zero) + digit).expect("a digit")
                }
                _ => c,
            })
            .collect();
    }
    let mut chars: Vec<char> = text.chars().collect();
    if rng.chance(15) && !chars.is_empty() {
        let index = rng.below(chars.len());
        chars.remove(index);
    }
    if rng.chance(15) {
        let index = rng.below(chars.len() + 1);
        chars.insert(
            index,
            *rng.pick(&['1', '9', ' ', 'x', 'ſ', 'K', '\u{212A}', '.']),
        );
    }
    chars.into_iter().collect()
}

#[test]
fn strptime_as_python() {
    let mut rng = Rng::new(0x5792);
    let mut cases: Vec<(String, String)> = Vec::new();
    while cases.len() < 10_000 {
        let format = random_date_format(&mut rng);
        let parsed = DateFormat::parse(&format).expect("generated formats are valid");
        let fields = random_datetime(&mut rng);
        let text = random_date_text(&mut rng, &parsed, fields);
        cases.push((format, text));
    }
    let requests: Vec<Value> = cases
        .iter()
        .map(|(format, text)| json!(["strptime", format, text]))
        .collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("datetime.strptime(...).strftime(...)");
    for ((format, text), python) in cases.iter().zip(&answers) {
        let ours = DateFormat::parse(format)
            .expect("valid")
            .canonicalise(text)
            .map_err(|error| error.0);
        differences.check(|| format!("strptime({text:?}, {format:?})"), &ours, python);
    }
    differences.assert_none();
}

// ---------------------------------------------------------------------------------------------
// repr and json.dumps

/// Characters that quoting and escaping treat differently: quotes, backslash, named escapes,
/// C0 and C1 controls, DEL, the no-break space, format characters, separators, unassigned code
/// points of Unicode 14.0.0 (some assigned later), private use, tags, and printable ones.
const TEXT_PIECES: &[&str] = &[
    "'",
    "\"",
    "\\",
    "a",
    "Z",
    " ",
    "\n",
    "\t",
    "\r",
    "\u{0}",
    "\u{8}",
    "\u{C}",
    "\u{1B}",
    "\u{1F}",
    "\u{7F}",
    "\u{80}",
    "\u{9F}",
    "\u{A0}",
    "\u{AD}",
    "é",
    "ÿ",
    "\u{378}",
    "\u{61C}",
    "\u{890}",
    "\u{1680}",
    "\u{180E}",
    "\u{200B}",
    "\u{200D}",
    "\u{2028}",
    "\u{2029}",
    "\u{202F}",
    "\u{2060}",
    "\u{3000}",
    "\u{D7FF}",
    "\u{E000}",
    "\u{FEFF}",
    "\u{FFFD}",
    "\u{FFFE}",
    "€",
    "😀",
    "\u{1F7D9}",
    "\u{1FAF7}",
    "\u{10FFFF}",
    "\u{E0001}",
    "\u{E0041}",
    "\u{F0000}",
    "\u{110BD}",
    "\u{13430}",
    "\u{1D173}",
    "\u{2FFFF}",
    "\u{30000}",
    "\u{31350}",
];

fn random_text(rng: &mut Rng) -> String {
    let length = rng.below(9);
    rng.text(TEXT_PIECES, length)
}

fn random_json(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth >= 3 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => Value::from(random_int(rng)),
        3 => {
            let number = random_float(rng);
            serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
        }
        4 => Value::String(random_text(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (random_text(rng), random_json(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// Every code point but the surrogates, in strings of 4096 consecutive ones.
fn all_characters() -> Vec<String> {
    let characters: Vec<char> = (0..=0x10FFFF).filter_map(char::from_u32).collect();
    characters
        .chunks(4096)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

#[test]
fn str_repr_as_python() {
    let mut rng = Rng::new(0x2E92);
    let mut texts = all_characters();
    texts.extend((0..10_000).map(|_| random_text(&mut rng)));
    let requests: Vec<Value> = texts.iter().map(|text| json!(["str_repr", text])).collect();
    let answers = python_texts(&requests);
    let mut differences = Differences::new("repr(str)");
    for (text, python) in texts.iter().zip(&answers) {
        differences.check(
            || format!("repr({text:?})"),
            &Ok(repr::str_repr(text)),
            python,
        );
    }
    differences.assert_none();
}

#[test]
fn repr_and_dumps_of_values_as_python() {
    let mut rng = Rng::new(0x150);
    let values: Vec<Value> = (0..6000).map(|_| random_json(&mut rng, 0)).collect();
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for value in &values {
        // Python reads the value from serde_json's text: same order, same floats.
        let text = value.to_string();
        requests.push(json!(["repr", text]));
        ours.push((format!("repr({text})"), repr::repr(value)));
        let indent = *rng.pick(&[None, None, Some(0), Some(2), Some(4)]);
        let sort_keys = rng.chance(50);
        requests.push(json!(["dumps", text, indent, sort_keys]));
        ours.push((
            format!("json.dumps({text}, indent={indent:?}, sort_keys={sort_keys})"),
            json::dumps(value, indent, sort_keys),
        ));
    }
    let answers = python_texts(&requests);
    let mut differences = Differences::new("repr and json.dumps of values");
    for ((input, ours), python) in ours.into_iter().zip(&answers) {
        differences.check(|| input, &Ok(ours), python);
    }
    differences.assert_none();
}

// ---------------------------------------------------------------------------------------------
// int() and float()

const NUMBER_PIECES: &[&str] = &[
    "0", "1", "2", "7", "9", "_", "+", "-", ".", "e", "E", " ", "\t", "\n", "\u{1C}", "\u{A0}",
    "\u{2003}", "\u{3000}", "\u{200B}", "٣", "１", "𝟗", "²", "inf", "nan", "Infinity", "INF", "x",
    "0x", "é", "00", "12", "345",
];

#[test]
fn int_and_float_of_text_as_python() {
    let mut rng = Rng::new(0x1F7);
    let texts: Vec<String> = (0..20_000)
        .map(|_| {
            let length = 1 + rng.below(6);
            rng.text(NUMBER_PIECES, length)
        })
        .collect();
    let mut requests = Vec::new();
    for text in &texts {
        requests.push(json!(["int", text]));
        requests.push(json!(["float", text]));
    }
    let answers = python_texts(&requests);
    let mut differences = Differences::new("int(text) and float(text)");
    for (text, python) in texts.iter().zip(answers.chunks(2)) {
        check_int(&mut differences, text, &python[0]);
        let ours = float_parse::float(text)
            .map(float_repr::repr)
            .ok_or_else(|| python[1].clone().err().unwrap_or_default());
        differences.check(|| format!("float({text:?})"), &ours, &python[1]);
    }
    differences.assert_none();
}

/// Ours is `None` where Python fails, and where Python's value does not fit in 64 bits.
fn check_int(differences: &mut Differences, text: &str, python: &Result<String, String>) {
    let ours = int_parse::int(text);
    let beyond_i64 = python
        .as_ref()
        .is_ok_and(|value| value.parse::<i64>().is_err());
    match ours {
        None if python.is_err() || beyond_i64 => differences.checked += 1,
        None => differences.differ(format!("int({text:?})"), &Err("refused".into()), python),
        Some(value) => {
            differences.check(|| format!("int({text:?})"), &Ok(value.to_string()), python)
        }
    }
}

#[test]
fn int_and_float_of_every_character_as_python() {
    let chunks = all_characters();
    let mut requests = Vec::new();
    for chunk in &chunks {
        requests.push(json!(["int_each", chunk]));
        requests.push(json!(["float_each", chunk]));
    }
    let answers = python(&requests);
    let mut differences = Differences::new("int(c + '7' + c) and float(c + '7' + c)");
    let refused = || Err("refused".to_string());
    for (chunk, answer) in chunks.iter().zip(answers.chunks(2)) {
        // Python's results by index in the chunk, for the texts it reads.
        let successes = |answer: &Result<Value, String>| -> Vec<Result<String, String>> {
            let found = answer.as_ref().expect("a result");
            (0..chunk.chars().count())
                .map(|index| match found.get(index.to_string()) {
                    Some(value) => Ok(value.as_str().expect("text").to_string()),
                    None => refused(),
                })
                .collect()
        };
        let ints = successes(&answer[0]);
        let floats = successes(&answer[1]);
        for ((c, int), float) in chunk.chars().zip(&ints).zip(&floats) {
            let text = format!("{c}7{c}");
            check_int(&mut differences, &text, int);
            let ours = float_parse::float(&text)
                .map(float_repr::repr)
                .ok_or_else(|| "refused".to_string());
            differences.check(|| format!("float({text:?})"), &ours, float);
        }
    }
    differences.assert_none();
}

// ---------------------------------------------------------------------------------------------
// The Unicode tables

#[test]
fn unicode_tables_are_pythons() {
    let script = crate_dir().join("scripts").join("unicode_tables.py");
    let output = python_command(&script)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python_program()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).expect("UTF-8");
    let committed = std::fs::read_to_string(
        crate_dir()
            .join("src")
            .join("unicodectype")
            .join("tables.rs"),
    )
    .expect("the tables are there");
    assert!(
        generated == committed,
        "src/unicodectype/tables.rs is not what {} generates from this Python; run \
         `python3 pycompat/scripts/unicode_tables.py > pycompat/src/unicodectype/tables.rs`",
        script.display()
    );
}
