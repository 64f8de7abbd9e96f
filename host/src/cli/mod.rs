//! The `aviso` command line (clap): pyaviso's options, messages and exit codes
//! (0 success, 2 usage error, 255 error).

mod aviso_config;
mod click_words;
pub mod logging;
mod plugin;

pub use aviso_config::run_aviso_config;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::client::Aviso;
use crate::config::{CliOverrides, ConfigSources, Program, Settings};
use crate::notification::parse_parameters;

/// Exit status of a failed command, as pyaviso's `sys.exit(-1)`.
pub const EXIT_ERROR: i32 = 255;
/// Exit status of a usage error.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "aviso",
    override_usage = "aviso [OPTIONS] COMMAND [ARGS]...",
    about = "Aviso: notify time-critical events and run triggers when they happen.",
    disable_version_flag = true,
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
struct AvisoCli {
    /// Show the version and exit.
    #[arg(long, action = clap::ArgAction::SetTrue)]
    version: bool,
    #[command(subcommand)]
    command: Option<AvisoCommand>,
}

#[derive(Debug, Subcommand)]
enum AvisoCommand {
    /// Generate the key to send to the notification server according to the current schema
    /// using the parameters defined.
    #[command(override_usage = "aviso key [OPTIONS] PARAMETERS")]
    Key {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Print one JSON object instead of text, for scripts.
        #[arg(long)]
        json: bool,
        /// key1=value1,key2=value2,...
        #[arg(value_name = "PARAMETERS")]
        parameters: String,
    },
    /// Return the value on the server corresponding to the key which is generated according to
    /// the current schema and the parameters defined.
    #[command(override_usage = "aviso value [OPTIONS] PARAMETERS")]
    Value {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Print one JSON object instead of text, for scripts.
        #[arg(long)]
        json: bool,
        /// key1=value1,key2=value2,...
        #[arg(value_name = "PARAMETERS")]
        parameters: String,
    },
    /// Create a notification with the parameters passed and submit it to the notification server.
    #[command(override_usage = "aviso notify [OPTIONS] PARAMETERS")]
    Notify {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Print one JSON object (the key written) instead of `Done`, for scripts.
        #[arg(long)]
        json: bool,
        /// The payload from this file (`-`: standard input): any text, of any size, with commas
        /// and `=` if need be.
        #[arg(long = "payload-file", value_name = "FILE")]
        payload_file: Option<PathBuf>,
        /// The whole notification from this JSON file (`-`: standard input):
        /// {"event": ..., "request": {...}, "payload": ..., "ttl": ...}, instead of PARAMETERS.
        #[arg(long = "from-json", value_name = "FILE", conflicts_with_all = ["parameters", "payload_file"])]
        from_json: Option<PathBuf>,
        /// key1=value1,key2=value2,...
        #[arg(value_name = "PARAMETERS", required_unless_present = "from_json")]
        parameters: Option<String>,
    },
    /// This method allows the user to execute the listeners defined in the YAML listener file.
    #[command(override_usage = "aviso listen [OPTIONS] [LISTENER_FILES]...")]
    Listen {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Replay notification from this date.
        #[arg(long = "from", value_name = "%Y-%m-%dT%H:%M:%S.%fZ", value_parser = parse_replay_date)]
        from: Option<chrono::NaiveDateTime>,
        /// Replay notification to this date.
        #[arg(long = "to", value_name = "%Y-%m-%dT%H:%M:%S.%fZ", value_parser = parse_replay_date)]
        to: Option<chrono::NaiveDateTime>,
        /// Ignore missed notifications, only listen to new ones.
        #[arg(long)]
        now: bool,
        /// Retrieve first the missed notifications.
        #[arg(long)]
        catchup: bool,
        /// Check the listeners completely (settings, triggers, plugins, grants) and report every
        /// problem, without listening.
        #[arg(long, conflicts_with_all = ["from", "to", "now", "catchup"])]
        check: bool,
        /// Also write each notification's outcome (and each dead letter) as one JSON object per
        /// line on stdout, for scripts and monitoring.
        #[arg(long)]
        json: bool,
        /// YAML files defining the listeners; without them, the configuration's `listeners`.
        #[arg(value_name = "LISTENER_FILES")]
        listener_files: Vec<PathBuf>,
    },
    /// Run the listeners of many tenants as one service (docs/serve.md); with --check, check
    /// the service file and every tenant folder without running them.
    #[command(override_usage = "aviso serve --config FILE [--check]")]
    Serve {
        /// The service file (serve.yaml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Check every tenant (files, policy, listeners, triggers, plugins) and exit.
        #[arg(long)]
        check: bool,
        /// Show debug messages.
        #[arg(short, long)]
        debug: bool,
        /// Show errors only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Where each listener is: the last notification it finished, per base key, and how many
    /// were written after it; with --set, move the positions first.
    #[command(override_usage = "aviso positions [OPTIONS] [LISTENER_FILES]...")]
    Positions {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Move the positions: `now` (only what comes next is delivered) or a UTC date
        /// (2026-11-30, 2026-11-30T06:00:00 or --from's format; what was written from then on is
        /// delivered at the next catch-up).
        #[arg(long, value_name = "now|DATE", value_parser = parse_position_target)]
        set: Option<crate::client::PositionTarget>,
        /// YAML files defining the listeners; without them, the configuration's `listeners`.
        #[arg(value_name = "LISTENER_FILES")]
        listener_files: Vec<PathBuf>,
    },
    /// Notifications listeners gave up on (a required trigger failed at every attempt): list
    /// them, run their failed triggers again, or drop them.
    #[command(name = "dead-letters", subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Plugins: see what a component is, call it once in the sandbox, or start a new one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Print a completion script for a shell, for example
    /// `aviso completions bash > ~/.local/share/bash-completion/completions/aviso`.
    #[command(override_usage = "aviso completions [OPTIONS] SHELL")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
        /// The program to complete.
        #[arg(long, value_enum, default_value_t = ProgramName::Aviso)]
        program: ProgramName,
    },
    /// Print the manual page (roff), for example `aviso man > ~/.local/share/man/man1/aviso.1`;
    /// with --dir, write the pages of the program and of each of its commands there.
    #[command(override_usage = "aviso man [OPTIONS]")]
    Man {
        /// The program whose page to print.
        #[arg(long, value_enum, default_value_t = ProgramName::Aviso)]
        program: ProgramName,
        /// Write aviso.1 and a page for every command (aviso-listen.1, ...) into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The two programs of this package, for completions and manual pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProgramName {
    Aviso,
    AvisoConfig,
}

impl ProgramName {
    fn command(self) -> (clap::Command, &'static str) {
        match self {
            ProgramName::Aviso => (AvisoCli::command(), "aviso"),
            ProgramName::AvisoConfig => (aviso_config::command(), "aviso-config"),
        }
    }
}

/// `aviso completions` and `aviso man`: generated from the same definitions as the parser, so
/// they never disagree with it.
fn print_generated(program: ProgramName, shell: Option<clap_complete::Shell>) -> i32 {
    let (mut command, name) = program.command();
    let mut out = std::io::stdout().lock();
    let written = match shell {
        Some(shell) => {
            clap_complete::generate(shell, &mut command, name, &mut out);
            Ok(())
        }
        None => clap_mangen::Man::new(command.name(name).version(env!("CARGO_PKG_VERSION")))
            .render(&mut out),
    };
    match written {
        // `aviso man | head`: the reader has seen enough.
        Ok(()) => 0,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(error) => {
            eprintln!("Error: cannot write to standard output: {error}");
            EXIT_ERROR
        }
    }
}

/// `aviso man --dir DIR`: the program's page and one per command (and per subcommand), named
/// as the main page refers to them (`aviso-listen.1`, `aviso-dead-letters-list.1`).
fn write_manual_pages(program: ProgramName, dir: &Path) -> i32 {
    let (command, name) = program.command();
    let command = command.name(name).version(env!("CARGO_PKG_VERSION"));
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut pages = Vec::new();
        write_pages(&command, name, dir, &mut pages)?;
        let mut out = std::io::stdout().lock();
        for page in pages {
            // `| head` may stop reading: the pages are written all the same.
            let _ = writeln!(out, "{}", page.display());
        }
        Ok(())
    });
    match written {
        Ok(()) => 0,
        Err(error) => {
            eprintln!(
                "Error: cannot write the manual pages into {}: {}",
                dir.display(),
                crate::cause::io_error(&error)
            );
            EXIT_ERROR
        }
    }
}

