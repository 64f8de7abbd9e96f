//! Compiled plugin code on disk, keyed by the component's SHA-256 and the engine's
//! compatibility hash. An entry is used only if its own checksum matches and wasmtime accepts
//! it; anything else is recompiled and rewritten (written to a temporary file, then renamed).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::inspect::InspectError;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins are kept; `None` compiles in memory every time.
#[derive(Debug, Clone, Default)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// No disk cache.
    pub fn in_memory() -> ComponentCache {
        ComponentCache { dir: None }
    }

    /// A cache in `dir` (created with mode 0700). Compiled code in it runs as native code, so a
    /// directory that other users can write to is refused.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Result<ComponentCache, String> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create the plugin cache {}: {e}", dir.display()))?;
        let metadata = std::fs::metadata(&dir)
            .map_err(|e| format!("cannot use the plugin cache {}: {e}", dir.display()))?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Err(format!(
                "the plugin cache {} must belong to the current user and not be writable by others; it belongs to user {}: remove it, or set XDG_CACHE_HOME to a folder of your own",
                dir.display(),
                metadata.uid()
            ));
        }
        if metadata.permissions().mode() & 0o022 != 0 {
            return Err(format!(
                "the plugin cache {} must belong to the current user and not be writable by others; make it private with `chmod go-w {}`",
                dir.display(),
                dir.display()
            ));
        }
        Ok(ComponentCache { dir: Some(dir) })
    }

    /// `$XDG_CACHE_HOME/aviso/plugins` or `~/.cache/aviso/plugins`; in memory if neither can
    /// be used (with a warning).
    pub fn standard() -> ComponentCache {
        match crate::config::cache_dir()
            .map(|b| ComponentCache::in_dir(b.join("aviso").join("plugins")))
        {
            Some(Ok(cache)) => cache,
            Some(Err(reason)) => {
                tracing::warn!("{reason}; compiling plugins in memory");
                ComponentCache::in_memory()
            }
            None => ComponentCache::in_memory(),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The component, from the cache when a valid entry exists, else compiled (and stored).
    pub fn load(&self, engine: &Engine, name: &str, wasm: &[u8]) -> Result<Component, String> {
        let Some(dir) = &self.dir else {
            announce_compilation(name, wasm, None);
            return compile(engine, wasm);
        };
        let entry = dir
            .join(engine_fingerprint(engine))
            .join(format!("{}.cwasm", hex(&Sha256::digest(wasm))));
        if let Some(component) = read_entry(engine, &entry) {
            return Ok(component);
        }
        announce_compilation(name, wasm, Some(dir));
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| not_a_component(wasm, &e))?;
        if let Err(e) = write_entry(&entry, &compiled) {
            tracing::warn!("Cannot store compiled plugin in {}: {e}", entry.display());
        }
        // SAFETY: these bytes were produced by this engine just now.
        unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| format!("{e:#}"))
    }
}

/// Components this large (a Python or JavaScript interpreter inside) take seconds to compile.
const ANNOUNCED_COMPILATION_BYTES: usize = 1 << 20;

/// Says why a listener pauses before it starts: a large plugin compiled for the first time.
fn announce_compilation(name: &str, wasm: &[u8], cache: Option<&Path>) {
    if wasm.len() < ANNOUNCED_COMPILATION_BYTES {
        return;
    }
    let size = wasm.len() >> 20;
    let name = if name.is_empty() {
        String::new()
    } else {
        format!(" {name}")
    };
    match cache {
        Some(dir) => tracing::info!(
            "Compiling plugin{name} ({size} MiB) for its first use; this takes a few seconds, later runs load it from {}",
            dir.display()
        ),
        None => tracing::info!(
            "Compiling plugin{name} ({size} MiB); this takes a few seconds (no plugin cache: set HOME or XDG_CACHE_HOME to keep it)"
        ),
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, String> {
    Component::new(engine, wasm).map_err(|e| not_a_component(wasm, &e))
}

/// Why `wasm` does not compile, in words: a file that is not WebAssembly at all or a core
/// module gets the sentence that says so, not the parser's dump of the header bytes.
fn not_a_component(wasm: &[u8], error: &wasmtime::Error) -> String {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return InspectError::NotWasm.to_string();
    }
    // The header's layer field: 0 for a core module, 1 for a component.
    if wasm[6..8] == [0, 0] {
        return InspectError::CoreModule.to_string();
    }
    InspectError::Invalid(format!("{error:#}")).to_string()
}

/// Changes whenever wasmtime's version or the engine's code-relevant settings change.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("wasmtime-48-{:016x}", hasher.finish())
}

