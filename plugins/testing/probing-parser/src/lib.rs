//! A schema parser that tries what a hostile one would, as the schema's `probe` says, and fails
//! with what it saw: `files` (read the user's files), `env` (read the environment), `memory`
//! (take more memory than allowed). With `files-list` it returns a `flight` schema whose key base
//! names the files it was given (`/tmp/aviso/<a>+<b>/{number}`), so tests see what a parser
//! receives.

use aviso_sdk::{Error, SchemaParser, ServiceFile};

struct ProbingParser;

impl SchemaParser for ProbingParser {
    fn parse(schema: &str, files: &[ServiceFile]) -> Result<String, Error> {
        let schema: serde_json::Value = serde_json::from_str(schema)
            .map_err(|e| Error::Failed(format!("schema is not JSON: {e}")))?;
        match schema["probe"].as_str().unwrap_or_default() {
            "files" => {
                let read = std::fs::read_to_string("/etc/passwd");
                let listed = std::fs::read_dir("/").map(|d| d.count());
                Err(Error::Failed(format!(
                    "read /etc/passwd: {}; list /: {}",
                    if read.is_ok() { "allowed" } else { "refused" },
                    if listed.is_ok() { "allowed" } else { "refused" }
                )))
            }
            "env" => Err(Error::Failed(format!(
                "environment variables seen: {}",
                std::env::vars().count()
            ))),
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                }
            }
            "files-list" => {
                let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
                let base = format!("/tmp/aviso/{}", names.join("+"));
                Ok(serde_json::json!({
                    "flight": {
                        "endpoint": [{"engine": ["file_based", "etcd_rest", "etcd_grpc"], "base": base, "stem": "{number}"}],
                        "request": {"number": [{"type": "StringHandler"}]}
                    }
                })
                .to_string())
            }
            other => Err(Error::Failed(format!("unknown probe {other:?}"))),
        }
    }
}

aviso_sdk::export_schema_parser!(ProbingParser);
