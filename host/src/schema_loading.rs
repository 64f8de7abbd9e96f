//! Where a client's event schema comes from (reference §4.3). With `remote_schema`, from the
//! configuration service `notification_engine.service` (a local copy of its last good files
//! stands in while the configuration server cannot be reached); otherwise from the local service
//! configuration folder, or the built-in schema. Then through the `schema_parser`: `generic`
//! uses the schema as it is; `ecmwf` (the built-in component) and a user's component turn the
//! schema and its service's files into the schema used.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::{SchemaParserKind, Settings, home_dir};
use crate::plugin::{PluginError, builtin, sanitize};
use crate::schema::{DEFAULT_SCHEMA, SCHEMA_FILE_NAME, Schema, SchemaError, SchemaLocations};
use crate::service_config::{ServiceConfig, collect_files, safe_join};

/// The event schema cannot be found, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaLoadError {
    /// Where it was looked for and what went wrong, for the user.
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// The files of one service configuration: each one's path relative to it, and its bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Files found for a schema, and where they were found (for messages).
struct ServiceFiles {
    origin: String,
    files: Files,
}

/// The schema the settings ask for.
pub async fn load_schema(settings: &Settings) -> Result<Schema, SchemaLoadError> {
    let found = if settings.remote_schema {
        Some(remote_files(settings).await?)
    } else if settings.schema_parser == SchemaParserKind::Generic {
        // The schema alone is enough: nothing else of the folder is read.
        return Ok(SchemaLocations::standard(home_dir()).load()?);
    } else {
        local_files(&SchemaLocations::standard(home_dir()))?
    };
    let (schema_text, origin, files) = match &found {
        Some(found) => {
            let (name, text) = schema_file(found)?;
            (
                text,
                format!("{name} of {}", found.origin),
                &found.files[..],
            )
        }
        None => (
            DEFAULT_SCHEMA.to_string(),
            "the built-in schema".into(),
            &[][..],
        ),
    };
    // The engine the listeners' triggers will use too: one per process, sized by the policy.
    let concurrent_calls = crate::trigger::PluginPolicy::from_sections(&settings.plugins)
        .map(|(policy, _)| policy.concurrent_calls())
        .map_err(|e| {
            SchemaLoadError::Source(format!("Invalid plugins section in the configuration: {e}"))
        })?;
    parse(
        concurrent_calls,
        &settings.schema_parser,
        &schema_text,
        files,
        &origin,
    )
    .await
}

/// Whether loading the schema needs to wait on a server or a plugin.
pub fn needs_async(settings: &Settings) -> bool {
    settings.remote_schema || settings.schema_parser != SchemaParserKind::Generic
}

