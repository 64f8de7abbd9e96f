//! A plugin seen from outside, for `aviso plugin inspect` and `aviso plugin run`: the world a
//! component implements (decided as loading decides it), what it imports and exports, and one
//! call measured (time and peak memory).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::types::ComponentItem;

use super::{
    Grants, Output, Plugin, PluginEngine, PluginError, PluginNotification, bindings, build_linker,
    parser_bindings,
};

/// The WIT world a component implements, as the host decides it when loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// Exports `trigger`; imports no command capability.
    Trigger,
    /// Exports `trigger` and imports the command capability.
    CommandTrigger,
    /// Exports `schema-parser`.
    SchemaParser,
}

impl World {
    /// The world's name in `wit/plugin.wit`.
    pub fn name(self) -> &'static str {
        match self {
            World::Trigger => "trigger-plugin",
            World::CommandTrigger => "command-trigger-plugin",
            World::SchemaParser => "schema-parser-plugin",
        }
    }

    /// The interface the world exports.
    pub fn export(self) -> &'static str {
        match self {
            World::Trigger | World::CommandTrigger => "aviso:plugin/trigger@0.1.0",
            World::SchemaParser => "aviso:plugin/schema-parser@0.1.0",
        }
    }

    pub fn is_trigger(self) -> bool {
        matches!(self, World::Trigger | World::CommandTrigger)
    }
}

/// What an imported interface gives the plugin, and on what condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// `aviso:plugin/log`: always linked.
    Log,
    /// `aviso:plugin/types`: type definitions only.
    Types,
    /// `aviso:plugin/command`: a plugin importing it loads only when granted `command`.
    Command,
    /// `wasi:http/*`: a plugin importing it loads only when granted `http`.
    Http,
    /// `wasi:filesystem/*`: linked always; only granted directories exist.
    Files,
    /// `wasi:cli/environment`: linked always; only granted variables exist.
    Environment,
    /// `wasi:sockets/*`: linked, every socket refused.
    Sockets,
    /// The rest of WASI (clocks, random, streams, stdio, exit): always given.
    Basics,
    /// Nothing Aviso provides: such a component cannot load.
    Unknown,
}

impl ImportKind {
    fn of(name: &str) -> ImportKind {
        let interface = name.split('@').next().unwrap_or(name);
        match interface {
            "aviso:plugin/log" => ImportKind::Log,
            "aviso:plugin/types" => ImportKind::Types,
            "aviso:plugin/command" => ImportKind::Command,
            "wasi:cli/environment" => ImportKind::Environment,
            _ if interface.starts_with("wasi:http/") => ImportKind::Http,
            _ if interface.starts_with("wasi:filesystem/") => ImportKind::Files,
            _ if interface.starts_with("wasi:sockets/") => ImportKind::Sockets,
            _ if ["wasi:cli/", "wasi:clocks/", "wasi:io/", "wasi:random/"]
                .iter()
                .any(|prefix| interface.starts_with(prefix)) =>
            {
                ImportKind::Basics
            }
            _ => ImportKind::Unknown,
        }
    }

    /// A short word for scripts (`--json`).
    pub fn word(self) -> &'static str {
        match self {
            ImportKind::Log => "log",
            ImportKind::Types => "types",
            ImportKind::Command => "command",
            ImportKind::Http => "http",
            ImportKind::Files => "files",
            ImportKind::Environment => "environment",
            ImportKind::Sockets => "sockets",
            ImportKind::Basics => "basics",
            ImportKind::Unknown => "unknown",
        }
    }
}

/// One imported interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub name: String,
    pub kind: ImportKind,
}

/// One exported item: an interface with its functions, or a lone function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub functions: Vec<String>,
}

/// What a component is, seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub world: World,
    /// The version of `aviso-sdk` it was built with, when it carries one.
    pub sdk_version: Option<String>,
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
}

impl ComponentInfo {
    /// Whether it imports an interface of this kind.
    pub fn imports(&self, kind: ImportKind) -> bool {
        self.imports.iter().any(|import| import.kind == kind)
    }
}

/// Why a file cannot be a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("it is not a WebAssembly file (it does not start with the bytes \\0asm)")]
    NotWasm,
    #[error(
        "it is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or make a component of it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("it is not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("it imports what Aviso does not provide ({imports}): {reason}")]
    Unlinkable { imports: String, reason: String },
    #[error(
        "it does not export an Aviso world: a trigger exports aviso:plugin/trigger@0.1.0, a schema parser aviso:plugin/schema-parser@0.1.0; it exports {}",
        if .exports.is_empty() { "nothing".to_string() } else { .exports.join(", ") }
    )]
    NotOurWorld { exports: Vec<String> },
}

