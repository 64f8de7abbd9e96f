//! Layered settings, merged in pyaviso's order: defaults, `/etc/aviso/config.yaml`,
//! `~/.aviso/config.yaml`, the file in `AVISO_CONFIG`, the `-c` file, environment, command line.

mod layers;

use std::fmt;
use std::path::{Path, PathBuf};

pub use layers::{Layers, Origin};

use crate::yaml::{self, YamlValue};

/// A configuration error names the setting, the bad value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Invalid value '{value}' for setting {setting} (from {origin}): {expected}")]
    InvalidValue {
        setting: String,
        value: String,
        origin: Origin,
        expected: String,
    },
    #[error("Not able to load {origin}: {message}")]
    File { origin: Origin, message: String },
    /// Neither a home folder nor `state_dir`: no private place for positions and the store.
    #[error(
        "No folder for aviso's state (listener positions, the embedded store): HOME is not set. Set HOME, or state_dir in the configuration (AVISO_STATE_DIR)"
    )]
    NoStateDir,
}

/// Which store a set of settings talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineType {
    EtcdRest,
    EtcdGrpc,
    FileBased,
}

impl EngineType {
    /// The name used in configuration files and in the schema's `endpoint.engine` lists.
    pub fn name(self) -> &'static str {
        match self {
            EngineType::EtcdRest => "etcd_rest",
            EngineType::EtcdGrpc => "etcd_grpc",
            EngineType::FileBased => "file_based",
        }
    }

    fn parse(text: &str) -> Option<EngineType> {
        match text.to_ascii_lowercase().as_str() {
            "etcd_rest" => Some(EngineType::EtcdRest),
            "etcd_grpc" => Some(EngineType::EtcdGrpc),
            "file_based" => Some(EngineType::FileBased),
            _ => None,
        }
    }
}

impl fmt::Display for EngineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    Etcd,
    Ecmwf,
    OpenId,
    Plain,
}

impl AuthType {
    /// The name the configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Etcd => "etcd",
            AuthType::Ecmwf => "ecmwf",
            AuthType::OpenId => "openid",
            AuthType::Plain => "plain",
        }
    }

    fn parse(text: &str) -> Option<AuthType> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(AuthType::None),
            "etcd" => Some(AuthType::Etcd),
            "ecmwf" => Some(AuthType::Ecmwf),
            "openid" => Some(AuthType::OpenId),
            "plain" => Some(AuthType::Plain),
            _ => None,
        }
    }
}

/// What turns the schema as stored into the schema used (`schema_parser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaParserKind {
    /// The schema is used as it is.
    Generic,
    /// The built-in ECMWF parser: enum values from the MARS language file.
    Ecmwf,
    /// A user's schema parser component (a `.wasm` file).
    Component(PathBuf),
}

/// Settings of one store connection (`notification_engine` or `configuration_engine`).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    pub host: String,
    pub port: u16,
    pub https: bool,
    pub engine_type: EngineType,
    /// Seconds; `None` waits without limit.
    pub timeout: Option<u64>,
    /// Seconds between attempts when the store cannot be reached; `None` does not retry.
    pub automatic_retry_delay: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationEngineSettings {
    pub engine: EngineSettings,
    /// The members of an etcd cluster (`notification_engine.endpoints`), tried in turn; just
    /// `host:port` when not set (or when `-H`/`-P` are given).
    pub endpoints: Vec<(String, u16)>,
    /// Seconds between polls where the store offers no watch.
    pub polling_interval: u64,
    /// Configuration service holding the remote schema.
    pub service: String,
    /// Deliver what was missed since the last run before new notifications.
    pub catchup: bool,
    /// Seconds a watch may stay silent before the listener checks that it is alive.
    pub liveness_check: u64,
}

/// What a listener does when a `required` trigger fails (`delivery:`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Runs of a failing required trigger in all before the notification becomes a dead letter.
    pub attempts: u32,
    /// Seconds before the second run, doubled each time after.
    pub retry_delay: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationEngineSettings {
    pub engine: EngineSettings,
    /// KiB; files above it (or above 1 MiB in any case) are not pushed.
    pub max_file_size: u64,
}

