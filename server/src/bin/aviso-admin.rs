//! aviso-admin: compacts etcd's history and deletes notifications past their retention, daily
//! or once.

use std::path::PathBuf;
use std::process::ExitCode;

use aviso_server::admin::{Admin, AdminSettings};
use aviso_server::settings::Sources;
use clap::Parser;

/// Keeps Aviso's etcd at a constant size: the compactor compacts the history older than its
/// retention, the cleaner deletes the notifications older than its retention (catching up
/// every day missed since its last run). Configuration: /etc/aviso-admin/config.yaml,
/// ~/.aviso-admin/config.yaml, $AVISO_ADMIN_CONFIG, --config, AVISO_ADMIN_* variables.
#[derive(Parser)]
#[command(name = "aviso-admin", version)]
struct Options {
    /// A configuration file read after the others.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run the enabled jobs once, now, and exit (0 when every job succeeded).
    #[arg(long)]
    once: bool,
    /// List what would be compacted and deleted, change nothing, and exit (implies --once).
    #[arg(long)]
    dry_run: bool,
    /// Debug messages.
    #[arg(short, long)]
    debug: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let settings = match AdminSettings::load(&Sources::from_process("aviso-admin", options.config))
    {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    aviso_server::http::init_logging(options.debug || settings.debug);
    let admin = match Admin::new(settings) {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = if options.once || options.dry_run {
        admin.once(options.dry_run).await
    } else {
        admin.scheduled().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
