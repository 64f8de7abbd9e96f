//! Turns the listener's command template into a shell script in which every `${...}` placeholder
//! is a reference to an environment variable quoted for the context it stands in, and refuses the
//! contexts where no reference is safe.
//!
//! `translate` is a small lexer of the language that dash, bash (also `--posix`) and busybox sh
//! share. It follows quotes, `$( )` and backquotes at any depth, `${ }`, arithmetic, `[[ ]]`,
//! here-documents, `case`, comments and the command each word belongs to, far enough to know what
//! the shell would do with a value. Where a shell would read a value as code, an arithmetic
//! expression, a variable name, a command name or a glob, or where the lexer cannot be sure that
//! every shell reads the text the same way, the template is refused with a message naming the
//! placeholder.

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

/// The name of the first token anywhere in `text`.
fn first_placeholder(text: &str) -> Option<&str> {
    text.match_indices("${")
        .find_map(|(at, _)| token_at(&text[at..]).map(|(name, _)| name))
}

/// Translates a command template into a script and the variables it needs, or refuses it
/// (`Error::InvalidConfig`) when a placeholder stands where no quoting keeps its value data.
pub fn translate(
    template: &str,
    lookup: &dyn Fn(&str) -> Result<Value, Error>,
) -> Result<Translated, Error> {
    // Without placeholders no notification value reaches the shell: nothing to protect, and no
    // reason to refuse what the author wrote.
    let Some(first) = first_placeholder(template) else {
        return Ok(Translated {
            script: template.to_string(),
            variables: Vec::new(),
            uses_jsonpath: false,
        });
    };
    let mut shared = Shared {
        lookup,
        variables: Vec::new(),
        uses_jsonpath: false,
        seen: Vec::new(),
        first: first.to_string(),
        functions: Vec::new(),
        assignments_before: Vec::new(),
        declares_variables: false,
        nesting: 0,
    };
    let mut lexer = Lexer::new(template, &mut shared, 0, None);
    lexer.command_list(ListEnd::EndOfText)?;
    let script = lexer.out;
    // A function may be defined after the line that calls it, so this waits for the whole text.
    for (command, placeholder) in &shared.assignments_before {
        if shared.functions.contains(command) {
            return Err(refusal(
                placeholder,
                &Refusal::Stored(format!("NAME=... before the function {command}")),
            ));
        }
        // `declare -i NAME` makes bash evaluate what is assigned to NAME as arithmetic.
        if shared.declares_variables {
            return Err(refusal(
                placeholder,
                &Refusal::Stored(
                    "NAME=... in a command that also uses declare, typeset or local, which can \
                     make NAME an integer whose value bash evaluates"
                        .into(),
                ),
            ));
        }
    }
    Ok(Translated {
        script,
        variables: shared.variables,
        uses_jsonpath: shared.uses_jsonpath,
    })
}

/// Refuses a placeholder in the value of an `environment` entry that the shell or the dynamic
/// loader reads to find or load code (`PATH`, `LD_PRELOAD`, ...).
pub fn check_environment_variable(name: &str, value: &str) -> Result<(), Error> {
    match first_placeholder(value) {
        Some(placeholder) if loads_code(name) => Err(refusal(
            placeholder,
            &Refusal::CodeVariable(name.to_string()),
        )),
        _ => Ok(()),
    }
}

/// bash's variables that evaluate what is assigned to them as arithmetic.
const BASH_NUMBERS: &str = "SECONDS RANDOM SRANDOM OPTIND OPTERR HISTCMD LINENO EPOCHSECONDS \
    EPOCHREALTIME BASHPID COLUMNS LINES";

/// Whether the shell or the dynamic loader reads the variable to find or load code.
fn loads_code(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "ENV" | "BASH_ENV" | "SHELLOPTS" | "BASHOPTS" | "PS4"
    ) || name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
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

/// Why a placeholder cannot stand where the author put it.
#[derive(Clone, Debug)]
enum Refusal {
    /// bash would evaluate the value as an arithmetic expression in this construct.
    Arithmetic(&'static str),
    DoubleBrackets,
    QuotedHereDocument,
    CommandName,
    /// An argument of a builtin that runs its arguments as shell code.
    RunsCode(String),
    /// An argument of a builtin that reads its arguments as variable names.
    VariableName(String),
    /// An argument of another builtin, which reads options, numbers or names.
    Builtin(String),
    /// An argument of a command whose name is computed and could be a builtin.
    ComputedCommand,
    /// The script, script file or an option of a shell named in the command.
    ShellScript,
    /// The word after `>&` or `<&`.
    DuplicationTarget,
    /// A here-document that a shell reads as its script.
    ShellInput,
    PrintfFormat,
    PrintfOptions,
    TestVariableOperand,
    TestAdjacentValues,
    /// The value would be kept in a shell variable, in the way described.
    Stored(String),
    /// The value would be assigned to a variable that names code to run or load.
    CodeVariable(String),
    UnquotedSubstitution,
    SubstitutionInPattern,
    PatternInHereDocument,
    BashOnly(&'static str),
    BraceExpansion,
    /// The text around the placeholder cannot be read with certainty.
    Unparsable(String),
}

fn refusal(placeholder: &str, why: &Refusal) -> Error {
    let p = format!("${{{placeholder}}}");
    let message = match why {
        Refusal::Arithmetic(what) => format!(
            "{p} cannot be used inside {what}: bash would evaluate the notification's value as \
             arithmetic and could run code; compare or compute on it in a script of your own instead"
        ),
        Refusal::DoubleBrackets => format!(
            "{p} cannot be used inside [[ ]]: bash evaluates the operands of -eq, -lt and the other \
             arithmetic tests, and of -v, as expressions and could run code; use [ ] (test) with = or \
             != instead"
        ),
        Refusal::QuotedHereDocument => format!(
            "{p} cannot be used inside a quoted here-document (<<'EOF', <<\"EOF\" or <<\\EOF): the \
             shell would not substitute it; leave the delimiter unquoted (<<EOF)"
        ),
        Refusal::CommandName => format!(
            "{p} cannot be used as a command name: the notification would choose what runs; name the \
             command yourself and pass the value as an argument"
        ),
        Refusal::RunsCode(builtin) => format!(
            "{p} cannot be an argument of {builtin}: the shell would run the notification's value as \
             code"
        ),
        Refusal::VariableName(builtin) => format!(
            "{p} cannot be an argument of {builtin}: bash reads its arguments as variable names and \
             evaluates an array subscript in them, which can run code; to hand a value to a program, \
             write NAME={p} program"
        ),
        Refusal::Builtin(builtin) => format!(
            "{p} cannot be an argument of the shell builtin {builtin}, which reads its arguments as \
             options, numbers or names rather than as data; pass values to external commands, echo, \
             printf, test or cd"
        ),
        Refusal::ComputedCommand => format!(
            "{p} cannot be an argument of a command whose name the shell computes ($CMD, $( ), \
             a glob): it could turn out to be eval or another builtin that runs its arguments; \
             write the command's name, or a path with a /"
        ),
        Refusal::ShellScript => format!(
            "{p} cannot be the script, the script file or an option of a shell the command runs \
             (sh -c, bash FILE): that shell would run the notification's value as code; pass the \
             value after the script, as a parameter: sh -c 'your-command \"$1\"' sh {p}"
        ),
        Refusal::DuplicationTarget => format!(
            "{p} cannot be used after >& or <&: bash evaluates that word, array subscripts \
             included, which can run code; write > file or 2> file"
        ),
        Refusal::ShellInput => format!(
            "{p} cannot be used in a here-document that a shell reads as its script: that shell \
             would run the notification's value as code; pass the value as a parameter: \
             sh -s -- {p} <<'EOF' ... \"$1\" ... EOF"
        ),
        Refusal::PrintfFormat => format!(
            "{p} cannot be printf's format: a value such as -v would become an option; write \
             printf '%s' {p}"
        ),
        Refusal::PrintfOptions => format!(
            "{p} cannot be used in printf with options such as -v (or a first argument the shell \
             computes, which could be -v): bash would assign to a variable named by an argument \
             and evaluate an array subscript in it, which can run code"
        ),
        Refusal::TestVariableOperand => format!(
            "{p} cannot follow -v, -R or a word the shell computes ($VAR, $( )) in test or [ ]: \
             such a word can be -v, and bash reads the argument after -v as a variable name and \
             evaluates an array subscript in it, which can run code"
        ),
        Refusal::TestAdjacentValues => format!(
            "{p} cannot directly follow another notification value in test or [ ]: a first value \
             of -v would make bash read the second as a variable name and evaluate an array \
             subscript in it; put an operator such as = between them"
        ),
        Refusal::Stored(how) => format!(
            "{p} cannot be stored in a shell variable ({how}): a later $(( )), [[ ]] or let on that \
             variable would evaluate the value as code; pass it to the command as an argument"
        ),
        Refusal::CodeVariable(name) => format!(
            "{p} cannot be assigned to {name}: the shell or the dynamic loader reads that \
             variable to find or load programs, so the notification would choose what runs"
        ),
        Refusal::UnquotedSubstitution => format!(
            "{p} cannot be used inside an unquoted $( ) or backquotes: the shell would split and \
             glob what it prints; put the substitution in double quotes: \"$( ... )\""
        ),
        Refusal::SubstitutionInPattern => format!(
            "{p} cannot be used in a $( ), backquotes or ${{...}} nested in a pattern (${{x#...}}, \
             ${{x%...}}): the shell would match the value as a glob pattern; put the placeholder \
             itself in the pattern"
        ),
        Refusal::PatternInHereDocument => format!(
            "{p} cannot be used in a pattern (${{x#...}}, ${{x%...}}) inside a here-document: dash \
             and busybox would match the value as a glob pattern"
        ),
        Refusal::BashOnly(what) => format!(
            "{p} cannot be used in {what}, which only bash reads this way (dash and busybox sh read \
             it differently)"
        ),
        Refusal::BraceExpansion => format!(
            "{p} cannot be used in a word with an unquoted {{: bash brace expansion could turn the \
             word into several arguments; quote the braces"
        ),
        Refusal::Unparsable(what) => format!(
            "{p} cannot be substituted safely: the command has {what}; placeholders are only \
             accepted in a command that dash, bash and busybox sh all read the same way"
        ),
    };
    Error::InvalidConfig(message)
}

/// What one translation collects across nested lexers.
struct Shared<'l> {
    lookup: &'l dyn Fn(&str) -> Result<Value, Error>,
    variables: Vec<(String, String)>,
    uses_jsonpath: bool,
    /// Every placeholder substituted so far, in order: a construct learns whether it holds one
    /// (and which) by comparing the length before and after it.
    seen: Vec<String>,
    /// The template's first placeholder, named when a construct rather than a placeholder is
    /// refused.
    first: String,
    /// The functions the template defines (`name() ...`).
    functions: Vec<String>,
    /// `(command, placeholder)` for each `NAME=${...} command`.
    assignments_before: Vec<(String, String)>,
    /// The template runs `declare`, `typeset` or `local`, which can give variables attributes.
    declares_variables: bool,
    /// How many substitutions and expansions enclose the cursor.
    nesting: usize,
}

/// How deep substitutions and expansions may nest.
const MAX_NESTING: usize = 64;

/// The quoting around a `$` or a backquote.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Quoting {
    Unquoted,
    Double,
    /// The body of a here-document with an unquoted delimiter.
    HereDocument,
}

/// How a placeholder's variable is written.
#[derive(Clone, Copy)]
enum Form {
    /// `"${AVISO_VALUE_n}"`: where the shell would split and glob.
    Quoted,
    /// `${AVISO_VALUE_n}`: inside double quotes or a here-document, which already protect it.
    Bare,
    /// `'"${AVISO_VALUE_n}"'`: closes the author's single quotes around the reference.
    InSingleQuotes,
}

#[derive(Clone, Copy, PartialEq)]
enum ListEnd {
    EndOfText,
    /// The `)` of a `$(`.
    ClosingParen,
}

/// The kinds of arithmetic text, which end differently and accept slightly different characters.
#[derive(Clone, Copy, PartialEq)]
enum Arithmetic {
    /// `$(( ))`.
    Expansion,
    /// `(( ))` as a command, which dash reads as two subshells.
    Command,
    /// `for (( ; ; ))`.
    ForLoop,
    /// `name[...]`.
    Subscript,
}