/// The page of `command`, called as `words` (`aviso listen`), and those of its subcommands.
fn write_pages(
    command: &clap::Command,
    words: &str,
    dir: &Path,
    pages: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let title = words.replace(' ', "-");
    let path = dir.join(format!("{title}.1"));
    let mut text = Vec::new();
    let named = command
        .clone()
        .display_name(title)
        .bin_name(words.to_string());
    clap_mangen::Man::new(named).render(&mut text)?;
    std::fs::write(&path, text)?;
    pages.push(path);
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        write_pages(sub, &format!("{words} {}", sub.get_name()), dir, pages)?;
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Show every dead letter: id, time, key, revision and what failed.
    #[command(override_usage = "aviso dead-letters list [OPTIONS]")]
    List {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
    },
    /// Run the failed triggers of dead letters again with the listeners that recorded them;
    /// those that succeed are removed.
    #[command(override_usage = "aviso dead-letters replay [OPTIONS] [LISTENER_FILES]...")]
    Replay {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Only this dead letter (may be given several times); all by default.
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// YAML files defining the listeners; without them, the configuration's `listeners`.
        #[arg(value_name = "LISTENER_FILES")]
        listener_files: Vec<PathBuf>,
    },
    /// Forget dead letters without running them.
    #[command(override_usage = "aviso dead-letters drop [OPTIONS] (ID... | --all)")]
    Drop {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ServerOptions,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// The dead letters to forget.
        #[arg(value_name = "ID", required_unless_present = "all")]
        ids: Vec<String>,
    },
}

