//! The `aviso-config` command line: pyaviso's options, messages and exit codes for managing
//! the configuration files of a service (see [`crate::service_config`]).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use super::{CommonOptions, report_usage_error, with_settings};
use crate::config::{CliOverrides, Program};

#[derive(Debug, Parser)]
#[command(
    name = "aviso-config",
    override_usage = "aviso-config [OPTIONS] COMMAND [ARGS]...",
    about = "Aviso configuration: store and version the configuration files of a service.",
    disable_version_flag = true,
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
struct AvisoConfigCli {
    /// Show the version and exit.
    #[arg(long, action = clap::ArgAction::SetTrue)]
    version: bool,
    #[command(subcommand)]
    command: Option<ConfigCommand>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Pull all files associated with the service defined.
    #[command(override_usage = "aviso-config pull [OPTIONS] SERVICE")]
    Pull {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ConfigServerOptions,
        /// Destination directory to pull into.
        #[arg(short = 'D', long = "dir", value_name = "TEXT", default_value = ".")]
        dir: PathBuf,
        /// Allows delete of local files if they do not exist on the server.
        #[arg(long)]
        delete: bool,
        service: String,
    },
    /// Push all files from the directory selected to the service defined, respecting the
    /// subdirectory structure.
    #[command(override_usage = "aviso-config push [OPTIONS] SERVICE")]
    Push {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ConfigServerOptions,
        /// Directory to push.
        #[arg(short = 'D', long = "dir", value_name = "TEXT", required = true)]
        dir: PathBuf,
        /// Message to associate to the push.
        #[arg(short = 'm', long = "message", value_name = "TEXT", required = true)]
        message: String,
        /// Allows delete of files on server if they do not exist locally.
        #[arg(long)]
        delete: bool,
        service: String,
    },
    /// Remove all files associated with the service defined.
    #[command(override_usage = "aviso-config remove [OPTIONS] SERVICE")]
    Remove {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ConfigServerOptions,
        /// Remove without prompt.
        #[arg(short = 'f', long = "doit")]
        doit: bool,
        service: String,
    },
    /// Revert all files associated with the service defined to the previous version.
    #[command(override_usage = "aviso-config revert [OPTIONS] SERVICE")]
    Revert {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ConfigServerOptions,
        service: String,
    },
    /// Retrieve the status of the service defined.
    #[command(override_usage = "aviso-config status [OPTIONS] SERVICE")]
    Status {
        #[command(flatten)]
        common: CommonOptions,
        #[command(flatten)]
        server: ConfigServerOptions,
        service: String,
    },
}

/// The configuration server's address (aviso-config uses no notification server).
#[derive(Debug, Args)]
struct ConfigServerOptions {
    /// Configuration server host.
    #[arg(short = 'H', long, value_name = "TEXT")]
    host: Option<String>,
    /// Configuration server port.
    #[arg(short = 'P', long, value_name = "INTEGER")]
    port: Option<u16>,
}

impl ConfigServerOptions {
    fn overrides(&self, common: &CommonOptions) -> CliOverrides {
        CliOverrides {
            host: self.host.clone(),
            port: self.port,
            test: false,
            username: common.username.clone(),
            key_file: common.key_file.clone(),
            debug: common.debug,
            quiet: common.quiet,
            no_fail: common.no_fail,
            log: common.log.clone(),
            catchup: false,
            now: false,
        }
    }
}

/// Runs `aviso-config` with these arguments and returns the process exit status.
/// The command line of `aviso-config`, for completions and its manual page.
pub(super) fn command() -> clap::Command {
    use clap::CommandFactory;
    AvisoConfigCli::command()
}

pub fn run_aviso_config<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match AvisoConfigCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(&error, &AvisoConfigCli::command()),
    };
    if cli.version {
        println!("aviso-config, version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(command) = cli.command else {
        return 0;
    };
    let (common, server) = match &command {
        ConfigCommand::Pull { common, server, .. }
        | ConfigCommand::Push { common, server, .. }
        | ConfigCommand::Remove { common, server, .. }
        | ConfigCommand::Revert { common, server, .. }
        | ConfigCommand::Status { common, server, .. } => (common, server),
    };
    with_settings(
        common,
        Program::AvisoConfig,
        server.overrides(common),
        false,
        |aviso| {
            let services = aviso.service_config()?;
            let mut stdout = std::io::stdout();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                match &command {
                    ConfigCommand::Push {
                        dir,
                        message,
                        delete,
                        service,
                        ..
                    } => {
                        let pushed = services.push(service, dir, message, *delete).await?;
                        report_files(
                            &mut stdout,
                            &pushed,
                            &format!("No file found to push for service {service}"),
                            &format!("Push operation for service {service} successfully executed"),
                        )?;
                    }
                    ConfigCommand::Pull {
                        dir,
                        delete,
                        service,
                        ..
                    } => {
                        let pulled = services.pull(service, dir, *delete).await?;
                        report_files(
                            &mut stdout,
                            &pulled,
                            &format!("No files found for service {service}"),
                            &format!("Pull operation for service {service} successfully executed"),
                        )?;
                    }
                    ConfigCommand::Remove { doit, service, .. } => {
                        let keys = if *doit {
                            services.remove(service).await?
                        } else {
                            let mut files = services.files(service).await?;
                            files.reverse();
                            files
                        };
                        if keys.is_empty() {
                            tracing::warn!("No files found for service {service}");
                        } else {
                            for key in &keys {
                                writeln!(stdout, "{key}")?;
                            }
                            if *doit {
                                tracing::info!(
                                    "Remove operation for service {service} successfully executed"
                                );
                            } else {
                                tracing::info!("remove --doit to delete these files");
                            }
                        }
                    }
                    ConfigCommand::Revert { service, .. } => {
                        let keys = services.revert(service).await?;
                        if keys.is_empty() && !services.files(service).await?.is_empty() {
                            tracing::warn!(
                                "Nothing to revert: {service} has a single version (its files are unchanged)"
                            );
                        } else if keys.is_empty() {
                            tracing::warn!("No files found for service {service}");
                        } else {
                            for key in &keys {
                                writeln!(stdout, "{key}")?;
                            }
                            tracing::info!(
                                "Revert operation for service {service} successfully executed"
                            );
                        }
                    }
                    ConfigCommand::Status { service, .. } => {
                        match services.status(service).await? {
                            Some(status) => writeln!(stdout, "{status}")?,
                            None => tracing::warn!("No service {service} found"),
                        }
                    }
                }
                anyhow::Ok(())
            })
        },
    )
}

/// Prints the files a push or pull wrote, one per line, then `done`; or warns `none` when there
/// were none (pyaviso's messages).
fn report_files(
    stdout: &mut impl Write,
    files: &[PathBuf],
    none: &str,
    done: &str,
) -> std::io::Result<()> {
    if files.is_empty() {
        tracing::warn!("{none}");
        return Ok(());
    }
    for path in files {
        writeln!(stdout, "{}", path.display())?;
    }
    tracing::info!("{done}");
    Ok(())
}