/// The operator of a `${name...}` expansion, which decides how its word is read.
#[derive(Clone, Copy, PartialEq)]
enum Operator {
    /// `-`, `+`, `?` (with or without `:`): the word is a value.
    Value,
    /// `=` or `:=`: the word is assigned to the variable.
    Assign,
    /// `#`, `##`, `%`, `%%`: the word is a glob pattern.
    Pattern,
    /// `:offset:length`: arithmetic.
    Substring,
    BashOnly(&'static str),
    /// Not a valid expansion: bash reports "bad substitution" when it runs.
    Malformed,
}

struct PendingHereDocument {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
    /// The serial number of the command it feeds.
    command: usize,
}

/// A shell word, once lexed.
struct Word {
    /// The word after quote removal, with `EXPANSION` standing for each expansion.
    text: String,
    /// Unquoted `*`, `?` or `[...]`: the shell may replace the word with file names.
    glob: bool,
    /// Neither quotes, backslashes nor `$`: a reserved word if its text is one.
    plain: bool,
    /// The first placeholder in the word, at any depth.
    placeholder: Option<String>,
}

/// Stands for an expansion in `Word::text`.
const EXPANSION: char = '\0';

impl Word {
    /// The word's text when the shell cannot change it: no expansion, no glob.
    fn literal(&self) -> Option<&str> {
        (!self.glob && !self.text.contains(EXPANSION)).then_some(self.text.as_str())
    }

    fn is_reserved(&self, reserved: &str) -> bool {
        self.plain && self.literal() == Some(reserved)
    }
}

/// What the command list expects next.
enum Expect {
    /// A command may start: reserved words, assignments, redirections, then the command name.
    CommandStart {
        /// The first placeholder in an assignment before the command name.
        assignment: Option<String>,
        after_time: bool,
    },
    Arguments(Arguments),
    /// After `fi`, `done`, `}`, `esac`, `)`, `]]` or `))`: operators and redirections only.
    CompoundEnd,
    ForName,
    ForInOrDo,
    ForWords,
    ForDo,
    CaseSubject,
    CaseIn,
    CasePattern {
        has_word: bool,
    },
}

impl Expect {
    fn start() -> Expect {
        Expect::CommandStart {
            assignment: None,
            after_time: false,
        }
    }

    fn in_command(&self) -> bool {
        matches!(
            self,
            Expect::CommandStart { .. } | Expect::Arguments(_) | Expect::CompoundEnd
        )
    }
}

/// The command whose arguments are being read.
struct Arguments {
    /// The command's name, unless the shell computes it (expansion or glob).
    command: Option<String>,
    /// A computed name without a `/`, which may turn out to be `eval` or another builtin.
    may_be_builtin: bool,
    /// After `command`, `builtin` or `exec`: the next word that is not an option is the command.
    wrapped: bool,
    count: usize,
    /// For `test` and `[`: what the previous argument was.
    previous: Previous,
    /// For `printf`: options (`-v`) were given, and the index of the format.
    printf_options: bool,
    printf_format: usize,
    /// Where a shell named in the command (`sh -c SCRIPT`, `sudo bash FILE`) takes its script.
    shell: ShellOperands,
}

/// Programs that run a script given as `-c SCRIPT`, as a file, or on their standard input.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "hush", "ksh", "mksh", "zsh"];

/// What a shell named in a command has read of its own arguments so far: options, then its
/// script (after `-c`) or script file, then positional parameters, which are safe for values.
#[derive(Default)]
struct ShellOperands {
    /// A word of the command named a shell.
    named: bool,
    /// `-c`: the script is the first operand.
    script_operand: bool,
    /// `-s`: the script is on standard input, and operands are positional parameters.
    script_on_input: bool,
    /// After `-o` or `-O`, which take an argument.
    option_argument: bool,
    /// The script or script file was read: later words are positional parameters.
    operand_read: bool,
}

impl ShellOperands {
    fn reads_script_from_input(&self) -> bool {
        self.named && (self.script_on_input || (!self.script_operand && !self.operand_read))
    }
}

#[derive(Clone, Copy)]
enum Previous {
    Other,
    /// A notification value.
    Value,
    /// `-v`, `-R`, or a word the shell computes, which could be `-v`.
    VariableOperator,
}

enum Frame {
    Subshell,
    Case { in_patterns: bool },
}

struct List {
    frames: Vec<Frame>,
    expect: Expect,
}

/// The builtins of bash, dash and busybox sh.
const SHELL_BUILTINS: &str = ". : [ alias bg bind break builtin caller cd chdir command compgen \
    complete compopt continue declare dirs disown echo enable eval exec exit export false fc fg \
    getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read \
    readarray readonly return set shift shopt source suspend test times trap true type typeset \
    ulimit umask unalias unset wait";

fn is_builtin(name: &str) -> bool {
    SHELL_BUILTINS
        .split_ascii_whitespace()
        .any(|builtin| builtin == name)
}

/// Why a value cannot be an argument of `command`, if the shell itself interprets its arguments.
/// `printf`, `test` and `[` have rules of their own.
fn builtin_refusal(command: &str) -> Option<Refusal> {
    match command {
        "echo" | "cd" | "pwd" | ":" | "true" | "false" => None,
        "let" => Some(Refusal::Arithmetic("let")),
        "eval" | "trap" | "." | "source" | "alias" | "fc" | "bind" | "complete" | "compgen"
        | "compopt" | "enable" | "hash" | "jobs" => Some(Refusal::RunsCode(command.to_string())),
        "read" | "declare" | "typeset" | "local" | "export" | "readonly" | "unset" | "mapfile"
        | "readarray" | "getopts" | "wait" => Some(Refusal::VariableName(command.to_string())),
        other if is_builtin(other) => Some(Refusal::Builtin(other.to_string())),
        _ => None,
    }
}

/// Whether a command word names a shell, by itself or by its path.
fn is_shell(word: &str) -> bool {
    SHELLS.contains(&word.rsplit('/').next().unwrap_or(word))
}

fn is_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Lexes one text (the template, a backquoted command or a here-document body) into `out`.
struct Lexer<'t, 's, 'l> {
    text: &'t str,
    pos: usize,
    out: String,
    shared: &'s mut Shared<'l>,
    /// How many `$( )` or backquotes enclose the text: here-documents are refused inside them.
    substitution_depth: usize,
    /// Set inside a construct where no placeholder may stand; everything nested inherits it.
    forbidden: Option<Refusal>,
    /// In the word of `${x#pattern}`: substitutions nested in it may not hold placeholders.
    in_pattern: bool,
    /// Here-documents whose body starts after the next line break.
    pending: Vec<PendingHereDocument>,
    /// Counts the simple commands ended so far, to tie here-documents to their command.
    command_serial: usize,
    /// The commands that are shells reading their script from standard input.
    script_on_input: Vec<usize>,
}

impl<'t, 's, 'l> Lexer<'t, 's, 'l> {
    fn new(
        text: &'t str,
        shared: &'s mut Shared<'l>,
        substitution_depth: usize,
        forbidden: Option<Refusal>,
    ) -> Self {
        Lexer {
            text,
            pos: 0,
            out: String::with_capacity(text.len() + 32),
            shared,
            substitution_depth,
            forbidden,
            in_pattern: false,
            pending: Vec::new(),
            command_serial: 0,
            script_on_input: Vec::new(),
        }
    }

    fn byte(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    /// Copies `len` bytes of ASCII syntax to the script.
    fn copy(&mut self, len: usize) {
        let end = self.pos + len;
        self.out.push_str(&self.text[self.pos..end]);
        self.pos = end;
    }

    fn copy_char(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.out.push(c);
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.byte(0), Some(b' ' | b'\t')) {
            self.copy(1);
        }
    }

    /// Whether the previous character is a blank or a line break: a line continuation there
    /// cannot glue two pieces of syntax into another (`$\` newline `((` would be `$((`).
    fn after_blank(&self) -> bool {
        self.pos == 0 || matches!(self.text.as_bytes()[self.pos - 1], b' ' | b'\t' | b'\n')
    }

    fn refuse(&self, placeholder: &str, why: Refusal) -> Error {
        refusal(placeholder, &why)
    }

    fn unparsable(&self, what: impl Into<String>) -> Error {
        refusal(&self.shared.first, &Refusal::Unparsable(what.into()))
    }

    fn placeholder_since(&self, mark: usize) -> Option<String> {
        self.shared.seen.get(mark).cloned()
    }

    /// Substitutes the placeholder `name` (`len` bytes at the cursor) written in `form`.
    fn placeholder(&mut self, name: &str, len: usize, form: Form) -> Result<(), Error> {
        if let Some(why) = &self.forbidden {
            return Err(refusal(name, why));
        }
        let variable = match (self.shared.lookup)(name)? {
            Value::JsonPath => {
                self.shared.uses_jsonpath = true;
                JSONPATH_VARIABLE.to_string()
            }
            Value::Text(text) => {
                let variable = format!("AVISO_VALUE_{}", self.shared.variables.len() + 1);
                self.shared.variables.push((variable.clone(), text));
                variable
            }
        };
        self.shared.seen.push(name.to_string());
        self.out.push_str(&match form {
            Form::Quoted => format!("\"${{{variable}}}\""),
            Form::Bare => format!("${{{variable}}}"),
            Form::InSingleQuotes => format!("'\"${{{variable}}}\"'"),
        });
        self.pos += len;
        Ok(())
    }

    /// Copies a line break that is inside a word, a quote or a substitution. While a
    /// here-document waits for its body, shells disagree on whether its body starts there.
    fn raw_newline(&mut self) -> Result<(), Error> {
        if !self.pending.is_empty() {
            return Err(self.unparsable(
                "a line break inside a quote or substitution on the line of a here-document",
            ));
        }
        self.copy(1);
        Ok(())
    }

    /// Lexes with placeholders refused for `why`, unless an enclosing construct already refuses
    /// them (its reason is the one to report).
    fn with_forbidden<T>(
        &mut self,
        why: Refusal,
        lex: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let saved = self.forbidden.clone();
        if saved.is_none() {
            self.forbidden = Some(why);
        }
        let result = lex(self);
        self.forbidden = saved;
        result
    }

    /// Lexes a substitution or expansion nested in a word: inside a pattern, whatever it
    /// produces is matched as a glob, so it may not hold placeholders.
    fn nested<T>(&mut self, lex: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        let in_pattern = std::mem::replace(&mut self.in_pattern, false);
        let result = self.deeper(|lexer| {
            if in_pattern {
                lexer.with_forbidden(Refusal::SubstitutionInPattern, lex)
            } else {
                lex(lexer)
            }
        });
        self.in_pattern = in_pattern;
        result
    }

    /// Bounds the lexer's recursion, so that no template can exhaust the plugin's stack.
    fn deeper<T>(&mut self, lex: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.shared.nesting == MAX_NESTING {
            return Err(
                self.unparsable(format!("substitutions nested more than {MAX_NESTING} deep"))
            );
        }
        self.shared.nesting += 1;
        let result = lex(self);
        self.shared.nesting -= 1;
        result
    }

    // ---- Command lists -------------------------------------------------------------------

    /// Lexes commands up to the end of the text or, for `$(`, up to its `)`.
    fn command_list(&mut self, end: ListEnd) -> Result<(), Error> {
        let mut list = List {
            frames: Vec::new(),
            expect: Expect::start(),
        };
        loop {
            let Some(c) = self.byte(0) else {
                if !list.expect.in_command() {
                    return Err(self.unparsable("an unfinished for or case"));
                }
                self.end_command(&mut list.expect)?;
                if end == ListEnd::ClosingParen {
                    return Err(self.unparsable("an unterminated $("));
                }
                if !list.frames.is_empty() {
                    return Err(self.unparsable("an unterminated ( or case"));
                }
                if let Some(document) = self.pending.first() {
                    return Err(self.unparsable(format!(
                        "a here-document without its end line {}",
                        document.delimiter
                    )));
                }
                return Ok(());
            };
            match c {
                b' ' | b'\t' => self.copy(1),
                b'\\' if self.byte(1) == Some(b'\n') => self.line_continuation()?,
                b'\n' => self.line_break(&mut list)?,
                b'#' => self.comment()?,
                b';' => self.semicolon(&mut list)?,
                b'&' => self.ampersand(&mut list)?,
                b'|' => self.pipe(&mut list)?,
                b'(' => self.open_paren(&mut list)?,
                b')' => {
                    if self.close_paren(&mut list, end)? {
                        return Ok(());
                    }
                }
                b'<' | b'>' => {
                    if !list.expect.in_command() {
                        return Err(self.unparsable("a redirection inside a for or case header"));
                    }
                    self.redirection()?;
                }
                _ => self.word_in_list(&mut list)?,
            }
        }
    }