/// A cache entry: the compiled code followed by its SHA-256 (32 bytes).
fn read_entry(engine: &Engine, entry: &Path) -> Option<Component> {
    let bytes = std::fs::read(entry).ok()?;
    let (code, checksum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(code).as_slice() != checksum {
        tracing::warn!(
            "Compiled plugin {} is corrupt; recompiling",
            entry.display()
        );
        return None;
    }
    // SAFETY: the entry lives in a directory only this user can write (checked in `in_dir`),
    // was written by this program, and its checksum matches; wasmtime also refuses code
    // compiled by another version or with other settings.
    match unsafe { Component::deserialize(engine, code) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(
                "Compiled plugin {} cannot be used ({e}); recompiling",
                entry.display()
            );
            None
        }
    }
}

fn write_entry(entry: &Path, code: &[u8]) -> std::io::Result<()> {
    let dir = entry.parent().expect("entries live in a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(code)?;
    file.write_all(&Sha256::digest(code))?;
    file.as_file().sync_all()?;
    file.persist(entry).map_err(|e| e.error)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for fingerprint in std::fs::read_dir(dir).unwrap() {
            for entry in std::fs::read_dir(fingerprint.unwrap().path()).unwrap() {
                found.push(entry.unwrap().path());
            }
        }
        found
    }

    #[test]
    fn compiled_code_is_stored_and_a_corrupt_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::in_dir(dir.path().join("plugins")).unwrap();
        let engine = Engine::default();
        cache
            .load(&engine, "echo", crate::plugin::builtin::ECHO)
            .unwrap();
        let stored = entries(cache.dir().unwrap());
        assert_eq!(stored.len(), 1);
        let good = std::fs::read(&stored[0]).unwrap();

        // A flipped byte: the checksum no longer matches, so the entry is rebuilt.
        let mut corrupt = good.clone();
        corrupt[good.len() / 2] ^= 0xff;
        std::fs::write(&stored[0], &corrupt).unwrap();
        cache
            .load(&engine, "echo", crate::plugin::builtin::ECHO)
            .unwrap();
        assert_eq!(std::fs::read(&stored[0]).unwrap(), good);

        // A truncated entry is rebuilt too.
        std::fs::write(&stored[0], &good[..10]).unwrap();
        cache
            .load(&engine, "echo", crate::plugin::builtin::ECHO)
            .unwrap();
        assert_eq!(std::fs::read(&stored[0]).unwrap(), good);

        // Another component gets its own entry.
        cache
            .load(&engine, "log", crate::plugin::builtin::LOG)
            .unwrap();
        assert_eq!(entries(cache.dir().unwrap()).len(), 2);
    }

    #[test]
    fn a_cache_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = ComponentCache::in_dir(&shared).unwrap_err();
        assert!(
            error.contains("must belong to the current user and not be writable by others")
                && error.contains("chmod go-w"),
            "{error}"
        );
    }

    #[test]
    fn bytes_that_are_not_a_component_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::in_dir(dir.path()).unwrap();
        let error = cache
            .load(&Engine::default(), "garbage", b"\0asm garbage")
            .unwrap_err();
        assert!(
            error.starts_with("it is not a valid WebAssembly component"),
            "{error}"
        );
        let error = cache
            .load(&Engine::default(), "text", b"hello, world")
            .unwrap_err();
        assert_eq!(
            error,
            "it is not a WebAssembly file (it does not start with the bytes \\0asm)"
        );
    }
}
