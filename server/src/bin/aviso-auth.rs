//! aviso-auth: authenticates and authorises reads of etcd (range and watch) for Aviso's
//! listeners.

use std::path::PathBuf;
use std::process::ExitCode;

use aviso_server::auth::AuthSettings;
use aviso_server::settings::Sources;
use clap::Parser;

/// A proxy in front of etcd's JSON gateway: each request's token is checked by the
/// authentication server, the keys it reads are checked against the open prefixes and the
/// user's destinations (ECPDS), then etcd answers. Configuration: /etc/aviso-auth/config.yaml,
/// ~/.aviso-auth/config.yaml, $AVISO_AUTH_CONFIG, --config, AVISO_AUTH_* variables.
#[derive(Parser)]
#[command(name = "aviso-auth", version)]
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
    let settings = match AuthSettings::load(&Sources::from_process("aviso-auth", options.config)) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A key that cannot be read is a configuration error too.
    if let Err(e) = settings.jwt_check() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    aviso_server::http::init_logging(options.debug || settings.debug);
    match aviso_server::auth::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