    /// Ends a simple command at an operator or a line break; a value assigned to a variable with
    /// no command after it would stay in the shell.
    fn end_command(&mut self, expect: &mut Expect) -> Result<(), Error> {
        match expect {
            Expect::CommandStart {
                assignment: Some(placeholder),
                ..
            } => {
                return Err(self.refuse(
                    placeholder,
                    Refusal::Stored("NAME=... with no command after it".into()),
                ));
            }
            Expect::Arguments(arguments) if arguments.shell.reads_script_from_input() => {
                self.script_on_input.push(self.command_serial);
            }
            _ => {}
        }
        self.command_serial += 1;
        *expect = Expect::start();
        Ok(())
    }

    fn line_continuation(&mut self) -> Result<(), Error> {
        if !self.after_blank() {
            return Err(self.unparsable(
                "a line continuation (backslash-newline) right after an operator or inside a \
                 word; put a blank before the backslash",
            ));
        }
        self.copy(2);
        Ok(())
    }

    fn line_break(&mut self, list: &mut List) -> Result<(), Error> {
        if list.expect.in_command() {
            self.end_command(&mut list.expect)?;
        } else {
            match list.expect {
                Expect::ForInOrDo | Expect::ForWords => list.expect = Expect::ForDo,
                Expect::ForDo | Expect::CaseIn | Expect::CasePattern { has_word: false } => {}
                _ => return Err(self.unparsable("a line break inside a for or case header")),
            }
        }
        if !self.pending.is_empty() {
            if self.substitution_depth > 0 {
                return Err(
                    self.unparsable("a line break inside $( ) on the line of a here-document")
                );
            }
            self.copy(1);
            return self.here_document_bodies();
        }
        self.copy(1);
        Ok(())
    }

    fn comment(&mut self) -> Result<(), Error> {
        let start = self.pos;
        while self.byte(0).is_some_and(|c| c != b'\n') {
            self.copy_char();
        }
        if self.substitution_depth > 0 && self.text[start..self.pos].contains([')', '\'', '"', '`'])
        {
            return Err(self.unparsable(
                "a comment holding ) or a quote inside $( ) or backquotes, which older shells do \
                 not read as a comment",
            ));
        }
        Ok(())
    }

    fn semicolon(&mut self, list: &mut List) -> Result<(), Error> {
        let rest = self.rest();
        if let Some(op) = [";;&", ";;", ";&"]
            .into_iter()
            .find(|op| rest.starts_with(op))
        {
            let in_case_item =
                matches!(list.frames.last(), Some(Frame::Case { in_patterns: false }));
            if !in_case_item || !list.expect.in_command() {
                return Err(self.unparsable(format!("a {op} outside a case item")));
            }
            self.end_command(&mut list.expect)?;
            self.copy(op.len());
            if let Some(Frame::Case { in_patterns }) = list.frames.last_mut() {
                *in_patterns = true;
            }
            list.expect = Expect::CasePattern { has_word: false };
            return Ok(());
        }
        if list.expect.in_command() {
            self.end_command(&mut list.expect)?;
        } else {
            match list.expect {
                Expect::ForInOrDo | Expect::ForWords | Expect::ForDo => list.expect = Expect::ForDo,
                _ => return Err(self.unparsable("a ; inside a for or case header")),
            }
        }
        self.copy(1);
        Ok(())
    }

    fn ampersand(&mut self, list: &mut List) -> Result<(), Error> {
        if self.rest().starts_with("&>") {
            return Err(self.unparsable(
                "&>, which bash reads as a redirection but dash and busybox as & and then >; \
                 write >file 2>&1",
            ));
        }
        if !list.expect.in_command() {
            return Err(self.unparsable("a & inside a for or case header"));
        }
        self.end_command(&mut list.expect)?;
        self.copy(if self.rest().starts_with("&&") { 2 } else { 1 });
        Ok(())
    }

    fn pipe(&mut self, list: &mut List) -> Result<(), Error> {
        if self.rest().starts_with("|&") {
            return Err(self.unparsable("|&, which only bash reads as a pipe of both outputs"));
        }
        if let Expect::CasePattern { has_word: true } = list.expect {
            self.copy(1);
            list.expect = Expect::CasePattern { has_word: false };
            return Ok(());
        }
        if !list.expect.in_command() {
            return Err(self.unparsable("a | inside a for or case header"));
        }
        self.end_command(&mut list.expect)?;
        self.copy(if self.rest().starts_with("||") { 2 } else { 1 });
        Ok(())
    }

    fn open_paren(&mut self, list: &mut List) -> Result<(), Error> {
        let double = self.byte(1) == Some(b'(');
        match &list.expect {
            Expect::CommandStart {
                assignment: None, ..
            } => {
                if double {
                    self.copy(2);
                    self.with_forbidden(Refusal::Arithmetic("(( ))"), |lexer| {
                        lexer.arithmetic(Arithmetic::Command)
                    })?;
                    list.expect = Expect::CompoundEnd;
                } else {
                    self.copy(1);
                    list.frames.push(Frame::Subshell);
                }
            }
            Expect::ForName if double => {
                self.copy(2);
                self.with_forbidden(Refusal::Arithmetic("for (( ))"), |lexer| {
                    lexer.arithmetic(Arithmetic::ForLoop)
                })?;
                list.expect = Expect::ForDo;
            }
            Expect::CasePattern { has_word: false } => self.copy(1),
            Expect::Arguments(Arguments {
                command: Some(name),
                wrapped: false,
                count: 0,
                ..
            }) => {
                // `name ( )`: a function definition; its body is a compound command.
                let name = name.clone();
                self.copy(1);
                self.skip_blanks();
                if self.byte(0) != Some(b')') {
                    return Err(self.unparsable("a ( after a command name"));
                }
                self.copy(1);
                self.shared.functions.push(name);
                list.expect = Expect::start();
            }
            _ => return Err(self.unparsable("a ( in the middle of a command")),
        }
        Ok(())
    }

    /// Handles a `)`; returns whether it ends the `$(` this list belongs to.
    fn close_paren(&mut self, list: &mut List, end: ListEnd) -> Result<bool, Error> {
        if let Expect::CasePattern { has_word: true } = list.expect {
            self.copy(1);
            if let Some(Frame::Case { in_patterns }) = list.frames.last_mut() {
                *in_patterns = false;
            }
            list.expect = Expect::start();
            return Ok(false);
        }
        if !list.expect.in_command() {
            return Err(self.unparsable("a ) inside a for or case header"));
        }
        self.end_command(&mut list.expect)?;
        match list.frames.last() {
            Some(Frame::Subshell) => {
                list.frames.pop();
                self.copy(1);
                list.expect = Expect::CompoundEnd;
                Ok(false)
            }
            None if end == ListEnd::ClosingParen => {
                self.copy(1);
                Ok(true)
            }
            _ => Err(self.unparsable("an unmatched )")),
        }
    }

    fn word_in_list(&mut self, list: &mut List) -> Result<(), Error> {
        if list.expect.in_command() {
            // `2>file`: digits glued to a redirection name a file descriptor, not a word.
            let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && matches!(self.byte(digits), Some(b'<' | b'>')) {
                self.copy(digits);
                return Ok(());
            }
            if self.brace_variable_redirection() {
                return Err(self
                    .unparsable("bash's {name}> redirection, which dash reads as a command name"));
            }
        }
        let expect = std::mem::replace(&mut list.expect, Expect::CompoundEnd);
        list.expect = match expect {
            Expect::CommandStart {
                assignment,
                after_time,
            } => self.word_at_command_start(assignment, after_time, &mut list.frames)?,
            Expect::Arguments(mut arguments) => {
                let word = self.word()?;
                self.argument(&mut arguments, &word)?;
                Expect::Arguments(arguments)
            }
            Expect::CompoundEnd => {
                return Err(self.unparsable("a word right after the end of a compound command"));
            }
            Expect::ForName => {
                let word = self.word()?;
                if let Some(placeholder) = &word.placeholder {
                    return Err(self.refuse(placeholder, Refusal::Stored("a for loop".into())));
                }
                if !word.plain || !word.literal().is_some_and(is_name) {
                    return Err(self.unparsable("a for loop without a variable name"));
                }
                Expect::ForInOrDo
            }
            Expect::ForInOrDo => {
                let word = self.word()?;
                if word.is_reserved("in") {
                    Expect::ForWords
                } else if word.is_reserved("do") {
                    Expect::start()
                } else {
                    return Err(self.unparsable("a for loop without in or do"));
                }
            }
            Expect::ForWords => {
                let word = self.word()?;
                if let Some(placeholder) = &word.placeholder {
                    return Err(self.refuse(placeholder, Refusal::Stored("a for loop".into())));
                }
                Expect::ForWords
            }
            Expect::ForDo => {
                if !self.word()?.is_reserved("do") {
                    return Err(self.unparsable("a for loop without do"));
                }
                Expect::start()
            }
            Expect::CaseSubject => {
                self.word()?;
                Expect::CaseIn
            }
            Expect::CaseIn => {
                if !self.word()?.is_reserved("in") {
                    return Err(self.unparsable("a case without in"));
                }
                list.frames.push(Frame::Case { in_patterns: true });
                Expect::CasePattern { has_word: false }
            }
            Expect::CasePattern { has_word: false } => {
                if self.word()?.is_reserved("esac") {
                    list.frames.pop();
                    Expect::CompoundEnd
                } else {
                    Expect::CasePattern { has_word: true }
                }
            }
            Expect::CasePattern { has_word: true } => {
                return Err(self.unparsable("two words in a case pattern"));
            }
        };
        Ok(())
    }

    /// `{name}` glued to a redirection: bash stores a new file descriptor in `name`.
    fn brace_variable_redirection(&self) -> bool {
        let Some(inner) = self.rest().strip_prefix('{') else {
            return false;
        };
        let Some(close) = inner.find('}') else {
            return false;
        };
        is_name(&inner[..close]) && matches!(inner.as_bytes().get(close + 1), Some(b'<' | b'>'))
    }

    fn word_at_command_start(
        &mut self,
        assignment: Option<String>,
        after_time: bool,
        frames: &mut Vec<Frame>,
    ) -> Result<Expect, Error> {
        if let Some(name_len) = self.assignment_name() {
            let placeholder = self.assignment(name_len)?;
            return Ok(Expect::CommandStart {
                assignment: assignment.or(placeholder),
                after_time: false,
            });
        }
        let word = self.word()?;
        if assignment.is_none() && word.plain {
            let reserved = word.literal().unwrap_or_default();
            let next = match reserved {
                "!" | "if" | "then" | "else" | "elif" | "while" | "until" | "do" | "{" => {
                    Some(Expect::start())
                }
                "time" => Some(Expect::CommandStart {
                    assignment: None,
                    after_time: true,
                }),
                "-p" if after_time => Some(Expect::start()),
                "fi" | "done" | "}" => Some(Expect::CompoundEnd),
                "for" => Some(Expect::ForName),
                "case" => Some(Expect::CaseSubject),
                "esac" => {
                    if !matches!(frames.last(), Some(Frame::Case { in_patterns: false })) {
                        return Err(self.unparsable("an esac outside a case"));
                    }
                    frames.pop();
                    Some(Expect::CompoundEnd)
                }
                "[[" => {
                    self.with_forbidden(Refusal::DoubleBrackets, Self::double_brackets)?;
                    Some(Expect::CompoundEnd)
                }
                "function" | "select" | "coproc" => {
                    return Err(self.unparsable(format!(
                        "bash's {reserved} keyword, which dash reads as a command name"
                    )));
                }
                _ => None,
            };
            if let Some(next) = next {
                return Ok(next);
            }
        }
        let arguments = self.command_name(&word)?;
        if let Some(placeholder) = assignment {
            match arguments.command.as_deref() {
                // A builtin may keep the assignment in the shell (POSIX special builtins do).
                Some(name) if is_builtin(name) => {
                    return Err(self.refuse(
                        &placeholder,
                        Refusal::Stored(format!("NAME=... before the shell builtin {name}")),
                    ));
                }
                Some(name) => self
                    .shared
                    .assignments_before
                    .push((name.to_string(), placeholder)),
                None if arguments.may_be_builtin => {
                    return Err(self.refuse(
                        &placeholder,
                        Refusal::Stored("NAME=... before a command whose name is computed".into()),
                    ));
                }
                None => {}
            }
        }
        Ok(Expect::Arguments(arguments))
    }