/// Where log output goes and how much of it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggingSetting {
    /// A YAML file in Python's `logging.config.dictConfig` form.
    File(PathBuf),
    /// The same, inline in the configuration file.
    Inline(YamlValue),
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub notification_engine: NotificationEngineSettings,
    pub delivery: DeliverySettings,
    pub configuration_engine: ConfigurationEngineSettings,
    pub auth_type: AuthType,
    pub username: Option<String>,
    /// When set, the username is read from this file and overrides `username` (as pyaviso).
    pub username_file: Option<PathBuf>,
    pub key_file: PathBuf,
    /// Seconds; -1 means notifications do not expire.
    pub key_ttl: i64,
    pub schema_parser: SchemaParserKind,
    pub remote_schema: bool,
    /// Where listener positions and the embedded store live (`state_dir`, `AVISO_STATE_DIR`);
    /// `None`: `~/.aviso`.
    pub state_dir: Option<PathBuf>,
    pub debug: bool,
    pub quiet: bool,
    pub no_fail: bool,
    pub logging: Option<LoggingSetting>,
    /// The `listeners:` section, used when `listen` is given no listener file.
    pub listeners: Option<YamlValue>,
    /// The `plugins:` sections: the site policy for user plugins, and how later layers narrow it.
    pub plugins: PluginSections,
}

/// The `plugins:` sections of the configuration layers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSections {
    /// The system configuration's (`/etc/aviso/config.yaml`), or the one a program sets
    /// through the library: the most any listener may grant.
    pub site: Option<YamlValue>,
    /// Those of later layers (`~/.aviso/config.yaml`, `AVISO_CONFIG`, `-c`), in order; each
    /// may take capabilities away and lower limits, never widen the site's.
    pub narrowing: Vec<(YamlValue, Origin)>,
}

/// Options given on the command line. A flag can only switch a setting on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `--test`: the embedded file-based store.
    pub test: bool,
    pub username: Option<String>,
    pub key_file: Option<PathBuf>,
    pub debug: bool,
    pub quiet: bool,
    pub no_fail: bool,
    pub log: Option<PathBuf>,
    pub catchup: bool,
    pub now: bool,
}

/// Which program reads the configuration: `-H/-P` address the notification engine for `aviso`
/// and the configuration engine for `aviso-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Aviso,
    AvisoConfig,
}

/// Looks up an environment variable (a closure, so tests can give their own environment).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// Everything the configuration is read from; `ConfigSources::from_process` gives the real ones.
pub struct ConfigSources {
    pub system_file: PathBuf,
    pub home_dir: Option<PathBuf>,
    /// `-c/--config`.
    pub config_file: Option<PathBuf>,
    pub env: EnvLookup,
    pub cli: CliOverrides,
    pub program: Program,
}

impl ConfigSources {
    pub fn from_process(program: Program, config_file: Option<PathBuf>, cli: CliOverrides) -> Self {
        ConfigSources {
            system_file: PathBuf::from("/etc/aviso/config.yaml"),
            home_dir: home_dir(),
            config_file,
            env: Box::new(|name| std::env::var(name).ok()),
            cli,
            program,
        }
    }
}

/// `$HOME`, as Python's `os.path.expanduser("~")`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The user's cache folder: `$XDG_CACHE_HOME` or `~/.cache`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".cache")))
}

