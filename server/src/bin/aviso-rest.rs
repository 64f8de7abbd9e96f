//! aviso-rest: notifications submitted over HTTP (CloudEvents or plain JSON), written to etcd.

use std::path::PathBuf;
use std::process::ExitCode;

use aviso_server::rest::RestSettings;
use aviso_server::settings::Sources;
use clap::Parser;

/// Takes notifications over HTTP (`POST /api/v1/notification`, CloudEvents 1.0 or plain JSON),
/// validates them with the event schema and writes them to the store. Configuration:
/// /etc/aviso-rest/config.yaml, ~/.aviso-rest/config.yaml, $AVISO_REST_CONFIG, --config,
/// AVISO_REST_* variables; the aviso client's settings in its `aviso:` section.
#[derive(Parser)]
#[command(name = "aviso-rest", version)]
struct Options {
    /// A configuration file read after the others.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Debug messages.
    #[arg(short, long)]
    debug: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let settings = match RestSettings::load(&Sources::from_process("aviso-rest", options.config)) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    aviso_server::http::init_logging(options.debug || settings.debug);
    match aviso_server::rest::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