    fn command_name(&mut self, word: &Word) -> Result<Arguments, Error> {
        if let Some(placeholder) = &word.placeholder {
            return Err(self.refuse(placeholder, Refusal::CommandName));
        }
        let command = word.literal().map(str::to_string);
        self.shared.declares_variables |=
            matches!(command.as_deref(), Some("declare" | "typeset" | "local"));
        let wrapped = matches!(command.as_deref(), Some("command" | "builtin" | "exec"));
        Ok(Arguments {
            may_be_builtin: command.is_none() && !word.text.contains('/'),
            command,
            wrapped,
            count: 0,
            previous: Previous::Other,
            printf_options: false,
            printf_format: 0,
            shell: ShellOperands {
                named: word.literal().is_some_and(is_shell),
                ..ShellOperands::default()
            },
        })
    }

    /// Follows a shell named in the command through its options: a value may not be its script,
    /// its script file or an option, only a positional parameter after them.
    fn shell_operand(&self, shell: &mut ShellOperands, word: &Word) -> Result<(), Error> {
        if !shell.named {
            shell.named = word.literal().is_some_and(is_shell);
            return Ok(());
        }
        if shell.operand_read {
            return Ok(());
        }
        if let Some(placeholder) = &word.placeholder {
            return Err(self.refuse(placeholder, Refusal::ShellScript));
        }
        if std::mem::take(&mut shell.option_argument) {
            return Ok(());
        }
        match word.literal() {
            // With -s, the operands after `--` are all positional parameters.
            Some("--") => shell.operand_read = shell.script_on_input,
            Some("-") => {}
            Some(option) if option.starts_with(['-', '+']) => {
                let short = !option.starts_with("--");
                shell.script_operand |= short && option.starts_with('-') && option.contains('c');
                shell.script_on_input |= short && option.starts_with('-') && option.contains('s');
                shell.option_argument = matches!(
                    option,
                    "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file"
                );
            }
            Some(_) => shell.operand_read = true,
            // A computed word may be an option; one with a `/` is a script file.
            None => shell.operand_read = word.text.contains('/'),
        }
        Ok(())
    }

    /// Checks a word given to a command: the shell itself must not read a value as anything but
    /// data.
    fn argument(&mut self, arguments: &mut Arguments, word: &Word) -> Result<(), Error> {
        let placeholder = word.placeholder.as_deref();
        if arguments.wrapped {
            let option =
                placeholder.is_none() && word.literal().is_some_and(|l| l.starts_with('-'));
            if !option {
                *arguments = self.command_name(word)?;
            }
            return Ok(());
        }
        self.shell_operand(&mut arguments.shell, word)?;
        let index = arguments.count;
        arguments.count += 1;
        let Some(command) = arguments.command.as_deref() else {
            return match placeholder {
                Some(placeholder) if arguments.may_be_builtin => {
                    Err(self.refuse(placeholder, Refusal::ComputedCommand))
                }
                _ => Ok(()),
            };
        };
        match command {
            "printf" => {
                if index == 0 {
                    // A word the shell computes may be an option too.
                    match word.literal() {
                        Some("--") => arguments.printf_format = 1,
                        Some(format) if !format.starts_with('-') => {}
                        _ => arguments.printf_options = true,
                    }
                }
                if let Some(placeholder) = placeholder {
                    if index == arguments.printf_format {
                        return Err(self.refuse(placeholder, Refusal::PrintfFormat));
                    }
                    if arguments.printf_options {
                        return Err(self.refuse(placeholder, Refusal::PrintfOptions));
                    }
                }
            }
            "test" | "[" => {
                if let Some(placeholder) = placeholder {
                    match arguments.previous {
                        Previous::Value => {
                            return Err(self.refuse(placeholder, Refusal::TestAdjacentValues));
                        }
                        Previous::VariableOperator => {
                            return Err(self.refuse(placeholder, Refusal::TestVariableOperand));
                        }
                        Previous::Other => {}
                    }
                }
                arguments.previous = match (placeholder, word.literal()) {
                    (Some(_), _) => Previous::Value,
                    (None, Some("-v" | "-R") | None) => Previous::VariableOperator,
                    (None, Some(_)) => Previous::Other,
                };
            }
            _ => {
                if let (Some(placeholder), Some(why)) = (placeholder, builtin_refusal(command)) {
                    return Err(self.refuse(placeholder, why));
                }
            }
        }
        Ok(())
    }

    /// At a command's start, the length of `NAME` when the word is an assignment (`NAME=`,
    /// `NAME+=`, `NAME[`).
    fn assignment_name(&self) -> Option<usize> {
        let bytes = self.rest().as_bytes();
        if !bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        {
            return None;
        }
        let len = bytes
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let after = &bytes[len..];
        (after.starts_with(b"=") || after.starts_with(b"+=") || after.starts_with(b"["))
            .then_some(len)
    }

    /// Lexes an assignment word; returns the first placeholder in its value.
    fn assignment(&mut self, name_len: usize) -> Result<Option<String>, Error> {
        let mark = self.shared.seen.len();
        let name = &self.rest()[..name_len];
        self.copy(name_len);
        if self.byte(0) == Some(b'[') {
            // bash evaluates the subscript as arithmetic; dash reads the word as a command name.
            self.copy(1);
            self.with_forbidden(
                Refusal::Arithmetic("an array subscript name[...]"),
                |lexer| lexer.arithmetic(Arithmetic::Subscript),
            )?;
            let operator = if self.rest().starts_with("+=") {
                2
            } else if self.rest().starts_with('=') {
                1
            } else {
                return Err(self.unparsable("a word NAME[...] that is not an assignment"));
            };
            self.copy(operator);
            self.with_forbidden(
                Refusal::BashOnly("an array element assignment NAME[...]=value"),
                Self::word,
            )?;
            return Ok(None);
        }
        self.copy(if self.byte(0) == Some(b'+') { 2 } else { 1 });
        if self.byte(0) == Some(b'(') {
            self.with_forbidden(
                Refusal::Stored("an array assignment NAME=( )".into()),
                Self::array_elements,
            )?;
        } else {
            self.word()?;
        }
        let placeholder = self.placeholder_since(mark);
        if let Some(placeholder) = &placeholder {
            if loads_code(name) {
                return Err(self.refuse(placeholder, Refusal::CodeVariable(name.to_string())));
            }
            if BASH_NUMBERS
                .split_ascii_whitespace()
                .any(|number| number == name)
            {
                return Err(self.refuse(
                    placeholder,
                    Refusal::Arithmetic("an assignment to a variable bash keeps as a number"),
                ));
            }
        }
        Ok(placeholder)
    }