impl PluginEngine {
    /// Compiles a component (or takes it from the cache) and tells what it is: its world as
    /// [`PluginEngine::load`] and [`PluginEngine::load_schema_parser`] decide it, and its
    /// imports and exports.
    pub fn inspect(&self, wasm: &[u8]) -> Result<ComponentInfo, InspectError> {
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(InspectError::NotWasm);
        }
        // The header's layer field: 0 for a core module, 1 for a component.
        if wasm[6..8] == [0, 0] {
            return Err(InspectError::CoreModule);
        }
        let component = self.component("", wasm).map_err(|said| {
            let prefix = InspectError::Invalid(String::new()).to_string();
            InspectError::Invalid(said.strip_prefix(&prefix).unwrap_or(&said).to_string())
        })?;
        let component_type = component.component_type();
        let imports: Vec<Import> = component_type
            .imports(&self.engine)
            .map(|(name, _)| Import {
                name: name.to_string(),
                kind: ImportKind::of(name),
            })
            .collect();
        let exports: Vec<Export> = component_type
            .exports(&self.engine)
            .map(|(name, item)| Export {
                name: name.to_string(),
                functions: match item.ty {
                    ComponentItem::ComponentInstance(instance) => instance
                        .exports(&self.engine)
                        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
                        .map(|(name, _)| name.to_string())
                        .collect(),
                    _ => Vec::new(),
                },
            })
            .collect();
        // Linked with every capability the host has, so that only what it lacks altogether fails.
        let everything = Grants {
            http: Some(Vec::new()),
            command: true,
            ..Grants::default()
        };
        let linker = build_linker(&self.engine, &everything)
            .map_err(|e| InspectError::Invalid(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| InspectError::Unlinkable {
                imports: {
                    let unknown: Vec<&str> = imports
                        .iter()
                        .filter(|i| i.kind == ImportKind::Unknown)
                        .map(|i| i.name.as_str())
                        .collect();
                    if unknown.is_empty() {
                        "see below".to_string()
                    } else {
                        unknown.join(", ")
                    }
                },
                reason: format!("{e:#}"),
            })?;
        let world = if bindings::CommandTriggerPluginPre::new(pre.clone()).is_ok() {
            if imports.iter().any(|i| i.kind == ImportKind::Command) {
                World::CommandTrigger
            } else {
                World::Trigger
            }
        } else if parser_bindings::SchemaParserPluginPre::new(pre).is_ok() {
            World::SchemaParser
        } else {
            return Err(InspectError::NotOurWorld {
                exports: exports.iter().map(|e| e.name.clone()).collect(),
            });
        };
        Ok(ComponentInfo {
            world,
            sdk_version: super::metadata::sdk_version(wasm),
            imports,
            exports,
        })
    }
}

/// One plugin call and what it cost.
#[derive(Debug, Clone)]
pub struct MeasuredCall {
    pub result: Result<(), PluginError>,
    pub output: Output,
    /// From the call's start (a fresh instance) to its end.
    pub elapsed: Duration,
    /// The most memory (linear memories and tables) the call held at once; `None` when the call
    /// was stopped before it could be read.
    pub peak_memory_bytes: Option<usize>,
}

impl Plugin {
    /// Runs the plugin for one notification, exactly as [`Plugin::run`] does, and measures the
    /// call.
    pub async fn run_measured(
        &self,
        config: &str,
        notification: &PluginNotification,
    ) -> MeasuredCall {
        const UNKNOWN: usize = usize::MAX;
        let peak = Arc::new(AtomicUsize::new(UNKNOWN));
        let seen = peak.clone();
        let inner = self.inner.clone();
        let (config, notification) = (config.to_string(), notification.clone());
        let started = Instant::now();
        let outcome = self
            .inner
            .sandbox
            .run(move |mut store| async move {
                let result = async {
                    let plugin = inner.pre.instantiate_async(&mut store).await?;
                    plugin
                        .aviso_plugin_trigger()
                        .call_run(&mut store, &config, &notification)
                        .await
                }
                .await;
                seen.store(store.data().memory.peak(), Ordering::Relaxed);
                result
            })
            .await;
        let elapsed = started.elapsed();
        let (result, output) = match outcome {
            Ok(((), output)) => (Ok(()), output),
            Err((error, output)) => (Err(error.explained(&self.inner.sandbox.grants)), output),
        };
        let peak = peak.load(Ordering::Relaxed);
        MeasuredCall {
            result,
            output,
            elapsed,
            peak_memory_bytes: (peak != UNKNOWN).then_some(peak),
        }
    }
}