/// Where `aviso positions --set` moves a listener: `now` or a date in the past.
fn parse_position_target(text: &str) -> Result<crate::client::PositionTarget, String> {
    if text.eq_ignore_ascii_case("now") {
        return Ok(crate::client::PositionTarget::Now);
    }
    let date = parse_user_date(text).map_err(|_| {
        format!("'{text}' is neither now nor a date such as 2026-11-30, 2026-11-30T06:00:00 or 2026-11-30T06:00:00.000Z")
    })?;
    if date > chrono::Utc::now().naive_utc() {
        return Err("the date must be in the past".into());
    }
    Ok(crate::client::PositionTarget::Date(date))
}

/// `--from`/`--to` dates: pyaviso's format (1 to 6 fractional digits), and, beyond it, the
/// same without fraction or a day alone; all UTC.
fn parse_replay_date(text: &str) -> Result<chrono::NaiveDateTime, String> {
    parse_user_date(text).map_err(|_| {
        format!("'{text}' does not match the format '%Y-%m-%dT%H:%M:%S.%fZ' (or 2026-11-30T06:00:00Z, 2026-11-30)")
    })
}

/// A UTC date as users write it: `2026-11-30T06:00:00.000Z`, `2026-11-30T06:00:00[Z]`,
/// `2026-11-30`.
fn parse_user_date(text: &str) -> Result<chrono::NaiveDateTime, ()> {
    if let Some(date) = crate::store::status::parse_date_time(text) {
        return Ok(date);
    }
    let plain = text.strip_suffix('Z').unwrap_or(text);
    chrono::NaiveDateTime::parse_from_str(plain, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(plain, "%Y-%m-%d")
                .map(|day| day.and_time(chrono::NaiveTime::MIN))
        })
        .map_err(|_| ())
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
struct CommonOptions {
    /// User configuration file path.
    #[arg(short = 'c', long = "config", value_name = "TEXT")]
    config: Option<PathBuf>,
    /// Logging configuration file path.
    #[arg(short = 'l', long = "log", value_name = "TEXT")]
    log: Option<PathBuf>,
    /// Enable the debug log.
    #[arg(short = 'd', long)]
    debug: bool,
    /// Suppress non-error messages from the console output.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Suppress any error exit code.
    #[arg(long = "no-fail")]
    no_fail: bool,
    /// Username required to authenticate to the server.
    #[arg(short = 'u', long, value_name = "TEXT")]
    username: Option<String>,
    /// File path to the key required to authenticate to the server.
    #[arg(short = 'k', long = "key", value_name = "TEXT")]
    key_file: Option<PathBuf>,
}

/// Options of the commands that talk to the notification server.
#[derive(Debug, Args)]
struct ServerOptions {
    /// Notification server host.
    #[arg(short = 'H', long, value_name = "TEXT")]
    host: Option<String>,
    /// Notification server port.
    #[arg(short = 'P', long, value_name = "INTEGER")]
    port: Option<u16>,
    /// Activate TestMode.
    #[arg(long)]
    test: bool,
}

impl CommonOptions {
    fn overrides(&self, server: &ServerOptions) -> CliOverrides {
        CliOverrides {
            host: server.host.clone(),
            port: server.port,
            test: server.test,
            username: self.username.clone(),
            key_file: self.key_file.clone(),
            debug: self.debug,
            quiet: self.quiet,
            no_fail: self.no_fail,
            log: self.log.clone(),
            catchup: false,
            now: false,
        }
    }
}