/// The schema file among the files: exactly one whose path contains `event_listener_schema.json`.
fn schema_file(found: &ServiceFiles) -> Result<(&str, String), SchemaLoadError> {
    let candidates: Vec<&(String, Vec<u8>)> = found
        .files
        .iter()
        .filter(|(path, _)| path.contains(SCHEMA_FILE_NAME))
        .collect();
    match candidates.as_slice() {
        [(path, content)] => match String::from_utf8(content.clone()) {
            Ok(text) => Ok((path, text)),
            Err(_) => Err(SchemaLoadError::Source(format!(
                "{path} of {} is not UTF-8 text",
                found.origin
            ))),
        },
        [] => Err(SchemaLoadError::Source(format!(
            "No event listener schema file found: {} has no file named {SCHEMA_FILE_NAME}",
            found.origin
        ))),
        many => Err(SchemaLoadError::Source(format!(
            "More than one event listener schema file found in {}: {}",
            found.origin,
            many.iter()
                .map(|(path, _)| path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs the schema parser.
async fn parse(
    concurrent_calls: usize,
    parser: &SchemaParserKind,
    schema: &str,
    files: &[(String, Vec<u8>)],
    origin: &str,
) -> Result<Schema, SchemaLoadError> {
    let (name, wasm) = match parser {
        SchemaParserKind::Generic => return Ok(Schema::from_json(schema, origin)?),
        SchemaParserKind::Ecmwf => ("ecmwf".to_string(), builtin::ECMWF_SCHEMA.to_vec()),
        SchemaParserKind::Component(path) => {
            let wasm = std::fs::read(path).map_err(|e| {
                SchemaLoadError::Source(format!(
                    "Cannot read the schema parser {}: {e}",
                    path.display()
                ))
            })?;
            (path.display().to_string(), wasm)
        }
    };
    let engine = crate::plugin::process_engine(concurrent_calls)?;
    let plugin = engine.load_schema_parser(&name, &wasm)?;
    let (parsed, output) = plugin
        .parse(schema, files)
        .await
        .map_err(|(error, output)| {
            let printed = String::from_utf8_lossy(&output.stderr);
            let printed = printed.trim();
            let detail = if printed.is_empty() {
                String::new()
            } else {
                format!(" (it printed: {})", sanitize(printed))
            };
            SchemaLoadError::Source(format!(
                "Schema parser {name} failed on {origin}: {error}{detail}"
            ))
        })?;
    for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        if !text.is_empty() {
            tracing::debug!(
                "Schema parser {name} printed on {stream}: {}",
                sanitize(String::from_utf8_lossy(text).trim())
            );
        }
    }
    Ok(Schema::from_json(
        &parsed,
        &format!("the schema made by parser {name} from {origin}"),
    )?)
}

/// The first local service configuration folder holding a schema, with all its files; `None`
/// when there is none (the built-in schema is used).
fn local_files(locations: &SchemaLocations) -> Result<Option<ServiceFiles>, SchemaLoadError> {
    for folder in &locations.folders {
        if folder.join(SCHEMA_FILE_NAME).is_file() {
            let files = read_tree(folder).map_err(SchemaLoadError::Source)?;
            return Ok(Some(ServiceFiles {
                origin: folder.display().to_string(),
                files,
            }));
        }
    }
    Ok(None)
}

/// The files of the configuration service, or its local copy when the server cannot be reached.
async fn remote_files(settings: &Settings) -> Result<ServiceFiles, SchemaLoadError> {
    let service = &settings.notification_engine.service;
    let engine = &settings.configuration_engine.engine;
    let origin = format!(
        "service {service} on the configuration server {}:{}",
        engine.host, engine.port
    );
    let copy = LocalCopy::of(service);
    let fetched = match ServiceConfig::open(settings) {
        Ok(config) => config.contents(service).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match fetched {
        Ok(files) if files.is_empty() => Err(SchemaLoadError::Source(format!(
            "No remote event listener schema file found: {origin} has no files (push them with `aviso-config push {service} -D <folder> -m <message>`)"
        ))),
        Ok(files) => {
            if let Some(copy) = &copy {
                if let Err(reason) = copy.save(&files) {
                    tracing::warn!("Cannot keep a local copy of {origin}: {reason}");
                }
            }
            Ok(ServiceFiles { origin, files })
        }
        Err(reason) => {
            let saved = copy.as_ref().map(LocalCopy::load).transpose();
            match saved.map_err(SchemaLoadError::Source)?.flatten() {
                Some((files, saved_at)) => {
                    let copy = copy.as_ref().expect("a copy was read");
                    tracing::warn!(
                        "Cannot reach the configuration server ({reason}); using the local copy of service {service} saved on {} in {}",
                        chrono::DateTime::<chrono::Local>::from(saved_at)
                            .format("%Y-%m-%d %H:%M:%S"),
                        copy.dir.display()
                    );
                    Ok(ServiceFiles {
                        origin: format!("the local copy of service {service}"),
                        files,
                    })
                }
                None => Err(SchemaLoadError::Source(format!(
                    "Cannot load the event listener schema from {origin}: {reason}; there is no local copy of it yet"
                ))),
            }
        }
    }
}

/// The last files of a service received from the configuration server, kept in
/// `$XDG_CACHE_HOME/aviso/service_configuration/<service>/` (or `~/.cache/...`).
struct LocalCopy {
    dir: PathBuf,
}

impl LocalCopy {
    /// `None` when there is no cache folder or the service name would leave it.
    fn of(service: &str) -> Option<LocalCopy> {
        let base = crate::config::cache_dir()?
            .join("aviso")
            .join("service_configuration");
        let dir = safe_join(&base, service.trim_matches('/'))?;
        Some(LocalCopy { dir })
    }

    /// The saved files and when they were saved; `None` if there is no copy.
    fn load(&self) -> Result<Option<(Files, SystemTime)>, String> {
        let saved_at = match std::fs::metadata(&self.dir) {
            Ok(metadata) => metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", self.dir.display())),
        };
        Ok(Some((read_tree(&self.dir)?, saved_at)))
    }

    /// Replaces the copy with `files` (unless it already holds exactly them): written in a new
    /// folder, then swapped in, so a reader never sees a mix of old and new files.
    fn save(&self, files: &[(String, Vec<u8>)]) -> Result<(), String> {
        if let Ok(Some((mut saved, _))) = self.load() {
            let mut wanted = files.to_vec();
            saved.sort();
            wanted.sort();
            if saved == wanted {
                // Still current: "saved on" tells when the server last confirmed it.
                let _ = std::fs::File::open(&self.dir)
                    .and_then(|dir| dir.set_modified(SystemTime::now()));
                return Ok(());
            }
        }
        let parent = self
            .dir
            .parent()
            .expect("the copy is inside the cache folder");
        let io = |what: &str, path: &Path, e: std::io::Error| {
            format!("cannot {what} {}: {e}", path.display())
        };
        std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        let fresh = tempfile::Builder::new()
            .prefix(".new-")
            .tempdir_in(parent)
            .map_err(|e| io("write in", parent, e))?;
        for (relative, content) in files {
            let Some(path) = safe_join(fresh.path(), relative) else {
                continue;
            };
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|e| io("create", folder, e))?;
            }
            std::fs::write(&path, content).map_err(|e| io("write", &path, e))?;
        }
        let old = tempfile::Builder::new()
            .prefix(".old-")
            .tempdir_in(parent)
            .map_err(|e| io("write in", parent, e))?;
        let retired = old.path().join("copy");
        if self.dir.exists() {
            std::fs::rename(&self.dir, &retired).map_err(|e| io("replace", &self.dir, e))?;
        }
        std::fs::rename(fresh.keep(), &self.dir).map_err(|e| io("write", &self.dir, e))?;
        Ok(())
    }
}

/// Every regular file under `dir`, with its path relative to `dir` (`/`-separated).
fn read_tree(dir: &Path) -> Result<Files, String> {
    let mut paths = Vec::new();
    collect_files(dir, &mut paths).map_err(|e| e.to_string())?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let content =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let relative = path
                .strip_prefix(dir)
                .expect("walked under dir")
                .to_string_lossy()
                .into_owned();
            Ok((relative, content))
        })
        .collect()
}