impl Settings {
    /// Every setting by its path (`notification_engine.port`) with its effective value as
    /// text, in the order of the configuration file's documentation; each with where it came
    /// from (the layer that set it, else the default).
    pub fn effective(&self, layers: &Layers) -> Vec<(&'static str, String, Origin)> {
        let engine = |e: &EngineSettings| {
            [
                e.host.clone(),
                e.port.to_string(),
                e.https.to_string(),
                e.engine_type.to_string(),
                seconds_or(e.timeout, "none (waits without limit)"),
                seconds_or(e.automatic_retry_delay, "none (no retry)"),
            ]
        };
        let [host, port, https, kind, timeout, retry] = engine(&self.notification_engine.engine);
        let n = &self.notification_engine;
        let [c_host, c_port, c_https, c_kind, c_timeout, c_retry] =
            engine(&self.configuration_engine.engine);
        let path_or = |path: &Option<PathBuf>, none: &str| {
            path.as_ref()
                .map_or_else(|| none.to_string(), |p| p.display().to_string())
        };
        let values: Vec<(&'static str, String)> = vec![
            ("notification_engine.type", kind),
            ("notification_engine.host", host),
            ("notification_engine.port", port),
            (
                "notification_engine.endpoints",
                n.endpoints
                    .iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("notification_engine.https", https),
            (
                "notification_engine.polling_interval",
                format!("{} s", n.polling_interval),
            ),
            ("notification_engine.timeout", timeout),
            ("notification_engine.automatic_retry_delay", retry),
            ("notification_engine.service", n.service.clone()),
            ("notification_engine.catchup", n.catchup.to_string()),
            (
                "notification_engine.liveness_check",
                format!("{} s", n.liveness_check),
            ),
            ("delivery.attempts", self.delivery.attempts.to_string()),
            (
                "delivery.retry_delay",
                format!("{} s", self.delivery.retry_delay),
            ),
            ("configuration_engine.type", c_kind),
            ("configuration_engine.host", c_host),
            ("configuration_engine.port", c_port),
            ("configuration_engine.https", c_https),
            ("configuration_engine.timeout", c_timeout),
            ("configuration_engine.automatic_retry_delay", c_retry),
            (
                "configuration_engine.max_file_size",
                format!("{} KiB", self.configuration_engine.max_file_size),
            ),
            ("auth_type", self.auth_type.name().to_string()),
            (
                "username",
                self.username.clone().unwrap_or_else(|| "none".into()),
            ),
            ("username_file", path_or(&self.username_file, "none")),
            ("key_file", self.key_file.display().to_string()),
            (
                "key_ttl",
                match self.key_ttl {
                    -1 => "-1 (notifications do not expire)".into(),
                    ttl => format!("{ttl} s"),
                },
            ),
            (
                "schema_parser",
                match &self.schema_parser {
                    SchemaParserKind::Generic => "generic".into(),
                    SchemaParserKind::Ecmwf => "ecmwf".into(),
                    SchemaParserKind::Component(path) => path.display().to_string(),
                },
            ),
            ("remote_schema", self.remote_schema.to_string()),
            ("state_dir", path_or(&self.state_dir, "~/.aviso")),
            ("debug", self.debug.to_string()),
            ("quiet", self.quiet.to_string()),
            ("no_fail", self.no_fail.to_string()),
            (
                "logging",
                match &self.logging {
                    None => "the console, messages only".into(),
                    Some(LoggingSetting::File(path)) => path.display().to_string(),
                    Some(LoggingSetting::Inline(_)) => "a logging section".into(),
                },
            ),
            (
                "listeners",
                match &self.listeners {
                    None => "none".into(),
                    Some(YamlValue::Seq(items)) => format!("{} listener(s)", items.len()),
                    Some(_) => "a listeners section".into(),
                },
            ),
            (
                "plugins",
                match (&self.plugins.site, self.plugins.narrowing.len()) {
                    (None, 0) => "no site policy".into(),
                    (Some(_), 0) => "the site policy".into(),
                    (None, n) => format!("{n} section(s) narrowing the defaults"),
                    (Some(_), n) => format!("the site policy, narrowed by {n} section(s)"),
                },
            ),
        ];
        values
            .into_iter()
            .map(|(path, value)| {
                let origin = match path {
                    // Plugins sections add up instead of replacing each other.
                    "plugins" => layers
                        .plugin_sections
                        .last()
                        .map_or(Origin::Default, |(_, origin)| origin.clone()),
                    _ => layers
                        .get(path)
                        .map_or(Origin::Default, |(_, origin)| origin.clone()),
                };
                (path, value, origin)
            })
            .collect()
    }

    /// Reads every layer and resolves the settings.
    pub fn load(sources: &ConfigSources) -> Result<(Settings, Layers), ConfigError> {
        let layers = read_layers(sources, None)?;
        let settings = Settings::resolve(&layers, sources.home_dir.as_deref())?;
        Ok((settings, layers))
    }

    /// Resolves the settings from merged layers; anything not set takes its default.
    pub fn resolve(layers: &Layers, home: Option<&Path>) -> Result<Settings, ConfigError> {
        let r = Resolver { layers, home };
        let engine = |section: &str| -> Result<EngineSettings, ConfigError> {
            Ok(EngineSettings {
                host: r.host(&format!("{section}.host"))?,
                port: r.port(&format!("{section}.port"), 2379)?,
                https: r.bool(&format!("{section}.https"), false)?,
                engine_type: r.parse(
                    &format!("{section}.type"),
                    EngineType::EtcdRest,
                    EngineType::parse,
                    "one of etcd_rest, etcd_grpc, file_based",
                )?,
                timeout: r.optional_seconds(&format!("{section}.timeout"), Some(60))?,
                automatic_retry_delay: r
                    .optional_seconds(&format!("{section}.automatic_retry_delay"), Some(15))?,
            })
        };
        let notification_engine_settings = engine("notification_engine")?;
        let notification_engine = NotificationEngineSettings {
            endpoints: r.endpoints(&notification_engine_settings)?,
            engine: notification_engine_settings,
            polling_interval: r.seconds("notification_engine.polling_interval", 30)?,
            service: r.string("notification_engine.service", "aviso/v1")?,
            catchup: r.bool("notification_engine.catchup", true)?,
            liveness_check: r.seconds("notification_engine.liveness_check", 60)?.max(1),
        };
        let attempts = r.whole_number("delivery.attempts", 5)?;
        let delivery = DeliverySettings {
            attempts: u32::try_from(attempts)
                .ok()
                .filter(|a| (1..=1000).contains(a))
                .ok_or_else(|| {
                    let (value, origin) = r
                        .raw("delivery.attempts")
                        .unwrap_or((YamlValue::Null, Origin::Default));
                    r.invalid(
                        "delivery.attempts",
                        &value,
                        origin,
                        "a whole number from 1 to 1000",
                    )
                })?,
            retry_delay: r.seconds("delivery.retry_delay", 15)?,
        };
        let configuration_engine = ConfigurationEngineSettings {
            engine: engine("configuration_engine")?,
            max_file_size: r.whole_number("configuration_engine.max_file_size", 500)?,
        };
        if configuration_engine.engine.engine_type == EngineType::FileBased {
            let (value, origin) = r
                .raw("configuration_engine.type")
                .unwrap_or((YamlValue::plain("file_based"), Origin::Default));
            return Err(ConfigError::InvalidValue {
                setting: "configuration_engine.type".into(),
                value: value.to_string(),
                origin,
                expected: "File_based engine not available as configuration engine".into(),
            });
        }
        let logging = match r.raw("logging") {
            None | Some((YamlValue::Null, _)) => None,
            Some((YamlValue::Scalar(s), _)) => {
                Some(LoggingSetting::File(expand_home(&s.text, home)))
            }
            Some((value @ YamlValue::Map(_), _)) => Some(LoggingSetting::Inline(value)),
            Some((value, origin)) => {
                return Err(r.invalid(
                    "logging",
                    &value,
                    origin,
                    "a path to a logging configuration file, or a logging mapping",
                ));
            }
        };
        let section = |name: &str| match r.raw(name) {
            None | Some((YamlValue::Null, _)) => None,
            Some((value, _)) => Some(value),
        };
        let listeners = section("listeners");
        let given = |(value, _): &&(YamlValue, Origin)| !matches!(value, YamlValue::Null);
        let (site, later) = layers.plugin_sections.split_at(layers.site_plugin_sections);
        let plugins = PluginSections {
            site: site.iter().rfind(given).map(|(value, _)| value.clone()),
            narrowing: later.iter().filter(given).cloned().collect(),
        };
        Ok(Settings {
            notification_engine,
            delivery,
            configuration_engine,
            auth_type: r.parse(
                "auth_type",
                AuthType::None,
                AuthType::parse,
                "one of none, etcd, ecmwf, openid, plain",
            )?,
            username: r.optional_string("username")?,
            username_file: r
                .optional_string("username_file")?
                .map(|p| expand_home(&p, home)),
            key_file: expand_home(&r.string("key_file", "/etc/aviso/key")?, home),
            key_ttl: r.integer("key_ttl", -1)?,
            schema_parser: r.parse(
                "schema_parser",
                SchemaParserKind::Generic,
                |t| match t.to_ascii_lowercase().as_str() {
                    "generic" => Some(SchemaParserKind::Generic),
                    "ecmwf" => Some(SchemaParserKind::Ecmwf),
                    _ if t.contains('/') || t.ends_with(".wasm") => {
                        Some(SchemaParserKind::Component(expand_home(t, home)))
                    }
                    _ => None,
                },
                "generic, ecmwf, or the path of a schema parser component (.wasm)",
            )?,
            remote_schema: r.bool("remote_schema", false)?,
            state_dir: r
                .optional_string("state_dir")?
                .filter(|d| !d.trim().is_empty())
                .map(|d| expand_home(&d, home)),
            debug: r.bool("debug", false)?,
            quiet: r.bool("quiet", false)?,
            no_fail: r.bool("no_fail", false)?,
            logging,
            listeners,
            plugins,
        })
    }

    /// The folder of listener positions (`cursors/`) and the embedded store (`file_based/`):
    /// `state_dir`, else `~/.aviso`. Never a shared temporary folder: without a home and a
    /// `state_dir` there is none.
    pub fn state_dir(&self) -> Result<PathBuf, ConfigError> {
        self.state_dir
            .clone()
            .or_else(|| home_dir().map(|home| home.join(".aviso")))
            .ok_or(ConfigError::NoStateDir)
    }

    /// Defaults only, ignoring every file and the environment.
    pub fn defaults() -> Settings {
        Settings::resolve(&Layers::default(), None).expect("the defaults are valid")
    }
}

/// Every layer of `sources`, in pyaviso's order. With `in_place_of_files` (pyaviso's
/// `UserConfig(conf_from_file=...)`), that document stands for every configuration file, and
/// its `plugins:` section is the site's.
pub fn read_layers(
    sources: &ConfigSources,
    in_place_of_files: Option<&YamlValue>,
) -> Result<Layers, ConfigError> {
    let mut layers = Layers::default();
    if let Some(document) = in_place_of_files {
        layers.merge_document(document, &Origin::Api)?;
        layers.close_site_layer();
    } else {
        layers.merge_file(&sources.system_file, true)?;
        layers.close_site_layer();
        if let Some(home) = &sources.home_dir {
            layers.merge_file(&home.join(".aviso").join("config.yaml"), true)?;
        }
        if let Some(path) = (sources.env)("AVISO_CONFIG").filter(|p| !p.is_empty()) {
            layers.merge_file(&expand_home(&path, sources.home_dir.as_deref()), false)?;
        }
        if let Some(path) = &sources.config_file {
            layers.merge_file(path, false)?;
        }
    }
    layers.merge_environment(&*sources.env);
    apply_cli(&mut layers, &sources.cli, sources.program);
    Ok(layers)
}

fn apply_cli(layers: &mut Layers, cli: &CliOverrides, program: Program) {
    let (host_setting, port_setting) = match program {
        Program::Aviso => ("notification_engine.host", "notification_engine.port"),
        Program::AvisoConfig => ("configuration_engine.host", "configuration_engine.port"),
    };
    if let Some(host) = &cli.host {
        layers.set(
            host_setting,
            YamlValue::string(host.clone()),
            Origin::Cli("--host"),
        );
    }
    if let Some(port) = cli.port {
        layers.set(
            port_setting,
            YamlValue::plain(port.to_string()),
            Origin::Cli("--port"),
        );
    }
    if cli.test {
        layers.set(
            "notification_engine.type",
            YamlValue::plain("file_based"),
            Origin::Cli("--test"),
        );
    }
    if let Some(username) = &cli.username {
        layers.set(
            "username",
            YamlValue::string(username.clone()),
            Origin::Cli("--username"),
        );
    }
    if let Some(key) = &cli.key_file {
        layers.set(
            "key_file",
            YamlValue::string(key.display().to_string()),
            Origin::Cli("--key"),
        );
    }
    let flags: [(bool, &'static str, &'static str, &'static str); 5] = [
        (cli.debug, "debug", "--debug", "true"),
        (cli.quiet, "quiet", "--quiet", "true"),
        (cli.no_fail, "no_fail", "--no-fail", "true"),
        (
            cli.catchup,
            "notification_engine.catchup",
            "--catchup",
            "true",
        ),
        (cli.now, "notification_engine.catchup", "--now", "false"),
    ];
    for (given, setting, option, value) in flags {
        if given {
            layers.set(setting, YamlValue::plain(value), Origin::Cli(option));
        }
    }
    if let Some(log) = &cli.log {
        layers.set(
            "logging",
            YamlValue::string(log.display().to_string()),
            Origin::Cli("--log"),
        );
    }
}

/// A leading `~` stands for the home directory, as in pyaviso's configuration loader.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

/// A path as users write it in listener files: a leading `~` is the home folder and `$NAME` or
/// `${NAME}` an environment variable, as the shell expanded them for pyaviso (which ran
/// `cd <working_dir>; <command>`). A variable that is not set is an error naming it.
pub fn expand_user_path(text: &str) -> Result<PathBuf, String> {
    let mut expanded = String::with_capacity(text.len());
    let mut rest = text;
    if let Some(after) = rest.strip_prefix('~')
        && (after.is_empty() || after.starts_with('/'))
    {
        let home =
            home_dir().ok_or_else(|| format!("{text}: ~ stands for HOME, which is not set"))?;
        expanded.push_str(&home.display().to_string());
        rest = after;
    }
    while let Some(dollar) = rest.find('$') {
        expanded.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, next) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => return Err(format!("{text}: '${{' without its '}}'")),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if name.is_empty() {
            expanded.push('$');
        } else {
            let value = std::env::var(name)
                .map_err(|_| format!("{text}: the environment variable {name} is not set"))?;
            expanded.push_str(&value);
        }
        rest = next;
    }
    expanded.push_str(rest);
    Ok(PathBuf::from(expanded))
}

/// The longest delay or time limit the configuration may set (`timeout`,
/// `automatic_retry_delay`, `polling_interval`). A week is far beyond any useful value, and the
/// bound keeps every deadline computed from them well inside the clock's range.
pub const MAX_CONFIGURED_SECONDS: u64 = 7 * 24 * 3600;

/// Typed reads of the merged layers, with errors naming setting, value and origin.
struct Resolver<'a> {
    layers: &'a Layers,
    #[allow(dead_code)]
    home: Option<&'a Path>,
}