/// Runs `aviso` with these arguments and returns the process exit status.
pub fn run_aviso<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match AvisoCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(&error, &AvisoCli::command()),
    };
    if cli.version {
        println!("aviso, version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(command) = cli.command else {
        // Unreachable in practice: clap prints the help when no argument is given.
        let _ = AvisoCli::command().print_help();
        return 0;
    };
    match command {
        AvisoCommand::Key {
            common,
            server,
            json,
            parameters,
        } => with_client(&common, &server, false, |aviso| {
            let parameters = parse_parameters(&parameters)?;
            let keys = aviso.key(&parameters)?;
            if json {
                let keys =
                    serde_json::json!({"key": keys.key, "base": keys.base, "admin": keys.admin});
                writeln!(std::io::stdout(), "{keys}")?;
            } else {
                writeln!(std::io::stdout(), "{}", keys.key)?;
            }
            Ok(())
        }),
        AvisoCommand::Value {
            common,
            server,
            json,
            parameters,
        } => with_client(&common, &server, true, |aviso| {
            let parameters = parse_parameters(&parameters)?;
            let value = block_on(aviso.value(&parameters))?
                .map(|value| String::from_utf8_lossy(value.as_slice()).into_owned());
            if json {
                let key = aviso.key(&parameters)?.key;
                let answer = serde_json::json!({"key": key, "value": value});
                writeln!(std::io::stdout(), "{answer}")?;
            } else {
                writeln!(std::io::stdout(), "{}", value.as_deref().unwrap_or("None"))?;
            }
            Ok(())
        }),
        AvisoCommand::Notify {
            common,
            server,
            json,
            payload_file,
            from_json,
            parameters,
        } => with_client(&common, &server, true, |aviso| {
            let payload_field = &aviso.schema().payload_field;
            let parameters = match (&from_json, &parameters) {
                (Some(file), _) => notification_from_json(&read_input(file)?, payload_field)?,
                (None, Some(text)) => {
                    let mut parameters = parse_parameters(text)?;
                    if let Some(file) = &payload_file {
                        if parameters.iter().any(|(key, _)| key == payload_field) {
                            anyhow::bail!(
                                "the payload is given twice: as {payload_field}= and with --payload-file"
                            );
                        }
                        parameters.push((payload_field.clone(), read_input(file)?));
                    }
                    parameters
                }
                (None, None) => anyhow::bail!("Missing argument 'PARAMETERS'."),
            };
            let keys = block_on(aviso.notify(&parameters))?;
            if json {
                let written = serde_json::json!({"key": keys.key, "base": keys.base});
                writeln!(std::io::stdout(), "{written}")?;
            } else {
                writeln!(std::io::stdout(), "Done")?;
            }
            Ok(())
        }),
        AvisoCommand::Listen {
            common,
            server,
            check: true,
            listener_files,
            ..
        } => check_listeners(&common, &server, &listener_files),
        AvisoCommand::Listen {
            common,
            server,
            from,
            to,
            now,
            catchup,
            check: false,
            json,
            listener_files,
        } => {
            if json {
                crate::delivery::write_json_outcomes();
            }
            listen(&common, &server, from, to, now, catchup, &listener_files)
        }
        AvisoCommand::Serve {
            config,
            check,
            debug,
            quiet,
        } => serve(&config, check, debug, quiet),
        AvisoCommand::Positions {
            common,
            server,
            set,
            listener_files,
        } => with_client(&common, &server, true, |aviso| {
            let positions = block_on(aviso.positions(&listener_files, set))?;
            let mut out = std::io::stdout().lock();
            for position in positions {
                let revision = position.revision.map_or(
                    "none yet (starts at the newest notification)".to_string(),
                    |r| format!("revision {r}"),
                );
                let saved = position
                    .saved_at
                    .map(|at| format!(", saved {at}"))
                    .unwrap_or_default();
                let behind = position
                    .behind
                    .map(|n| format!(", {n} notification(s) after it"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{}  {}  {revision}{saved}{behind}",
                    position.listener, position.base
                )?;
            }
            Ok(())
        }),
        AvisoCommand::Completions { shell, program } => print_generated(program, Some(shell)),
        AvisoCommand::Man {
            program,
            dir: Some(dir),
        } => write_manual_pages(program, &dir),
        AvisoCommand::Man { program, dir: None } => print_generated(program, None),
        AvisoCommand::DeadLetters(command) => dead_letters(command),
        AvisoCommand::Plugin(command) => plugin::run(command),
    }
}

/// `aviso dead-letters ...`.
fn dead_letters(command: DeadLettersCommand) -> i32 {
    match command {
        DeadLettersCommand::List { common, server } => {
            with_client(&common, &server, false, |aviso| {
                let letters = aviso.dead_letters()?;
                let list = letters.list()?;
                let mut out = std::io::stdout().lock();
                if list.is_empty() {
                    writeln!(out, "No dead letters in {}", letters.path().display())?;
                }
                for letter in &list {
                    writeln!(
                        out,
                        "{}  {}  {} (revision {}), {} attempts",
                        letter.id, letter.time, letter.key, letter.revision, letter.attempts
                    )?;
                    for failed in &letter.failed {
                        writeln!(out, "    {}: {}", failed.trigger, failed.error)?;
                    }
                }
                Ok(())
            })
        }
        DeadLettersCommand::Replay {
            common,
            server,
            ids,
            listener_files,
        } => with_client(&common, &server, true, |aviso| {
            let results = block_on(aviso.replay_dead_letters(&listener_files, &ids))?;
            let mut out = std::io::stdout().lock();
            if results.is_empty() {
                writeln!(out, "No dead letters to replay")?;
            }
            let mut failed = 0;
            for (letter, result) in &results {
                match result {
                    Ok(()) => writeln!(out, "{}  {}: delivered, removed", letter.id, letter.key)?,
                    Err(reason) => {
                        failed += 1;
                        writeln!(out, "{}  {}: kept, {reason}", letter.id, letter.key)?;
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} dead letter(s) could not be delivered and were kept");
            }
            Ok(())
        }),
        DeadLettersCommand::Drop {
            common,
            server,
            all,
            ids,
        } => with_client(&common, &server, false, |aviso| {
            let letters = aviso.dead_letters()?;
            let ids = if all {
                letters.list()?.into_iter().map(|l| l.id).collect()
            } else {
                let known: Vec<String> = letters.list()?.into_iter().map(|l| l.id).collect();
                if let Some(missing) = ids.iter().find(|id| !known.contains(id)) {
                    anyhow::bail!(
                        "There is no dead letter {missing} in {}",
                        letters.path().display()
                    );
                }
                ids
            };
            let removed = letters.remove(&ids)?;
            writeln!(std::io::stdout(), "{removed} dead letter(s) dropped")?;
            Ok(())
        }),
    }
}

/// `aviso listen`: checks the replay options as pyaviso does, then listens until SIGTERM,
/// SIGINT or SIGQUIT, which finish the running trigger and end with status 0.
fn listen(
    common: &CommonOptions,
    server: &ServerOptions,
    from: Option<chrono::NaiveDateTime>,
    to: Option<chrono::NaiveDateTime>,
    now: bool,
    catchup: bool,
    files: &[PathBuf],
) -> i32 {
    let mut overrides = common.overrides(server);
    overrides.now = now;
    overrides.catchup = catchup;
    with_settings(common, Program::Aviso, overrides, true, |aviso| {
        let present = chrono::Utc::now().naive_utc();
        if now && catchup {
            anyhow::bail!("Only now or catchup can be specified at the same time");
        }
        // pyaviso let --from win silently; --now asks for the opposite start. (--catchup is the
        // default and stays accepted, for pyaviso's scripts.)
        if from.is_some() && now {
            anyhow::bail!(
                "--from replays from a date and --now starts at the newest notification: give one of them"
            );
        }
        if from.is_some_and(|f| f > present) {
            anyhow::bail!("--from must be in the past");
        }
        if to.is_some_and(|t| t > present) {
            anyhow::bail!("--to must be in the past");
        }
        if to.is_some() && from.is_none() {
            anyhow::bail!("--to needs --from: a replay runs from one date to another");
        }
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            anyhow::bail!("--to must be later than --from");
        }
        let catch_up = aviso.settings().notification_engine.catchup;
        if !aviso.settings().quiet {
            crate::progress::enable_on_terminal();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let (stop_sender, stop) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_stop_signal().await;
                let running = crate::trigger::running_triggers();
                if running.is_empty() {
                    tracing::info!("Stopping");
                } else {
                    let waiting_for: Vec<String> = running
                        .iter()
                        .map(|(trigger, ran)| {
                            format!("trigger {trigger} (started {} s ago)", ran.as_secs())
                        })
                        .collect();
                    tracing::info!(
                        "Stopping: waiting for {} (send the signal again to stop at once)",
                        waiting_for.join(", ")
                    );
                }
                let _ = stop_sender.send(true);
                wait_for_stop_signal().await;
                let killed = crate::plugin::kill_running_commands();
                if killed == 0 {
                    tracing::warn!("Stopping at once");
                } else {
                    tracing::warn!(
                        "Stopping at once: {killed} running command(s) killed; the notifications they were for will be delivered again"
                    );
                }
                std::process::exit(130);
            });
            aviso
                .listen(files, catch_up, from.map(|f| (f, to)), stop)
                .await
        })?;
        Ok(())
    })
}

