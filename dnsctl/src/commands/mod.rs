//! One file per subcommand: call the API, print a table or JSON.

mod conflicts;
pub(crate) mod export;
mod imports;
mod leases;
mod members;
mod records;
mod release;
mod reservations;
mod settings;
mod status;
mod watch;

pub use status::{Health, health};

use std::time::{SystemTime, UNIX_EPOCH};

use raftmasq_state::Millis;
use serde::Serialize;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::error::Error;

/// How to print: JSON or a table, in colour or not.
pub struct Style {
    pub json: bool,
    pub colour: bool,
}

/// What a command prints, and the exit code it ends with: 0 unless the
/// command reports a state the operator must act on (`dnsctl status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub text: String,
    pub exit_code: u8,
}

impl From<String> for Outcome {
    fn from(text: String) -> Outcome {
        Outcome { text, exit_code: 0 }
    }
}

pub fn run(cli: &Cli, style: &Style) -> Result<Outcome, Error> {
    let client = Client::locate(cli)?;
    let text = match &cli.command {
        Command::Status => return status::status(&client, cli.consistent, style),
        Command::Leases(args) => leases::leases(&client, args, cli.consistent, style),
        Command::Members(command) => members::members(&client, command, style),
        Command::Reservations(command) => {
            reservations::reservations(&client, command, cli.consistent, style)
        }
        Command::Records(command) => records::records(&client, command, cli.consistent, style),
        Command::Release { address } => release::release(&client, *address, style),
        Command::Settings(command) => {
            settings::settings(&client, command, &cli.config, cli.consistent, style)
        }
        Command::Conflicts => conflicts::conflicts(&client, cli.consistent, style),
        Command::ImportDnsmasq {
            leases,
            conf,
            lxd_hosts,
            dry_run,
        } => imports::import_dnsmasq(
            &client,
            &imports::Sources {
                leases,
                conf: conf.as_deref(),
                lxd_hosts,
            },
            *dry_run,
            style,
        ),
        Command::ImportState { file, dry_run } => {
            imports::import_state(&client, file, *dry_run, style)
        }
        Command::Completions { .. } | Command::Man { .. } | Command::ExportDnsmasq { .. } => {
            Err(Error::Usage("this command needs no node".into()))
        }
    }?;
    Ok(text.into())
}

fn render<T: Serialize>(
    style: &Style,
    value: &T,
    text: impl FnOnce(&T, bool) -> String,
) -> Result<String, Error> {
    if style.json {
        let mut out = serde_json::to_string_pretty(value).map_err(|error| Error::Decode {
            node: "-".into(),
            reason: error.to_string(),
        })?;
        out.push('\n');
        Ok(out)
    } else {
        Ok(text(value, style.colour))
    }
}

pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