impl Resolver<'_> {
    fn raw(&self, setting: &str) -> Option<(YamlValue, Origin)> {
        self.layers.get(setting).cloned()
    }

    fn invalid(
        &self,
        setting: &str,
        value: &YamlValue,
        origin: Origin,
        expected: &str,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            setting: setting.to_string(),
            value: value.to_string(),
            origin,
            expected: format!("expected {expected}"),
        }
    }

    /// The scalar text of a setting, or `None` when unset or null; structures are errors.
    fn scalar(
        &self,
        setting: &str,
        expected: &str,
    ) -> Result<Option<(String, Origin)>, ConfigError> {
        match self.raw(setting) {
            None | Some((YamlValue::Null, _)) => Ok(None),
            Some((YamlValue::Scalar(s), origin)) => Ok(Some((s.text, origin))),
            Some((value, origin)) => Err(self.invalid(setting, &value, origin, expected)),
        }
    }

    fn string(&self, setting: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self
            .optional_string(setting)?
            .unwrap_or_else(|| default.to_string()))
    }

    /// A host name or address (default `localhost`). `host:port` and URLs are refused with
    /// what to write instead: they used to end in a lookup of `host:port:2379`.
    fn host(&self, setting: &str) -> Result<String, ConfigError> {
        let Some((text, origin)) = self.scalar(setting, "a host name or address")? else {
            return Ok("localhost".into());
        };
        let port_setting = setting.replace(".host", ".port");
        let wrong = if text.contains("://") {
            Some("a host name or address without a scheme (set https: true for HTTPS)".to_string())
        } else if text.matches(':').count() == 1 {
            Some(format!(
                "a host name or address without a port (the port is {port_setting}, or -P)"
            ))
        } else if text.trim().is_empty() || text.contains(['/', ' ', '\t']) {
            Some("a host name or address".to_string())
        } else {
            None
        };
        match wrong {
            Some(expected) => {
                Err(self.invalid(setting, &YamlValue::plain(text), origin, &expected))
            }
            None => Ok(text),
        }
    }

    fn optional_string(&self, setting: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.scalar(setting, "a string")?.map(|(text, _)| text))
    }

    fn bool(&self, setting: &str, default: bool) -> Result<bool, ConfigError> {
        match self.scalar(setting, "true or false")? {
            None => Ok(default),
            Some((text, origin)) => yaml::parse_yaml_bool(&text).ok_or_else(|| {
                self.invalid(setting, &YamlValue::plain(text), origin, "true or false")
            }),
        }
    }

    fn integer(&self, setting: &str, default: i64) -> Result<i64, ConfigError> {
        match self.scalar(setting, "an integer")? {
            None => Ok(default),
            Some((text, origin)) => text
                .trim()
                .parse()
                .map_err(|_| self.invalid(setting, &YamlValue::plain(text), origin, "an integer")),
        }
    }

    /// A non-negative whole number, such as a size; it only bounds what is read, so any size
    /// that fits in 64 bits is accepted.
    fn whole_number(&self, setting: &str, default: u64) -> Result<u64, ConfigError> {
        let expected = "a whole number (0 or more)";
        match self.scalar(setting, expected)? {
            None => Ok(default),
            Some((text, origin)) => text
                .trim()
                .parse()
                .map_err(|_| self.invalid(setting, &YamlValue::plain(text), origin, expected)),
        }
    }

    fn seconds(&self, setting: &str, default: u64) -> Result<u64, ConfigError> {
        self.optional_seconds(setting, Some(default))?
            .ok_or_else(|| {
                let (value, origin) = self
                    .raw(setting)
                    .unwrap_or((YamlValue::Null, Origin::Default));
                self.invalid(
                    setting,
                    &value,
                    origin,
                    &format!(
                        "a whole number of seconds from 0 to {MAX_CONFIGURED_SECONDS} (7 days)"
                    ),
                )
            })
    }

    /// Whole seconds up to `MAX_CONFIGURED_SECONDS`; `null` means "none".
    fn optional_seconds(
        &self,
        setting: &str,
        default: Option<u64>,
    ) -> Result<Option<u64>, ConfigError> {
        let expected = format!(
            "a whole number of seconds from 0 to {MAX_CONFIGURED_SECONDS} (7 days), or null"
        );
        match self.raw(setting) {
            None => Ok(default),
            Some((YamlValue::Null, _)) => Ok(None),
            Some((YamlValue::Scalar(s), origin)) => s
                .text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|seconds| *seconds <= MAX_CONFIGURED_SECONDS)
                .map(Some)
                .ok_or_else(|| self.invalid(setting, &YamlValue::Scalar(s), origin, &expected)),
            Some((value, origin)) => Err(self.invalid(setting, &value, origin, &expected)),
        }
    }

    /// `notification_engine.endpoints`: a list (or comma-separated text) of `host:port`.
    fn endpoints(&self, engine: &EngineSettings) -> Result<Vec<(String, u16)>, ConfigError> {
        let setting = "notification_engine.endpoints";
        let single = vec![(engine.host.clone(), engine.port)];
        let from_cli = |name: &str| matches!(self.raw(name), Some((_, Origin::Cli(_))));
        if from_cli("notification_engine.host") || from_cli("notification_engine.port") {
            return Ok(single);
        }
        let (entries, origin) = match self.raw(setting) {
            None | Some((YamlValue::Null, _)) => return Ok(single),
            Some((YamlValue::Scalar(s), origin)) => (
                s.text
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .collect::<Vec<_>>(),
                origin,
            ),
            Some((YamlValue::Seq(items), origin)) => {
                (items.iter().map(|i| i.to_string()).collect(), origin)
            }
            Some((value, origin)) => {
                return Err(self.invalid(setting, &value, origin, "a list of host:port"));
            }
        };
        entries
            .iter()
            .map(|entry| {
                entry
                    .rsplit_once(':')
                    .and_then(|(host, port)| {
                        Some((
                            host.to_string(),
                            port.parse::<u16>().ok().filter(|p| *p > 0)?,
                        ))
                    })
                    .filter(|(host, _)| !host.is_empty())
                    .ok_or_else(|| {
                        self.invalid(
                            setting,
                            &YamlValue::plain(entry.clone()),
                            origin.clone(),
                            "a list of host:port",
                        )
                    })
            })
            .collect()
    }

    fn port(&self, setting: &str, default: u16) -> Result<u16, ConfigError> {
        match self.scalar(setting, "a port number")? {
            None => Ok(default),
            Some((text, origin)) => text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    self.invalid(
                        setting,
                        &YamlValue::plain(text),
                        origin,
                        "a port number between 1 and 65535",
                    )
                }),
        }
    }

    fn parse<T>(
        &self,
        setting: &str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.scalar(setting, expected)? {
            None => Ok(default),
            Some((text, origin)) => parse(text.trim())
                .ok_or_else(|| self.invalid(setting, &YamlValue::plain(text), origin, expected)),
        }
    }
}

#[cfg(test)]
mod tests;

/// Seconds, or what no value means.
fn seconds_or(value: Option<u64>, none: &str) -> String {
    value.map_or_else(|| none.to_string(), |seconds| format!("{seconds} s"))
}