/// `aviso serve`: the tenants' listeners until a stop signal; with `check`, each tenant's
/// status, and exit 0 only when every tenant can run.
fn serve(file: &Path, check: bool, debug: bool, quiet: bool) -> i32 {
    let file = match crate::serve::ServiceFile::read(file) {
        Ok(file) => file,
        Err(error) => {
            logging::init_console(debug, quiet, false);
            tracing::error!("{error}");
            return EXIT_ERROR;
        }
    };
    logging::init_console(debug, quiet, file.log_json && !check);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start: {error}");
            return EXIT_ERROR;
        }
    };
    let outcome = runtime.block_on(async {
        let service = crate::serve::Service::load(file).await?;
        if check {
            let statuses = service.check().await?;
            let mut out = std::io::stdout().lock();
            for status in &statuses {
                let _ = match &status.reason {
                    Some(reason) => writeln!(out, "{}: refused: {reason}", status.name),
                    None => writeln!(
                        out,
                        "{}: ready, {} listener(s) on {}",
                        status.name,
                        status.listeners,
                        status.base_keys.join(", ")
                    ),
                };
            }
            let refused = statuses.iter().filter(|s| s.reason.is_some()).count();
            return if refused == 0 {
                Ok(0)
            } else {
                Err(format!("{refused} tenant(s) refused"))
            };
        }
        let (stop_sender, stop) = tokio::sync::watch::channel(false);
        let grace = service.file.stop_timeout;
        tokio::spawn(async move {
            wait_for_termination().await;
            tracing::info!(
                "Stopping: running triggers have {} to finish (stop_timeout; send the signal again to stop at once)",
                crate::cause::duration(grace)
            );
            let _ = stop_sender.send(true);
            tokio::select! {
                () = wait_for_termination() => {}
                () = tokio::time::sleep(grace) => {}
            }
            let killed = crate::plugin::kill_running_commands();
            tracing::warn!(
                "Stopping at once: {killed} running command(s) killed; the notifications they were for will be delivered again"
            );
            // At once: the listeners must not take the killed commands' failures as outcomes
            // and move past those notifications.
            std::process::exit(130);
        });
        // SIGHUP reads the tenants again (a service's usual reload), it does not stop.
        let reload = std::sync::Arc::new(tokio::sync::Notify::new());
        if let Ok(mut hangup) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            let reload = reload.clone();
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    reload.notify_one();
                }
            });
        }
        service.run(stop, reload).await.map(|()| 0)
    });
    match outcome {
        Ok(status) => status,
        Err(error) => {
            tracing::error!("{error}");
            EXIT_ERROR
        }
    }
}

