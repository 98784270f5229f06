//! Command line: run a node, or check a configuration file.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use raftmasq_config::Config;

pub const DEFAULT_CONFIG: &str = "/etc/raftmasq/raftmasq.toml";

/// The kernel sends SIGTERM when our parent dies. Had it died before the
/// request, we were already handed to another parent: stop at once.
fn exit_with_parent(parent: u32) -> anyhow::Result<()> {
    use nix::sys::signal::Signal;
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)
        .context("cannot set the parent-death signal")?;
    let current = u32::try_from(nix::unistd::getppid().as_raw()).unwrap_or(0);
    if current != parent {
        anyhow::bail!("the parent process {parent} is gone (now {current}); not starting");
    }
    Ok(())
}

#[derive(Debug, Parser)]
#[command(
    name = "raftmasq",
    version,
    about = "Raft-replicated DHCPv4 + DNS for multi-host LXD/Incus clouds"
)]
pub struct Cli {
    /// Configuration file of this host.
    #[arg(long, short, global = true, env = "RAFTMASQ_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Exit (as on SIGTERM) when the process with this pid, our parent, dies:
    /// how `raftmasq demo` keeps its nodes from outliving it.
    #[arg(long, global = true, hide = true, value_name = "PID")]
    pub exit_with_parent: Option<u32>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run this host's node (the default).
    Run,
    /// A three-node demo cluster on loopback with simulated clients (no root needed).
    Demo {
        /// Keep data and logs in this directory instead of a temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write this node's state (leases, reservations, records) as JSON, read
    /// from its data directory. The node must be stopped. For backups, and to
    /// rebuild a cluster when a majority of hosts is lost for good.
    Export {
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print the raftmasq(8) man page (roff), or write raftmasq.8 and
    /// raftmasq.toml.5 into --dir.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print raftmasq.toml(5), the configuration file's page, instead.
        #[arg(long, conflicts_with = "dir")]
        config_file: bool,
    },
    /// Print the shell completion script of raftmasq.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Create the cluster CA and issue, renew or rotate node certificates
    /// for the cluster link (TLS).
    Cert {
        #[command(subcommand)]
        action: crate::cert::CertCommand,
    },
    /// Validate the configuration file (and the token file) and exit.
    Check {
        /// The file to check (default: --config).
        file: Option<PathBuf>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(parent) = cli.exit_with_parent {
        exit_with_parent(parent)?;
    }
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = Config::read(&cli.config)?;
            let token = config.load_token()?;
            let log_level = crate::logging::init(&config.log)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(crate::daemon::run(cli.config, config, token, log_level))
        }
        Command::Demo { dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(crate::demo::run(dir))
        }
        Command::Export { output } => {
            let config = Config::read(&cli.config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let text = runtime.block_on(crate::export::export(&config))?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
        Command::Man { dir: Some(dir), .. } => crate::man::write_pages(&dir),
        Command::Man {
            dir: None,
            config_file,
        } => {
            let page = if config_file {
                crate::man::config_page().into_bytes()
            } else {
                crate::man::raftmasq_page()?
            };
            write_stdout(&page)
        }
        Command::Completions { shell } => write_stdout(&crate::man::completions(shell)),
        Command::Check { file } => crate::check::run(&file.unwrap_or(cli.config)),
        Command::Cert { action } => crate::cert::run(action),
    }
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(bytes)
        .context("cannot write to standard output")
}
