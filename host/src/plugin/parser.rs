//! Schema parser plugins: components exporting `aviso:plugin/schema-parser`, run once when a
//! client loads its event schema, with no capability but the log.

use std::sync::Arc;
use std::time::Duration;

use super::parser_bindings::SchemaParserPluginPre;
use super::{Grants, HostState, Limits, Output, PluginEngine, PluginError, Sandbox};

/// Limits of one parse: the MARS language file is about a megabyte of JSON.
const PARSER_LIMITS: Limits = Limits {
    memory_bytes: 256 << 20,
    timeout: Duration::from_secs(30),
    output_bytes: 1 << 20,
};

/// A loaded schema parser.
#[derive(Clone)]
pub struct SchemaParserPlugin {
    pre: SchemaParserPluginPre<HostState>,
    sandbox: Arc<Sandbox>,
}

impl PluginEngine {
    /// Loads a schema parser component; it may import nothing beyond WASI's basics and the log.
    pub fn load_schema_parser(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<SchemaParserPlugin, PluginError> {
        let (pre, sandbox) = self.prepare(name, wasm, Grants::default(), PARSER_LIMITS)?;
        let pre = SchemaParserPluginPre::new(pre).map_err(|e| PluginError::Load {
            plugin: name.to_string(),
            reason: format!(
                "it is not an Aviso schema parser (aviso:plugin/schema-parser@0.1.0): {e:#}"
            ),
        })?;
        Ok(SchemaParserPlugin {
            pre,
            sandbox: Arc::new(sandbox),
        })
    }
}

impl SchemaParserPlugin {
    pub fn name(&self) -> &str {
        &self.sandbox.name
    }

    /// The final schema (JSON text) for a schema as found and the files of its service.
    pub async fn parse(
        &self,
        schema: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<(String, Output), (PluginError, Output)> {
        let pre = self.pre.clone();
        let (schema, files) = (schema.to_string(), files.to_vec());
        self.sandbox
            .run(move |mut store| async move {
                let parser = pre.instantiate_async(&mut store).await?;
                parser
                    .aviso_plugin_schema_parser()
                    .call_parse(&mut store, &schema, &files)
                    .await
            })
            .await
    }
}