/// `aviso listen --check`: every problem of the listeners, one per line, and exit 1; or what
/// was checked, and exit 0.
fn check_listeners(common: &CommonOptions, server: &ServerOptions, files: &[PathBuf]) -> i32 {
    let mut problems = 0;
    let status = with_client(common, server, false, |aviso| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        match runtime.block_on(aviso.check_listeners(files)) {
            Ok(listeners) => {
                writeln!(
                    std::io::stdout(),
                    "OK: {listeners} listener(s), no problem found"
                )?;
                Ok(())
            }
            Err(found) => {
                for problem in &found {
                    writeln!(std::io::stdout(), "{problem}")?;
                }
                problems = found.len();
                anyhow::bail!("{} problem(s) found", found.len())
            }
        }
    });
    if problems > 0 { EXIT_ERROR } else { status }
}

/// The text of a file, or of standard input for `-`.
fn read_input(path: &Path) -> anyhow::Result<String> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
    };
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {} is not); a payload is text",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// A notification written as JSON: `event`, `request` (text or numbers), optional `payload` (text
/// as it is, anything else as its JSON text) and `ttl` (seconds). Returns it as parameters.
fn notification_from_json(
    text: &str,
    payload_field: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    use serde_json::Value;
    let document: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| anyhow::anyhow!("the notification is not valid JSON: {e}"))?;
    let Value::Object(fields) = document else {
        anyhow::bail!("the notification must be a JSON object with event and request");
    };
    let mut parameters = Vec::new();
    for (key, value) in &fields {
        match key.as_str() {
            "event" => match value {
                Value::String(event) => parameters.insert(0, ("event".to_string(), event.clone())),
                other => anyhow::bail!("event must be a text, found {other}"),
            },
            "request" => {
                let Value::Object(request) = value else {
                    anyhow::bail!("request must be an object of keys and values, found {value}");
                };
                for (name, value) in request {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        Value::Number(number) => number.to_string(),
                        other => anyhow::bail!(
                            "request.{name} must be a text or a number, found {other}"
                        ),
                    };
                    parameters.push((name.clone(), text));
                }
            }
            "payload" => {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                parameters.push((payload_field.to_string(), text));
            }
            "ttl" => parameters.push(("ttl".to_string(), value.to_string())),
            other => anyhow::bail!(
                "'{other}' is not a field of a notification{}",
                crate::suggest::hint(other, &["event", "request", "payload", "ttl"])
            ),
        }
    }
    if !fields.contains_key("event") {
        anyhow::bail!("the notification has no event");
    }
    Ok(parameters)
}