    fn array_elements(&mut self) -> Result<(), Error> {
        self.copy(1);
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated array assignment NAME=( )")),
                Some(b' ' | b'\t') => self.copy(1),
                Some(b'\n') => self.raw_newline()?,
                Some(b')') => {
                    self.copy(1);
                    return Ok(());
                }
                Some(b';' | b'&' | b'|' | b'(' | b'<' | b'>' | b'#') => {
                    return Err(self.unparsable(
                        "an array assignment NAME=( ) holding an operator or a comment",
                    ));
                }
                Some(_) => {
                    self.word()?;
                }
            }
        }
    }

    // ---- Redirections and here-documents -------------------------------------------------

    fn redirection(&mut self) -> Result<(), Error> {
        let rest = self.rest();
        if rest.starts_with("<(") || rest.starts_with(">(") {
            return Err(self.unparsable(
                "bash's process substitution <( ) or >( ), which dash reads as a redirection",
            ));
        }
        if rest.starts_with("<<<") {
            // A bash here-string; dash and busybox refuse it as a syntax error.
            self.copy(3);
            return self.redirection_target();
        }
        if rest.starts_with("<<-") {
            self.copy(3);
            return self.here_document_operator(true);
        }
        if rest.starts_with("<<") {
            self.copy(2);
            return self.here_document_operator(false);
        }
        if rest.starts_with("<&") || rest.starts_with(">&") {
            // bash evaluates the word after `>&` (array subscripts included) to tell a file
            // descriptor from a file name.
            self.copy(2);
            return self.with_forbidden(Refusal::DuplicationTarget, Self::redirection_target);
        }
        let two = ["<>", ">>", ">|"].iter().any(|op| rest.starts_with(op));
        self.copy(if two { 2 } else { 1 });
        self.redirection_target()
    }

    fn redirection_target(&mut self) -> Result<(), Error> {
        self.skip_blanks();
        match self.byte(0) {
            None | Some(b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' | b'#' | b'\\') => {
                Err(self.unparsable("a redirection without a plain file name after it"))
            }
            _ => self.word().map(|_| ()),
        }
    }

    fn here_document_operator(&mut self, strip_tabs: bool) -> Result<(), Error> {
        if self.substitution_depth > 0 {
            return Err(self.unparsable(
                "a here-document inside $( ) or backquotes, where shells have disagreed on where \
                 it ends",
            ));
        }
        self.skip_blanks();
        let mut delimiter = String::new();
        let mut quoted = false;
        loop {
            match self.byte(0) {
                None
                | Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>') => {
                    break;
                }
                Some(b'$' | b'`') => {
                    return Err(self.unparsable("a here-document delimiter holding $ or `"));
                }
                Some(b'\\') => {
                    quoted = true;
                    self.copy(1);
                    if matches!(self.byte(0), None | Some(b'\n')) {
                        return Err(self.unparsable("a here-document delimiter ending in \\"));
                    }
                    if let Some(c) = self.copy_char() {
                        delimiter.push(c);
                    }
                }
                Some(quote @ (b'\'' | b'"')) => {
                    quoted = true;
                    self.copy(1);
                    loop {
                        match self.byte(0) {
                            None | Some(b'\n' | b'$' | b'`' | b'\\') => {
                                return Err(self.unparsable(
                                    "a here-document delimiter with an unterminated quote or \
                                     with $, ` or \\ in quotes",
                                ));
                            }
                            Some(c) if c == quote => {
                                self.copy(1);
                                break;
                            }
                            Some(_) => {
                                if let Some(c) = self.copy_char() {
                                    delimiter.push(c);
                                }
                            }
                        }
                    }
                }
                Some(_) => {
                    if let Some(c) = self.copy_char() {
                        delimiter.push(c);
                    }
                }
            }
        }
        if delimiter.is_empty() {
            return Err(self.unparsable("a here-document without a delimiter"));
        }
        self.pending.push(PendingHereDocument {
            delimiter,
            strip_tabs,
            quoted,
            command: self.command_serial,
        });
        Ok(())
    }

    /// Reads the bodies of the pending here-documents, which start at the cursor (after a line
    /// break), each up to its end line.
    fn here_document_bodies(&mut self) -> Result<(), Error> {
        let text = self.text;
        for document in std::mem::take(&mut self.pending) {
            let body_start = self.pos;
            let mut line_start = self.pos;
            let body_end = loop {
                if line_start >= text.len() {
                    return Err(self.unparsable(format!(
                        "a here-document without its end line {}",
                        document.delimiter
                    )));
                }
                let line_end = text[line_start..]
                    .find('\n')
                    .map_or(text.len(), |at| line_start + at);
                let line = &text[line_start..line_end];
                let line = if document.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == document.delimiter {
                    break line_start;
                }
                line_start = line_end + 1;
            };
            let body = &text[body_start..body_end];
            if let Some(name) = first_placeholder(body)
                && self.script_on_input.contains(&document.command)
            {
                return Err(self.refuse(name, Refusal::ShellInput));
            }
            if document.quoted {
                if let Some(name) = first_placeholder(body) {
                    return Err(self.refuse(name, Refusal::QuotedHereDocument));
                }
                self.out.push_str(body);
            } else {
                let mut lexer = Lexer::new(
                    body,
                    &mut *self.shared,
                    self.substitution_depth,
                    self.forbidden.clone(),
                );
                lexer.here_document_body()?;
                let translated = lexer.out;
                self.out.push_str(&translated);
            }
            self.pos = body_end;
            let end_line = text[self.pos..]
                .find('\n')
                .map_or(text.len(), |at| self.pos + at + 1);
            self.copy(end_line - self.pos);
        }
        Ok(())
    }

    /// Lexes a here-document body (unquoted delimiter): like double quotes, except that `"`
    /// is an ordinary character.
    fn here_document_body(&mut self) -> Result<(), Error> {
        while let Some(c) = self.byte(0) {
            match c {
                b'\\' => match self.byte(1) {
                    Some(b'$' | b'`' | b'\\') => self.copy(2),
                    Some(b'\n') => {
                        return Err(self.unparsable(
                            "a line continuation (backslash-newline) in a here-document",
                        ));
                    }
                    _ => self.copy(1),
                },
                b'$' => {
                    self.dollar(Quoting::HereDocument)?;
                }
                b'`' => self.backquotes(Quoting::HereDocument)?,
                _ => {
                    self.copy_char();
                }
            }
        }
        Ok(())
    }

    // ---- Words -----------------------------------------------------------------------------

    /// Lexes one word of a command, up to a blank or an operator, substituting its placeholders.
    fn word(&mut self) -> Result<Word, Error> {
        let mark = self.shared.seen.len();
        let mut text = String::new();
        let mut plain = true;
        let mut unquoted_brace = false;
        let mut glob = false;
        let mut open_bracket = false;
        while let Some(c) = self.byte(0) {
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' => break,
                b'\'' => {
                    plain = false;
                    self.single_quoted(&mut text)?;
                }
                b'"' => {
                    plain = false;
                    self.double_quoted(&mut text)?;
                }
                b'\\' => {
                    plain = false;
                    match self.byte(1) {
                        Some(b'\n') => {
                            return Err(self.unparsable(
                                "a line continuation (backslash-newline) inside a word",
                            ));
                        }
                        None => return Err(self.unparsable("a backslash at the end")),
                        Some(_) => {
                            self.copy(1);
                            text.extend(self.copy_char());
                        }
                    }
                }
                b'$' => {
                    plain = false;
                    text.push(if self.dollar(Quoting::Unquoted)? {
                        EXPANSION
                    } else {
                        '$'
                    });
                }
                b'`' => {
                    plain = false;
                    text.push(EXPANSION);
                    self.backquotes(Quoting::Unquoted)?;
                }
                _ => {
                    unquoted_brace |= c == b'{';
                    glob |= c == b'*' || c == b'?' || (c == b']' && open_bracket);
                    open_bracket |= c == b'[';
                    text.extend(self.copy_char());
                }
            }
        }
        let placeholder = self.placeholder_since(mark);
        if let (Some(placeholder), true) = (&placeholder, unquoted_brace) {
            return Err(self.refuse(placeholder, Refusal::BraceExpansion));
        }
        Ok(Word {
            text,
            glob,
            plain,
            placeholder,
        })
    }

    /// Lexes `'...'`, adding its text to `text`.
    fn single_quoted(&mut self, text: &mut String) -> Result<(), Error> {
        self.copy(1);
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated single quote")),
                Some(b'\'') => {
                    self.copy(1);
                    return Ok(());
                }
                Some(b'\n') => {
                    self.raw_newline()?;
                    text.push('\n');
                }
                Some(c) => {
                    if c == b'$'
                        && let Some((name, len)) = token_at(self.rest())
                    {
                        self.placeholder(name, len, Form::InSingleQuotes)?;
                        text.push(EXPANSION);
                        continue;
                    }
                    text.extend(self.copy_char());
                }
            }
        }
    }

    /// Lexes `"..."`, adding its text to `text`.
    fn double_quoted(&mut self, text: &mut String) -> Result<(), Error> {
        self.copy(1);
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated double quote")),
                Some(b'"') => {
                    self.copy(1);
                    return Ok(());
                }
                Some(b'\\') => match self.byte(1) {
                    Some(b'\n') => {
                        if !self.after_blank() || !self.pending.is_empty() {
                            return Err(self.unparsable(
                                "a line continuation (backslash-newline) inside a word",
                            ));
                        }
                        self.copy(2);
                    }
                    Some(c @ (b'$' | b'`' | b'"' | b'\\')) => {
                        self.copy(2);
                        text.push(c as char);
                    }
                    _ => {
                        self.copy(1);
                        text.push('\\');
                    }
                },
                Some(b'$') => {
                    text.push(if self.dollar(Quoting::Double)? {
                        EXPANSION
                    } else {
                        '$'
                    });
                }
                Some(b'`') => {
                    text.push(EXPANSION);
                    self.backquotes(Quoting::Double)?;
                }
                Some(b'\n') => {
                    self.raw_newline()?;
                    text.push('\n');
                }
                Some(_) => text.extend(self.copy_char()),
            }
        }
    }

    /// Lexes what follows a `$`: a placeholder, an expansion, a command substitution or
    /// arithmetic. Returns whether it was one, rather than a plain `$`.
    fn dollar(&mut self, quoting: Quoting) -> Result<bool, Error> {
        if let Some((name, len)) = token_at(self.rest()) {
            let form = match quoting {
                Quoting::Unquoted => Form::Quoted,
                Quoting::Double | Quoting::HereDocument => Form::Bare,
            };
            self.placeholder(name, len, form)?;
            return Ok(true);
        }
        match self.byte(1) {
            Some(b'{') => self.nested(|lexer| lexer.parameter_expansion(quoting))?,
            Some(b'(') if self.byte(2) == Some(b'(') => {
                self.copy(3);
                self.deeper(|lexer| {
                    lexer.with_forbidden(Refusal::Arithmetic("$(( ))"), |lexer| {
                        lexer.arithmetic(Arithmetic::Expansion)
                    })
                })?;
            }
            Some(b'(') => self.nested(|lexer| lexer.command_substitution(quoting))?,
            Some(b'[') => {
                return Err(self.unparsable("bash's old $[ ] arithmetic, which dash reads as text"));
            }
            Some(b'\'') if quoting == Quoting::Unquoted => self.ansi_c_quoted()?,
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let len = self.rest()[1..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                self.copy(1 + len);
            }
            Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(&c) => self.copy(2),
            _ => {
                self.copy(1);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// bash's `$'...'`; dash reads it as `$` and a single-quoted string.
    fn ansi_c_quoted(&mut self) -> Result<(), Error> {
        self.copy(2);
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated $'")),
                Some(b'\'') => {
                    self.copy(1);
                    return Ok(());
                }
                Some(b'\\') => match self.byte(1) {
                    Some(b'\'') => {
                        return Err(self.unparsable(
                            "\\' inside $'...', which bash reads as a quote and dash as the end",
                        ));
                    }
                    None | Some(b'\n') => {
                        return Err(self.unparsable("a backslash at the end of a line in $'...'"));
                    }
                    Some(_) => {
                        self.copy(1);
                        self.copy_char();
                    }
                },
                Some(b'\n') => self.raw_newline()?,
                Some(c) => {
                    if c == b'$'
                        && let Some((name, _)) = token_at(self.rest())
                    {
                        return Err(self.refuse(name, Refusal::BashOnly("$'...' quoting")));
                    }
                    self.copy_char();
                }
            }
        }
    }

    /// `$( )`: a new command list, in which quotes open anew.
    fn command_substitution(&mut self, quoting: Quoting) -> Result<(), Error> {
        let mark = self.shared.seen.len();
        self.copy(2);
        self.substitution_depth += 1;
        let listed = self.command_list(ListEnd::ClosingParen);
        self.substitution_depth -= 1;
        listed?;
        self.refuse_unquoted_output(quoting, mark)
    }

    /// Outside double quotes the shell splits and globs what a substitution prints.
    fn refuse_unquoted_output(&self, quoting: Quoting, mark: usize) -> Result<(), Error> {
        match self.placeholder_since(mark) {
            Some(placeholder) if quoting == Quoting::Unquoted => {
                Err(self.refuse(&placeholder, Refusal::UnquotedSubstitution))
            }
            _ => Ok(()),
        }
    }

    /// A backquoted command: the shell removes the backslashes before `$`, `` ` `` and `\` (and
    /// `"` in double quotes) and reads the rest as a script of its own. So does this lexer, and it
    /// puts the backslashes back around the translated script.
    fn backquotes(&mut self, quoting: Quoting) -> Result<(), Error> {
        self.nested(|lexer| {
            let mark = lexer.shared.seen.len();
            lexer.pos += 1;
            let mut inner = String::new();
            loop {
                match (lexer.byte(0), lexer.byte(1)) {
                    (None, _) | (Some(b'\\'), None) => {
                        return Err(lexer.unparsable("an unterminated backquote"));
                    }
                    (Some(b'`'), _) => {
                        lexer.pos += 1;
                        break;
                    }
                    (Some(b'\\'), Some(c @ (b'$' | b'`' | b'\\'))) => {
                        inner.push(c as char);
                        lexer.pos += 2;
                    }
                    (Some(b'\\'), Some(b'"')) if quoting == Quoting::Double => {
                        inner.push('"');
                        lexer.pos += 2;
                    }
                    (Some(b'\\'), Some(b'"')) if quoting == Quoting::HereDocument => {
                        return Err(lexer.unparsable(
                            "\\\" inside backquotes in a here-document, which bash and dash read \
                             differently",
                        ));
                    }
                    (Some(b'\n'), _) if !lexer.pending.is_empty() => {
                        return Err(lexer.unparsable(
                            "a line break inside backquotes on the line of a here-document",
                        ));
                    }
                    _ => {
                        let c = lexer.rest().chars().next().unwrap_or_default();
                        inner.push(c);
                        lexer.pos += c.len_utf8();
                    }
                }
            }
            let translated = {
                let mut script = Lexer::new(
                    &inner,
                    &mut *lexer.shared,
                    lexer.substitution_depth + 1,
                    lexer.forbidden.clone(),
                );
                script.command_list(ListEnd::EndOfText)?;
                script.out
            };
            lexer.out.push('`');
            for c in translated.chars() {
                if matches!(c, '\\' | '`' | '$') {
                    lexer.out.push('\\');
                }
                lexer.out.push(c);
            }
            lexer.out.push('`');
            lexer.refuse_unquoted_output(quoting, mark)
        })
    }

    // ---- Parameter expansions ---------------------------------------------------------------

    /// `${...}` that is not a placeholder: a parameter, an optional subscript, an operator and
    /// its word.
    fn parameter_expansion(&mut self, quoting: Quoting) -> Result<(), Error> {
        self.copy(2);
        // `${#name}` (length) or `${!name}` (bash's indirection); `${#}` and `${!}` are parameters.
        let mut prefixed = false;
        match (self.byte(0), self.byte(1)) {
            (Some(b'#' | b'!'), Some(b'}')) => {
                self.copy(2);
                return Ok(());
            }
            (Some(b'#' | b'!'), Some(c)) if c.is_ascii_alphanumeric() || c == b'_' => {
                self.copy(1);
                prefixed = true;
            }
            _ => {}
        }
        let name_len = match self.byte(0) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self
                .rest()
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count(),
            Some(c) if c.is_ascii_digit() => {
                self.rest().bytes().take_while(u8::is_ascii_digit).count()
            }
            Some(c) if !prefixed && b"@*#?$!-".contains(&c) => 1,
            _ => 0,
        };
        if name_len == 0 {
            return self.parameter_word(quoting, Operator::Malformed);
        }
        self.copy(name_len);
        if self.byte(0) == Some(b'[') {
            self.copy(1);
            self.with_forbidden(
                Refusal::Arithmetic("an array subscript name[...]"),
                |lexer| lexer.arithmetic(Arithmetic::Subscript),
            )?;
        }
        let rest = self.rest();
        if prefixed {
            let len = if rest.starts_with('}') {
                1
            } else if rest.starts_with("*}") || rest.starts_with("@}") {
                2
            } else {
                return self.parameter_word(quoting, Operator::Malformed);
            };
            self.copy(len);
            return Ok(());
        }
        let (len, operator) = if rest.starts_with('}') {
            self.copy(1);
            return Ok(());
        } else if [":-", ":+", ":?"].iter().any(|op| rest.starts_with(op)) {
            (2, Operator::Value)
        } else if rest.starts_with(":=") {
            (2, Operator::Assign)
        } else if rest.starts_with(['-', '+', '?']) {
            (1, Operator::Value)
        } else if rest.starts_with('=') {
            (1, Operator::Assign)
        } else if rest.starts_with("##") || rest.starts_with("%%") {
            (2, Operator::Pattern)
        } else if rest.starts_with(['#', '%']) {
            (1, Operator::Pattern)
        } else if rest.starts_with('/') {
            (1, Operator::BashOnly("${name/pattern/string}"))
        } else if rest.starts_with(['^', ',']) {
            (1, Operator::BashOnly("${name^pattern} or ${name,pattern}"))
        } else if rest.starts_with('@') {
            (1, Operator::BashOnly("${name@operator}"))
        } else if rest.starts_with(':') {
            (1, Operator::Substring)
        } else {
            (0, Operator::Malformed)
        };
        self.copy(len);
        self.parameter_word(quoting, operator)
    }

    fn parameter_word(&mut self, quoting: Quoting, operator: Operator) -> Result<(), Error> {
        let forbidden = match operator {
            Operator::Assign => Some(Refusal::Stored("${NAME:=...}".into())),
            Operator::Substring => Some(Refusal::Arithmetic("${name:offset:length}")),
            Operator::BashOnly(what) => Some(Refusal::BashOnly(what)),
            Operator::Malformed => Some(Refusal::Unparsable("a malformed ${...}".into())),
            Operator::Pattern if quoting == Quoting::HereDocument => {
                Some(Refusal::PatternInHereDocument)
            }
            Operator::Value | Operator::Pattern => None,
        };
        // A pattern's value is quoted even inside double quotes, where `"${x#"$v"}"` still
        // matches it literally in every shell.
        let form = if quoting == Quoting::Unquoted || operator == Operator::Pattern {
            Form::Quoted
        } else {
            Form::Bare
        };
        let in_pattern = std::mem::replace(&mut self.in_pattern, operator == Operator::Pattern);
        let result = match forbidden {
            Some(why) => self.with_forbidden(why, |lexer| lexer.parameter_word_body(quoting, form)),
            None => self.parameter_word_body(quoting, form),
        };
        self.in_pattern = in_pattern;
        result
    }

    fn parameter_word_body(&mut self, quoting: Quoting, form: Form) -> Result<(), Error> {
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated ${")),
                Some(b'}') => {
                    self.copy(1);
                    return Ok(());
                }
                Some(b'{') => {
                    return Err(self.unparsable(
                        "a { inside ${ }, which bash pairs with the next } and dash does not; \
                         escape it as \\{",
                    ));
                }
                Some(b'\\') => match self.byte(1) {
                    None | Some(b'\n') => {
                        return Err(self.unparsable("a backslash at the end of a line in ${ }"));
                    }
                    Some(_) => {
                        self.copy(1);
                        self.copy_char();
                    }
                },
                Some(b'\'') if quoting == Quoting::Unquoted => {
                    self.single_quoted(&mut String::new())?
                }
                Some(b'\'') => {
                    return Err(self.unparsable(
                        "a ' inside ${ } within double quotes or a here-document, which the \
                         shells read as a quote or as a letter depending on the operator",
                    ));
                }
                Some(b'"') if quoting == Quoting::HereDocument => {
                    return Err(self.unparsable(
                        "a \" inside ${ } in a here-document, which the shells read differently",
                    ));
                }
                Some(b'"') => self.double_quoted(&mut String::new())?,
                Some(b'$') => match token_at(self.rest()) {
                    Some((name, len)) => self.placeholder(name, len, form)?,
                    None => {
                        self.dollar(quoting)?;
                    }
                },
                Some(b'`') => self.backquotes(quoting)?,
                Some(b'\n') => self.raw_newline()?,
                Some(_) => {
                    self.copy_char();
                }
            }
        }
    }

    // ---- Arithmetic and [[ ]] ----------------------------------------------------------------

    /// Lexes arithmetic text up to its end (`))` or `]`), with placeholders already refused by
    /// the caller. Only what arithmetic needs is accepted, so that its end is certain; `(( ))` is
    /// stricter still, as dash reads it as two subshells.
    fn arithmetic(&mut self, kind: Arithmetic) -> Result<(), Error> {
        let mut parens = 0usize;
        let mut brackets = 0usize;
        loop {
            let Some(c) = self.byte(0) else {
                return Err(self.unparsable("an unterminated arithmetic expression or subscript"));
            };
            match c {
                b'(' => {
                    parens += 1;
                    self.copy(1);
                }
                b')' if parens > 0 => {
                    parens -= 1;
                    self.copy(1);
                }
                b')' if kind != Arithmetic::Subscript && self.byte(1) == Some(b')') => {
                    self.copy(2);
                    return Ok(());
                }
                b'[' => {
                    brackets += 1;
                    self.copy(1);
                }
                b']' if brackets > 0 => {
                    brackets -= 1;
                    self.copy(1);
                }
                b']' if kind == Arithmetic::Subscript => {
                    self.copy(1);
                    return Ok(());
                }
                b'$' => {
                    self.dollar(Quoting::Double)?;
                }
                b'\n' => self.raw_newline()?,
                b';' if kind == Arithmetic::ForLoop => self.copy(1),
                b'#' | b'<'
                    if kind == Arithmetic::Command && (c == b'#' || self.byte(1) == Some(b'<')) =>
                {
                    return Err(self.unparsable(
                        "# or << inside (( )), which dash reads as a comment or a here-document",
                    ));
                }
                c if c.is_ascii_alphanumeric() || b" \t_+-*/%<>=!&|^~?:,.#@".contains(&c) => {
                    self.copy(1)
                }
                other => {
                    let what = if kind == Arithmetic::Command {
                        "(( holding what is not arithmetic (bash reads (( as arithmetic and dash as \
                         two subshells; write ( ( ... ) ) for subshells)"
                            .to_string()
                    } else {
                        format!(
                            "{:?} inside arithmetic or an array subscript",
                            other as char
                        )
                    };
                    return Err(self.unparsable(what));
                }
            }
        }
    }

    /// Lexes a `[[ ]]` body (after `[[`) up to its `]]`, with placeholders refused.
    fn double_brackets(&mut self) -> Result<(), Error> {
        let mut parens = 0usize;
        loop {
            match self.byte(0) {
                None => return Err(self.unparsable("an unterminated [[")),
                Some(b' ' | b'\t') => self.copy(1),
                Some(b'\\') if self.byte(1) == Some(b'\n') => self.line_continuation()?,
                Some(b'\n') => self.raw_newline()?,
                Some(b']')
                    if self.rest().starts_with("]]")
                        && matches!(
                            self.byte(2),
                            None | Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b')')
                        ) =>
                {
                    self.copy(2);
                    return Ok(());
                }
                Some(b'(') => {
                    parens += 1;
                    self.copy(1);
                }
                Some(b')') if parens > 0 => {
                    parens -= 1;
                    self.copy(1);
                }
                Some(b'&') if self.byte(1) == Some(b'&') => self.copy(2),
                Some(b'|') => self.copy(if self.byte(1) == Some(b'|') { 2 } else { 1 }),
                Some(b'<' | b'>')
                    if !matches!(self.byte(1), Some(b'<' | b'>' | b'(' | b'&' | b'|')) =>
                {
                    self.copy(1)
                }
                Some(b')' | b'&' | b';' | b'<' | b'>' | b'#') => {
                    return Err(self.unparsable(
                        "an unmatched ), &, ;, a redirection or a comment inside [[ ]]",
                    ));
                }
                Some(_) => {
                    self.word()?;
                }
            }
        }
    }
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

    fn refusal_of(template: &str) -> String {
        match translate(template, &lookup) {
            Err(Error::InvalidConfig(message)) => message,
            Err(other) => panic!("{template:?} failed with {other:?}"),
            Ok(translated) => panic!("{template:?} was accepted as {:?}", translated.script),
        }
    }

    /// Asserts that each template is refused with a message that names `${payload}` and
    /// contains the fragment.
    fn assert_refused(cases: &[(&str, &str)]) {
        for (template, fragment) in cases {
            let message = refusal_of(template);
            assert!(
                message.starts_with("${payload} cannot") && message.contains(fragment),
                "{template:?}: {message}"
            );
        }
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

    #[test]
    fn each_context_gets_the_reference_that_is_safe_there() {
        for (template, expected) in [
            // A command substitution starts an unquoted context, even inside double quotes.
            (
                r#"echo "$(printf '[%s]' ${payload})""#,
                r#"echo "$(printf '[%s]' "${AVISO_VALUE_1}")""#,
            ),
            // So does a backquoted one, whose `$` is escaped once more.
            (
                r#"echo "`printf %s ${payload}`""#,
                r#"echo "`printf %s "\${AVISO_VALUE_1}"`""#,
            ),
            (
                "cat <<EOF\n<${payload}>\nEOF\necho ${payload}",
                "cat <<EOF\n<${AVISO_VALUE_1}>\nEOF\necho \"${AVISO_VALUE_2}\"",
            ),
            (
                "cat <<'EOF'\n$x `y` \\\nEOF\necho ${payload}",
                "cat <<'EOF'\n$x `y` \\\nEOF\necho \"${AVISO_VALUE_1}\"",
            ),
            (
                r#"echo ${HOME:-${payload}} "${HOME:-${payload}}""#,
                r#"echo ${HOME:-"${AVISO_VALUE_1}"} "${HOME:-${AVISO_VALUE_2}}""#,
            ),
            // A pattern's value is quoted even inside double quotes, to be matched literally.
            (
                r#"echo "${x#${payload}}" ${x%%${payload}}"#,
                r#"echo "${x#"${AVISO_VALUE_1}"}" ${x%%"${AVISO_VALUE_2}"}"#,
            ),
            (
                "case ${payload} in ${event}) :;; esac",
                "case \"${AVISO_VALUE_1}\" in \"${AVISO_VALUE_2}\") :;; esac",
            ),
            // Nothing in a comment is substituted.
            (
                "echo ${payload} # not ${event}",
                "echo \"${AVISO_VALUE_1}\" # not ${event}",
            ),
            (
                r#"echo \${payload} "\${payload}""#,
                r#"echo \${payload} "\${payload}""#,
            ),
            ("X=${payload} ./run.sh", "X=\"${AVISO_VALUE_1}\" ./run.sh"),
            (
                "[ ${payload} = x ] && printf '%s' ${payload} 2>/dev/null",
                "[ \"${AVISO_VALUE_1}\" = x ] && printf '%s' \"${AVISO_VALUE_2}\" 2>/dev/null",
            ),
        ] {
            assert_eq!(script(template).0, expected, "{template:?}");
        }
    }

    #[test]
    fn deeply_nested_substitutions_are_refused_rather_than_exhausting_the_stack() {
        let depth = 10_000;
        let template = format!(
            "{}printf %s ${{payload}}{}",
            "\"$(".repeat(depth),
            ")\"".repeat(depth)
        );
        assert_refused(&[(template.as_str(), "nested more than 64 deep")]);
        let template = format!("{}${{payload}}{}", "${x:-".repeat(depth), "}".repeat(depth));
        assert_refused(&[(template.as_str(), "nested more than 64 deep")]);
    }

    #[test]
    fn templates_without_placeholders_are_left_as_written() {
        let template = "echo $((1+1)); [[ -n x ]] && eval \"$X\" <<< 'unparsed ${x'";
        let translated = translate(template, &lookup).unwrap();
        assert_eq!(translated.script, template);
        assert!(translated.variables.is_empty());
    }

    #[test]
    fn commands_the_examples_and_host_tests_use_are_accepted() {
        for template in [
            "./my_script.sh --date ${request.date} --number ${request.number}",
            "./my_script.sh --json ${json}",
            "./mars_script.sh --stream ${request.stream} --date ${request.date} --step ${request.step}",
            "sleep 0.2; echo ${request.number} >> /tmp/out",
            // host/tests/triggers.rs, as YAML's `>-` folds it.
            "printf '%s\\n' ${request.date} ${request.number} ${event} ${payload} > subs.txt; \
             printf '%s' ${json} > json.txt; cat ${jsonpath} > jsonpath.txt; \
             echo ${jsonpath} > jsonpath-name.txt; \
             stat -c %a \"$(dirname ${jsonpath})\" > jsonpath-mode.txt; printf '%s' \"$AIRPORT\" > env.txt",
            "printf '%s|' ${payload} \"${payload}\" 'x${payload}' > /tmp/out",
            "stat -c %a \"$(dirname ${jsonpath})\" > jsonpath-mode.txt; cat ${jsonpath}",
            "f() { printf '%s' \"$1\"; }; f ${payload}",
            "test -n ${payload} && cd ${payload} && printf -- '%s\\n' ${payload} | sort",
            "case ${payload} in (a|b) echo ab;; *) echo other;; esac",
            "for f in *.grib; do ./process \"$f\" ${request.date}; done",
            "sh -c 'printf \"%s\" \"$1\"' sh ${payload}",
            "bash -e ./run.sh ${payload}",
            "sh -s -- ${payload} <<'EOF'\nprintf '%s' \"$1\"\nEOF",
            "sh ./run.sh <<EOF\n${payload}\nEOF",
            "if [ \"$(cat state)\" = ${payload} ]; then exit 0; fi",
        ] {
            assert!(
                translate(template, &lookup).is_ok(),
                "{template:?}: {:?}",
                translate(template, &lookup).err()
            );
        }
    }

    #[test]
    fn placeholders_that_bash_would_evaluate_as_arithmetic_are_refused() {
        assert_refused(&[
            (
                "echo $(( ${payload} + 1 ))",
                "cannot be used inside $(( )): bash would evaluate",
            ),
            ("echo \"$(( ${payload} + 1 ))\"", "inside $(( ))"),
            ("echo $(( $(printf %s ${payload}) + 1 ))", "inside $(( ))"),
            ("(( ${payload} > 1 )) && echo big", "inside (( ))"),
            (
                "for (( i = 0; i < ${payload}; i++ )); do :; done",
                "inside for (( ))",
            ),
            ("let x=${payload}+1", "inside let"),
            ("a[${payload}]=1 ./run.sh", "inside an array subscript"),
            ("echo ${a[${payload}]}", "inside an array subscript"),
            ("echo \"${x:${payload}:2}\"", "inside ${name:offset:length}"),
        ]);
    }

    #[test]
    fn placeholders_inside_double_brackets_are_refused() {
        assert_refused(&[
            ("[[ ${payload} -eq 1 ]] && echo one", "inside [[ ]]"),
            ("[[ \"${payload}\" == x ]]", "inside [[ ]]"),
            ("[[ -v x && $(echo ${payload}) ]]", "inside [[ ]]"),
        ]);
    }

    #[test]
    fn placeholders_in_quoted_here_documents_are_refused() {
        for delimiter in ["'EOF'", "\"EOF\"", "\\EOF", "E'O'F"] {
            let template = format!("cat <<{delimiter}\n${{payload}}\nEOF\n");
            assert_refused(&[(template.as_str(), "inside a quoted here-document")]);
        }
        assert_refused(&[(
            "cat <<EOF\n${x#${payload}}\nEOF",
            "in a pattern (${x#...}, ${x%...}) inside a here-document",
        )]);
    }

    #[test]
    fn values_cannot_choose_the_command_that_runs() {
        assert_refused(&[
            ("${payload}", "as a command name"),
            ("\"${payload}\" --help", "as a command name"),
            ("X=1 ${payload}", "as a command name"),
            ("command -p ${payload}", "as a command name"),
            ("exec ${payload} x", "as a command name"),
            ("time -p ${payload}", "as a command name"),
            ("! ${payload}", "as a command name"),
            ("\"$(printf %s ${payload})\" x", "as a command name"),
            // A computed or globbed name could turn out to be eval.
            ("e\\val$1 x ${payload}", "whose name the shell computes"),
            ("$CMD ${payload}", "whose name the shell computes"),
            ("ev?l ${payload}", "whose name the shell computes"),
            (
                "X=${payload} $CMD",
                "before a command whose name is computed",
            ),
            ("echo {a,${payload}}", "unquoted {"),
        ]);
        for accepted in ["\"$HOME\"/bin/run.sh ${payload}", "./run.sh ${payload}"] {
            assert!(translate(accepted, &lookup).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn builtins_that_interpret_their_arguments_take_no_values() {
        assert_refused(&[
            ("eval ${payload}", "argument of eval: the shell would run"),
            ("eval \"echo ${payload}\"", "argument of eval"),
            ("e\\val ${payload}", "argument of eval"),
            ("'eval' ${payload}", "argument of eval"),
            ("2>/dev/null eval ${payload}", "argument of eval"),
            ("builtin eval ${payload}", "argument of eval"),
            (
                "if true; then eval \"$(printf %s ${payload})\"; fi",
                "argument of eval",
            ),
            ("trap ${payload} EXIT", "argument of trap"),
            (". ./${payload}", "argument of ."),
            ("read ${payload}", "argument of read: bash reads"),
            ("declare x=${payload}", "argument of declare"),
            ("export X=${payload}", "argument of export"),
            ("unset ${payload}", "argument of unset"),
            ("kill ${payload}", "argument of the shell builtin kill"),
            ("echo x >&${payload}", "after >& or <&: bash evaluates"),
            ("cat 0<&${payload}", "after >& or <&"),
        ]);
    }

    #[test]
    fn printf_and_test_take_values_only_where_they_stay_operands() {
        assert_refused(&[
            ("printf ${payload}", "printf's format"),
            ("printf -- ${payload}", "printf's format"),
            ("printf -v x %s ${payload}", "printf with options"),
            ("printf \"$FORMAT\" ${payload}", "printf with options"),
            ("[ -v ${payload} ]", "cannot follow -v"),
            ("test -R ${payload}", "cannot follow -v"),
            (
                "[ \"$X\" ${payload} ]",
                "cannot follow -v, -R or a word the shell computes",
            ),
            (
                "[ -? ${payload} ]",
                "cannot follow -v, -R or a word the shell computes",
            ),
            (
                "[ ${payload} ${payload} ]",
                "directly follow another notification value",
            ),
            ("[ {-v,${payload}} ]", "unquoted {"),
        ]);
        for accepted in [
            "printf '%s\\n' ${payload} ${payload}",
            "printf -- '%s' ${payload}",
            "[ ${payload} = x ] && test -n ${payload} -a ${payload} != \"$X\"",
        ] {
            assert!(translate(accepted, &lookup).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn nested_shells_take_values_only_as_parameters() {
        assert_refused(&[
            (
                "bash -c \"cd /data && ./run ${payload}\"",
                "cannot be the script",
            ),
            ("sh -ec './run ${payload}'", "cannot be the script"),
            (
                "sudo -u op /bin/bash -o pipefail -c ./run\\ ${payload}",
                "cannot be the script",
            ),
            ("timeout 10 sh ${payload}", "cannot be the script"),
            ("busybox sh ${payload} x", "cannot be the script"),
            (
                "sh <<EOF\n./run ${payload}\nEOF",
                "a here-document that a shell reads",
            ),
            (
                "bash -s <<EOF x\n./run ${payload}\nEOF",
                "a here-document that a shell reads",
            ),
        ]);
    }

    #[test]
    fn values_cannot_be_stored_in_shell_variables() {
        assert_refused(&[
            (
                "X=${payload}",
                "stored in a shell variable (NAME=... with no command after it)",
            ),
            (
                "X=${payload}; echo $((X))",
                "NAME=... with no command after it",
            ),
            ("for x in ${payload}; do :; done", "(a for loop)"),
            ("for ${payload} in a; do :; done", "(a for loop)"),
            (": ${X:=${payload}}", "(${NAME:=...})"),
            ("X=${payload} export Y", "before the shell builtin export"),
            (
                "f() { echo \"$X\"; }; X=${payload} f",
                "before the function f",
            ),
            ("a=(${payload})", "an array assignment NAME=( )"),
            ("PATH=${payload} ls", "cannot be assigned to PATH"),
            ("SECONDS=${payload} :", "a variable bash keeps as a number"),
            (
                "declare -i n; n=${payload} ./run",
                "also uses declare, typeset or local",
            ),
            (
                "LD_PRELOAD=${payload} ./run.sh",
                "cannot be assigned to LD_PRELOAD",
            ),
        ]);
        assert!(check_environment_variable("PATH", "/opt/${payload}/bin").is_err());
        assert!(check_environment_variable("BASH_FUNC_f%%", "() { ${payload}; }").is_err());
        assert!(check_environment_variable("PATH", "/opt/bin").is_ok());
        assert!(check_environment_variable("DATE", "${request.date}").is_ok());
    }

    #[test]
    fn substitutions_whose_output_would_be_split_or_matched_are_refused() {
        assert_refused(&[
            (
                "echo $(printf %s ${payload})",
                "inside an unquoted $( ) or backquotes",
            ),
            (
                "echo `printf %s ${payload}`",
                "inside an unquoted $( ) or backquotes",
            ),
            (
                "echo ${u:-$(printf %s ${payload})}",
                "inside an unquoted $( )",
            ),
            (
                "echo \"${x#$(printf %s ${payload})}\"",
                "nested in a pattern",
            ),
            ("echo ${x#${y:-${payload}}}", "nested in a pattern"),
        ]);
    }

    #[test]
    fn constructs_the_shells_read_differently_are_refused() {
        assert_refused(&[
            (
                "echo ${x/${payload}/y}",
                "in ${name/pattern/string}, which only bash",
            ),
            ("echo \"${x^^${payload}}\"", "only bash"),
            ("echo $'a ${payload}'", "in $'...' quoting"),
            (
                "echo \"${payload}",
                "substituted safely: the command has an unterminated double quote",
            ),
            ("echo '${payload}", "an unterminated single quote"),
            ("echo \"$(echo ${payload})", "an unterminated"),
            (
                "echo ${payload} &> f",
                "&>, which bash reads as a redirection",
            ),
            ("echo ${payload} |& cat", "|&"),
            ("cat <(echo ${payload})", "process substitution"),
            ("echo $[1] ${payload}", "$[ ]"),
            (
                "function f { :; }; echo ${payload}",
                "bash's function keyword",
            ),
            ("echo a\\\nb ${payload}", "line continuation"),
            ("echo $\\\n(( ${payload} ))", "line continuation"),
            (
                "x=\"$(cat <<EOF\n${payload}\nEOF\n)\" ./run",
                "a here-document inside $( )",
            ),
            (
                "((echo a) ); echo ${payload}",
                "(( holding what is not arithmetic",
            ),
            ("echo ${payload} )", "an unmatched )"),
            (
                "cat <<EOF\n${payload}\n",
                "a here-document without its end line EOF",
            ),
            (
                "cat <<EOF; echo \"a\nb\"\n${payload}\nEOF",
                "on the line of a here-document",
            ),
            ("echo $'\\'' ${payload}", "\\' inside $'...'"),
            ("{fd}>/dev/null eval ${payload}", "{name}> redirection"),
            ("echo \"$(echo a # )\n)\" ${payload}", "a comment holding )"),
        ]);
        // A quote inside ${ } in double quotes is a quote or a letter depending on the operator.
        assert_refused(&[("echo \"${x:-'}'}\" ${payload}", "a ' inside ${ }")]);
    }
}

/// Runs translated templates under every shell `/bin/sh` may be, with hostile values passed the
/// way the host passes them: `sh -c SCRIPT` with `AVISO_VALUE_n` in the environment.
#[cfg(test)]
mod in_real_shells {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SHELLS: [&[&str]; 4] = [
        &["dash"],
        &["bash"],
        &["bash", "--posix"],
        &["busybox", "sh"],
    ];

    /// Values a notifier might send to break out of quoting, run code, or be split and globbed.
    const HOSTILE: &[&str] = &[
        "a[$(touch MARKER)]",
        "$(touch MARKER)",
        "`touch MARKER`",
        "'; touch MARKER; '",
        "\"; touch MARKER; \"",
        "/* x",
        "-n",
        "-v",
        "*",
        "\n",
        "$((1+1))",
        "${IFS}",
        "",
        "\\",
        "%s\\n",
        "caf\u{e9}",
    ];

    /// What a template prints for a value.
    type Prints = fn(&str) -> String;

    fn translated(template: &str, value: &str) -> Translated {
        let lookup = |name: &str| match name {
            "payload" => Ok(Value::Text(value.to_string())),
            other => Err(Error::Failed(format!("unexpected ${{{other}}}"))),
        };
        translate(template, &lookup).unwrap_or_else(|e| panic!("{template:?} was refused: {e:?}"))
    }

    /// A fresh working directory holding two files, so that a glob would show in the output;
    /// removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "aviso-command-bridge-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for name in ["file-a", "file-b"] {
                std::fs::write(dir.join(name), "").unwrap();
            }
            Scratch(dir)
        }

        fn marker_exists(&self) -> bool {
            self.0.join("MARKER").exists()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn run(shell: &[&str], script: &str, variables: &[(String, String)], dir: &Path) -> Output {
        let mut command = Command::new(shell[0]);
        command
            .args(&shell[1..])
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(variables.iter().map(|(name, value)| (name, value)));
        match command.output() {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("{} is not installed: run `bash scripts/setup.sh`", shell[0])
            }
            Err(e) => panic!("cannot run {}: {e}", shell.join(" ")),
        }
    }

    /// Runs every template with every hostile value under every shell: the value never runs as
    /// code, and the template prints exactly what it should, byte for byte, and nothing on stderr.
    fn check(cases: &[(&str, Prints)]) {
        let scratch = Scratch::new();
        for shell in SHELLS {
            for (template, prints) in cases {
                for value in HOSTILE {
                    let script = translated(template, value);
                    let output = run(shell, &script.script, &script.variables, &scratch.0);
                    let who = format!("{} -c {:?} with {value:?}", shell.join(" "), script.script);
                    assert!(!scratch.marker_exists(), "{who} ran the value as code");
                    assert!(
                        output.status.success() && output.stderr.is_empty(),
                        "{who}: {}, stderr {:?}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                    );
                    // Readable first, then byte for byte.
                    assert_eq!(
                        String::from_utf8_lossy(&output.stdout),
                        prints(value),
                        "{who}"
                    );
                    assert_eq!(output.stdout, prints(value).into_bytes(), "{who}");
                }
            }
        }
    }

    fn bracketed(value: &str) -> String {
        format!("<{value}>")
    }

    /// A command substitution drops the trailing line breaks of what it captures.
    fn captured(value: &str) -> String {
        value.trim_end_matches('\n').to_string()
    }

    #[test]
    fn unquoted_placeholders_reach_the_command_as_one_exact_argument() {
        check(&[
            ("printf '<%s>' ${payload}", bracketed),
            ("printf '<%s>' x${payload}y", |v| format!("<x{v}y>")),
            ("printf '<%s>' ${payload} ${payload}", |v| {
                format!("<{v}><{v}>")
            }),
            ("printf -- '<%s>' ${payload}", bracketed),
            ("( printf '<%s>' ${payload} ) | cat", bracketed),
            ("{ printf '<%s>' ${payload}; }", bracketed),
            ("if true; then printf '<%s>' ${payload}; fi", bracketed),
            ("for i in 1 2; do printf '<%s>' ${payload}; done", |v| {
                format!("<{v}><{v}>")
            }),
            ("true && printf '<%s>' ${payload} || exit 1", bracketed),
            ("command printf '<%s>' ${payload}", bracketed),
            ("f() { printf '<%s>' \"$1\"; }; f ${payload}", bracketed),
            ("sh -c 'printf \"<%s>\" \"$1\"' sh ${payload}", bracketed),
            (
                "sh -s -- ${payload} <<'EOF'\nprintf '<%s>' \"$1\"\nEOF",
                bracketed,
            ),
            ("printf '<%s>' \\\n  ${payload}", bracketed),
            ("AVISO_TEST=${payload} printenv AVISO_TEST", |v| {
                format!("{v}\n")
            }),
            (
                "AVISO_TEST=\"$(printf '[%s]' ${payload})\" printenv AVISO_TEST",
                |v| format!("[{v}]\n"),
            ),
            ("cd ${payload} 2>/dev/null; printf ok", |_| "ok".into()),
            (
                "[ ${payload} = zzz ] || printf '<%s>' ${payload}",
                bracketed,
            ),
            ("test -n ${payload} && printf full || printf empty", |v| {
                if v.is_empty() { "empty" } else { "full" }.into()
            }),
        ]);
    }

    #[test]
    fn quotes_and_escapes_keep_their_meaning_around_a_placeholder() {
        check(&[
            ("printf '<%s>' 'a ${payload} b'", |v| format!("<a {v} b>")),
            ("printf '<%s>' \"a ${payload} b\"", |v| format!("<a {v} b>")),
            ("printf '<%s>' '${payload}'\"${payload}\"${payload}", |v| {
                format!("<{v}{v}{v}>")
            }),
            ("printf '<%s>' \"a \\\n${payload}\"", |v| format!("<a {v}>")),
            ("printf '<%s>' \\${payload} \"\\${payload}\"", |_| {
                "<${payload}><${payload}>".into()
            }),
            ("printf '<%s>' ok # ${payload}", |_| "<ok>".into()),
        ]);
    }

    #[test]
    fn command_substitutions_at_any_depth_start_an_unquoted_context() {
        check(&[
            ("printf '<%s>' \"$(printf '[%s]' ${payload})\"", |v| {
                format!("<[{v}]>")
            }),
            ("printf '<%s>' \"$(printf '[%s]' '${payload}')\"", |v| {
                format!("<[{v}]>")
            }),
            ("printf '<%s>' \"$(printf '[%s]' \"${payload}\")\"", |v| {
                format!("<[{v}]>")
            }),
            (
                "printf '<%s>' \"$(printf '(%s)' \"$(printf '[%s]' \"$(printf '{%s}' ${payload})\")\")\"",
                |v| format!("<([{{{v}}}])>"),
            ),
            (
                "printf '<%s>' \"$(case a in a) printf '[%s]' ${payload};; esac)\"",
                |v| format!("<[{v}]>"),
            ),
            ("printf '<%s>' \"$( (printf '[%s]' ${payload}) )\"", |v| {
                format!("<[{v}]>")
            }),
            ("printf '<%s>' \"$(printf %s ${payload})\"", |v| {
                bracketed(&captured(v))
            }),
        ]);
    }

    #[test]
    fn backquotes_at_any_depth_start_an_unquoted_context() {
        check(&[
            ("printf '<%s>' \"`printf '[%s]' ${payload}`\"", |v| {
                format!("<[{v}]>")
            }),
            (
                "printf '<%s>' \"`printf '(%s)' \\\"\\`printf '[%s]' ${payload}\\`\\\"`\"",
                |v| format!("<([{v}])>"),
            ),
            (
                "printf '<%s>' \"$(printf '(%s)' \"`printf '[%s]' ${payload}`\")\"",
                |v| format!("<([{v}])>"),
            ),
            (
                "printf '<%s>' \"`printf '(%s)' \\\"$(printf '[%s]' ${payload})\\\"`\"",
                |v| format!("<([{v}])>"),
            ),
        ]);
    }

    #[test]
    fn here_documents_expand_placeholders_as_data() {
        check(&[
            ("cat <<EOF\n<${payload}>\nEOF", |v| format!("<{v}>\n")),
            ("cat <<-EOF\n\t<${payload}>\n\tEOF", |v| format!("<{v}>\n")),
            ("cat <<EOF\n$(printf '[%s]' ${payload})\nEOF", |v| {
                format!("[{v}]\n")
            }),
            ("cat <<EOF\n`printf '[%s]' ${payload}`\nEOF", |v| {
                format!("[{v}]\n")
            }),
            ("cat <<EOF\n${AVISO_TEST_UNSET:-${payload}}\nEOF", |v| {
                format!("{v}\n")
            }),
            ("cat <<A; cat <<B\n1${payload}\nA\n2${payload}\nB", |v| {
                format!("1{v}\n2{v}\n")
            }),
            (
                "cat <<'EOF'\n$HOME `x` \\\nEOF\nprintf '<%s>' ${payload}",
                |v| format!("$HOME `x` \\\n<{v}>"),
            ),
        ]);
    }

    #[test]
    fn case_words_and_patterns_match_placeholders_literally() {
        check(&[
            (
                "case ${payload} in zzz) printf no;; *) printf '<%s>' \"${payload}\";; esac",
                bracketed,
            ),
            (
                "case zzz in ${payload}) printf match;; *) printf nomatch;; esac",
                |_| "nomatch".into(),
            ),
            (
                "case zzz in (x|${payload}) printf match;; (*) printf nomatch;; esac",
                |_| "nomatch".into(),
            ),
            (
                "case zzz in z*${payload}) printf match;; *) printf nomatch;; esac",
                |v| if v.is_empty() { "match" } else { "nomatch" }.into(),
            ),
        ]);
    }

    #[test]
    fn parameter_expansions_around_a_placeholder_keep_the_value_whole() {
        check(&[
            ("printf '<%s>' ${AVISO_TEST_UNSET:-${payload}}", bracketed),
            (
                "printf '<%s>' \"${AVISO_TEST_UNSET:-${payload}}\"",
                bracketed,
            ),
            (
                "printf '<%s>' \"${AVISO_TEST_UNSET:-\"${payload}\"}\"",
                bracketed,
            ),
            (
                "printf '<%s>' \"${AVISO_TEST_UNSET-${payload}}\"",
                bracketed,
            ),
            ("printf '<%s>' ${PATH:+${payload}}", bracketed),
            ("printf '<%s>' ${AVISO_TEST_UNSET:-x${payload}'y'}", |v| {
                format!("<x{v}y>")
            }),
            (
                "printf '<%s>' ${AVISO_TEST_UNSET:-${AVISO_TEST_UNSET2:-${payload}}}",
                bracketed,
            ),
            (
                "x=abc; printf '<%s>' ${x##${payload}} \"${x%%${payload}}\"",
                |_| "<abc><abc>".into(),
            ),
            (
                "x=abc; printf '<%s>' \"${u:-${x#${payload}}}\" ${u:-${x#${payload}}}",
                |_| "<abc><abc>".into(),
            ),
        ]);
    }

    /// Why the refused contexts are refused: with the value quoted as everywhere else, bash
    /// still runs the code hidden in it.
    #[test]
    fn bash_runs_code_from_values_in_the_contexts_that_are_refused() {
        let value = "a[$(touch MARKER)]";
        for (template, naive_script) in [
            (
                "echo $(( ${payload} + 1 ))",
                "echo $(( \"${AVISO_VALUE_1}\" + 1 ))",
            ),
            ("[[ ${payload} -eq 1 ]]", "[[ \"${AVISO_VALUE_1}\" -eq 1 ]]"),
            ("let x=${payload}", "let x=\"${AVISO_VALUE_1}\""),
            ("echo x >&${payload}", "echo x >&\"${AVISO_VALUE_1}\""),
            ("[ -v ${payload} ]", "[ -v \"${AVISO_VALUE_1}\" ]"),
            (
                "read ${payload} < /dev/null",
                "read \"${AVISO_VALUE_1}\" < /dev/null",
            ),
            ("printf -v ${payload} x", "printf -v \"${AVISO_VALUE_1}\" x"),
            (
                "X=${payload}; echo $((X))",
                "X=\"${AVISO_VALUE_1}\"; echo $((X))",
            ),
            (
                "bash -c \"echo ${payload}\"",
                "bash -c \"echo ${AVISO_VALUE_1}\"",
            ),
            (
                "sh <<EOF\necho ${payload}\nEOF",
                "sh <<EOF\necho ${AVISO_VALUE_1}\nEOF",
            ),
        ] {
            assert!(
                matches!(
                    translate(template, &|_| Ok(Value::Text(value.into()))),
                    Err(Error::InvalidConfig(_))
                ),
                "{template:?} was accepted"
            );
            for shell in [&["bash"][..], &["bash", "--posix"]] {
                let scratch = Scratch::new();
                let variables = [("AVISO_VALUE_1".to_string(), value.to_string())];
                run(shell, naive_script, &variables, &scratch.0);
                assert!(
                    scratch.marker_exists(),
                    "{} -c {naive_script:?} did not run the value's code: is the refusal still needed?",
                    shell.join(" ")
                );
            }
        }
    }
}
