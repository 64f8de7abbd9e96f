//! Where the schema comes from: `~/.aviso/service_configuration/`, then
//! `/etc/aviso/service_configuration/`, then the built-in `flight` schema.

use std::path::PathBuf;

use super::{Schema, SchemaError};

/// The file name pyaviso looks for in a service configuration folder.
pub const SCHEMA_FILE_NAME: &str = "event_listener_schema.json";

/// pyaviso's bundled default schema (`default_listener_schema.json`).
pub const DEFAULT_SCHEMA: &str = r#"{
   "version": 0.1,
   "flight": {
      "endpoint": [{
         "engine": ["etcd_rest", "etcd_grpc", "file_based"],
         "base": "/tmp/aviso/flight/",
         "stem": "{date}/{country}/{airport}/{number}"
      }],
      "request": {
         "date": [{"type": "DateHandler", "canonic": "%Y%m%d"}],
         "country": [{"type": "StringHandler", "canonic": "lower"}],
         "airport": [{"type": "StringHandler", "canonic": "upper"}],
         "number": [{"type": "StringHandler"}]
      }
   }
}"#;

/// The folders searched for a local schema, most specific first.
#[derive(Debug, Clone)]
pub struct SchemaLocations {
    pub folders: Vec<PathBuf>,
}

impl SchemaLocations {
    /// `~/.aviso/service_configuration` (when a home is known), then the system folder.
    pub fn standard(home: Option<PathBuf>) -> SchemaLocations {
        let mut folders = Vec::new();
        if let Some(home) = home {
            folders.push(home.join(".aviso").join("service_configuration"));
        }
        folders.push(PathBuf::from("/etc/aviso/service_configuration"));
        SchemaLocations { folders }
    }

    /// The first schema file found, or the built-in schema when there is none.
    pub fn load(&self) -> Result<Schema, SchemaError> {
        for folder in &self.folders {
            let path = folder.join(SCHEMA_FILE_NAME);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    tracing::debug!("Using the event listener schema {}", path.display());
                    return Schema::from_json(&text, &path.display().to_string());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(SchemaError {
                        origin: path.display().to_string(),
                        event: None,
                        key: None,
                        problem: format!("cannot be read: {e}"),
                    });
                }
            }
        }
        tracing::debug!("No local listener schema file found, using the built-in schema");
        Ok(Schema::default_schema())
    }
}