/// SIGTERM, SIGINT or SIGQUIT (not SIGHUP, which `aviso serve` takes as "reload").
async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = quit.recv() => {}
    }
}

/// A termination signal, or SIGHUP: a closed terminal or ssh session must stop a listener
/// cleanly (its position saved, its commands waited for), not kill it with its commands
/// orphaned.
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        return wait_for_termination().await;
    };
    tokio::select! {
        () = wait_for_termination() => {}
        _ = hangup.recv() => {}
    }
}

/// Loads settings and schema, sets up logging, runs `body`; errors are printed here.
/// `uses_store`: see [`with_settings`].
fn with_client(
    common: &CommonOptions,
    server: &ServerOptions,
    uses_store: bool,
    body: impl FnOnce(&Aviso) -> anyhow::Result<()>,
) -> i32 {
    with_settings(
        common,
        Program::Aviso,
        common.overrides(server),
        uses_store,
        body,
    )
}

/// With `-d`: the configuration files looked at and every setting's effective value with
/// where it came from (pyaviso's `-d` printed its configuration too).
fn show_configuration(settings: &Settings, layers: &crate::config::Layers) {
    for (file, found) in &layers.files {
        if *found {
            tracing::debug!("Configuration file {} read", file.display());
        } else {
            tracing::debug!("Configuration file {} not found, skipped", file.display());
        }
    }
    tracing::debug!("Effective configuration:");
    for (setting, value, origin) in settings.effective(layers) {
        tracing::debug!("  {setting}: {value}  ({origin})");
    }
}

/// Like `with_client`; `uses_store` announces test mode as pyaviso does for the commands that
/// talk to the store. Returns the process exit status (0 on errors with `no_fail`).
fn with_settings(
    common: &CommonOptions,
    program: Program,
    overrides: CliOverrides,
    uses_store: bool,
    body: impl FnOnce(&Aviso) -> anyhow::Result<()>,
) -> i32 {
    let failed = |no_fail: bool| if no_fail { 0 } else { EXIT_ERROR };
    let test_mode = overrides.test && uses_store;
    let sources = ConfigSources::from_process(program, common.config.clone(), overrides);
    let (settings, layers) = match Settings::load(&sources) {
        Ok(loaded) => loaded,
        Err(error) => {
            logging::init_default();
            tracing::error!("{error}");
            return failed(common.no_fail);
        }
    };
    let no_fail = settings.no_fail;
    if let Err(error) = logging::init(&settings) {
        logging::init_default();
        tracing::error!("{error}");
        return failed(no_fail);
    }
    for (setting, origin) in &layers.unknown {
        tracing::warn!("Unknown setting '{setting}' in {origin} is ignored");
    }
    if settings.debug {
        show_configuration(&settings, &layers);
    }
    if test_mode {
        tracing::warn!("TEST MODE");
    }
    let client = match program {
        Program::Aviso => Aviso::new(settings),
        // aviso-config reads and writes files; it needs no event schema.
        Program::AvisoConfig => Ok(Aviso::with_schema(
            settings,
            crate::schema::Schema::default_schema(),
        )),
    };
    let result = client
        .map_err(anyhow::Error::from)
        .and_then(|aviso| body(&aviso));
    match result {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!("{error}");
            failed(no_fail)
        }
    }
}

/// Prints a clap error the way Click words it (`Error: No such option: --x`), with the usage
/// line first; help and version requests are printed and succeed.
fn report_usage_error(error: &clap::Error, command: &clap::Command) -> i32 {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::DisplayVersion => {
            let _ = error.print();
            return 0;
        }
        _ => {}
    }
    let context = |kind: ContextKind| -> Option<String> {
        match error.get(kind)? {
            ContextValue::String(s) => Some(s.clone()),
            ContextValue::Strings(list) => Some(list.join(", ")),
            ContextValue::StyledStr(s) => Some(s.to_string()),
            other => Some(other.to_string()),
        }
    };
    let argument = context(ContextKind::InvalidArg).unwrap_or_default();
    let usage = context(ContextKind::Usage).map(|u| u.trim().to_string());
    // The command path, e.g. `aviso listen`, from the usage line.
    let path: Vec<String> = usage
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches("Usage:")
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(str::to_string)
        .collect();
    let message = match error.kind() {
        ErrorKind::UnknownArgument => {
            let option = argument.split('=').next().unwrap_or_default();
            let suggestions = if option.starts_with("--") {
                click_words::did_you_mean(option, &long_options(command, &path))
            } else {
                // Beyond Click: `-p` for `-P` (the case is all that differs).
                short_options(command, &path)
                    .into_iter()
                    .find(|short| {
                        option.len() == 2
                            && option.starts_with('-')
                            && option[1..].eq_ignore_ascii_case(&short.to_string())
                    })
                    .map(|short| format!(" Did you mean '-{short}'?"))
                    .unwrap_or_default()
            };
            format!("No such option '{option}'.{suggestions}")
        }
        ErrorKind::InvalidSubcommand => {
            let typed = context(ContextKind::InvalidSubcommand).unwrap_or_default();
            // Click: difflib's close matches among the group's commands.
            let mut group = command;
            for name in path.iter().skip(1) {
                if let Some(sub) = group.find_subcommand(name) {
                    group = sub;
                }
            }
            let names: Vec<String> = group
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name().to_string())
                .collect();
            let mut close = crate::suggest::close_matches(&typed, &names);
            let hint = match close.len() {
                0 => String::new(),
                1 => format!(" Did you mean '{}'?", close[0]),
                _ => {
                    close.sort();
                    format!(" (Possible commands: {})", close.join(", "))
                }
            };
            format!("No such command '{typed}'.{hint}")
        }
        ErrorKind::MissingRequiredArgument => {
            // clap lists everything missing ("--dir <TEXT>, <SERVICE>"); Click names the first
            // in its order, where the commands' arguments come before their options.
            let missing: Vec<&str> = argument.split(", ").collect();
            match missing.iter().find(|m| !m.starts_with('-')) {
                Some(positional) => format!(
                    "Missing argument '{}'.",
                    positional.trim_start_matches('<').trim_end_matches('>')
                ),
                None => {
                    let long = missing[0].split(' ').next().unwrap_or_default();
                    let name = long.trim_start_matches("--");
                    match short_of(command, name) {
                        Some(short) => format!("Missing option '--{name}' / '-{short}'."),
                        None => format!("Missing option '--{name}'."),
                    }
                }
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            // clap names the option with its value name ("--port <INTEGER>"); Click names the option.
            let option = argument
                .split(' ')
                .next()
                .unwrap_or_default()
                .trim_start_matches('<')
                .trim_end_matches('>');
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            if let Some(ContextValue::Strings(choices)) = error.get(ContextKind::ValidValue) {
                // Click's wording for a choice.
                let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                let message = format!(
                    "Invalid value for '{option}': '{value}' is not one of {}.",
                    quoted.join(", ")
                );
                return usage_error(usage, &path, &message);
            }
            let detail = error.to_string();
            let reason = detail
                .lines()
                .next()
                .and_then(|l| l.rsplit_once(": "))
                .map(|(_, r)| r)
                .unwrap_or("");
            format!("Invalid value for '{option}': '{value}' ({reason})")
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        }
    };
    usage_error(usage, &path, &message)
}

/// Click's usage error: the usage line, where to find help, and the message.
fn usage_error(usage: Option<String>, path: &[String], message: &str) -> i32 {
    let mut stderr = std::io::stderr();
    if let Some(usage) = usage {
        let _ = writeln!(stderr, "{usage}");
        let _ = writeln!(stderr, "Try '{} --help' for help.\n", path.join(" "));
    }
    let _ = writeln!(stderr, "Error: {message}");
    EXIT_USAGE
}

/// The long options (`--name`) of the (sub)command at `path` (program name first), `--help`
/// included.
fn long_options(command: &clap::Command, path: &[String]) -> Vec<String> {
    let mut current = command;
    for name in path.iter().skip(1) {
        match current.find_subcommand(name) {
            Some(sub) => current = sub,
            None => break,
        }
    }
    let mut names: Vec<String> = current
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .map(|long| format!("--{long}"))
        .collect();
    if !names.iter().any(|n| n == "--help") {
        names.push("--help".into());
    }
    names
}

/// The one-letter options of the (sub)command at `path`.
fn short_options(command: &clap::Command, path: &[String]) -> Vec<char> {
    let mut current = command;
    for name in path.iter().skip(1) {
        match current.find_subcommand(name) {
            Some(sub) => current = sub,
            None => break,
        }
    }
    current
        .get_arguments()
        .filter_map(|arg| arg.get_short())
        .collect()
}

/// The short form of the option `--long` in `command` or its subcommands.
fn short_of(command: &clap::Command, long: &str) -> Option<char> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_short())
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| short_of(sub, long))
        })
}

/// Runs one store call from the synchronous CLI.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime can be built")
        .block_on(future)
}
