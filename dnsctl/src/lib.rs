//! `dnsctl`: the operator CLI of raftmasq, over the admin API of a node.
//!
//! The library holds the CLI (the `dnsctl` binary is built by the root package
//! and only calls [`main`]). The admin API's JSON types and the import planner
//! live in `raftmasq-api`, which the daemon uses too; they are re-exported here
//! as [`api`] and [`import`].

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub use raftmasq_api as api;
pub use raftmasq_api::import;
pub mod cli;
mod client;
mod commands;
mod error;
mod output;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use cli::Cli;
pub use commands::{Health, Outcome, health};
pub use error::Error;

/// The `dnsctl` entry point: parses the command line, runs it, prints the
/// result or the error. Exit codes: 0 ok, 1 error, 2 usage; `status` adds
/// 3 degraded and 4 no quorum ([`Health`]).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(&cli) {
        Ok(outcome) => {
            let mut stdout = std::io::stdout().lock();
            let colour = output::use_colour(
                stdout.is_terminal(),
                std::env::var("NO_COLOR").ok().as_deref(),
            );
            let text = output::terminal_safe(&outcome.text, colour);
            // A closed pipe (`dnsctl leases | head`) is not an error worth reporting.
            let _ = stdout.write_all(text.as_bytes());
            ExitCode::from(outcome.exit_code)
        }
        Err(error) => {
            eprintln!(
                "dnsctl: {}",
                output::terminal_safe(&error.to_string(), false)
            );
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs a parsed command line and returns what to print and the exit code.
pub fn run(cli: &Cli) -> Result<Outcome, Error> {
    match &cli.command {
        cli::Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "dnsctl", &mut out);
            Ok(String::from_utf8_lossy(&out).into_owned().into())
        }
        cli::Command::Man { dir: None } => man_page().map(Outcome::from),
        cli::Command::Man { dir: Some(dir) } => man_pages_to(dir).map(Outcome::from),
        cli::Command::ExportDnsmasq {
            state,
            leases,
            hosts,
            conf,
        } => commands::export::export_dnsmasq(
            state,
            &commands::export::Targets {
                leases,
                hosts: hosts.as_deref(),
                conf: conf.as_deref(),
            },
            cli.json,
            commands::now_millis(),
        )
        .map(Outcome::from),
        _ => {
            let style = commands::Style {
                json: cli.json,
                colour: output::use_colour(
                    std::io::stdout().is_terminal(),
                    std::env::var("NO_COLOR").ok().as_deref(),
                ),
            };
            commands::run(cli, &style)
        }
    }
}

/// The man page (roff) of `dnsctl`, listing its subcommands.
pub fn man_page() -> Result<String, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(Error::Runtime)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Writes `dnsctl.1` and one page per subcommand (`dnsctl-leases.1`, ...) to `dir`.
pub fn man_pages_to(dir: &std::path::Path) -> Result<String, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(Error::Runtime)?;
    Ok(format!("man pages written to {}\n", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_come_from_the_cli_definition() {
        let cli = Cli::try_parse_from(["dnsctl", "completions", "bash"]).unwrap();
        let script = run(&cli).unwrap().text;
        for subcommand in ["import-dnsmasq", "export-dnsmasq", "--lxd-hosts"] {
            assert!(
                script.contains(subcommand),
                "bash completion lacks {subcommand}"
            );
        }
        assert!(script.contains("--consistent"));
        let man = man_page().unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH dnsctl"),
            "{}",
            &man[..200]
        );
        assert!(man.contains("import\\-dnsmasq"), "subcommands are listed");
        assert!(man.contains("export\\-dnsmasq"), "subcommands are listed");
        assert!(man.contains("Exit codes"));
        let dir = tempfile::tempdir().unwrap();
        man_pages_to(dir.path()).unwrap();
        for page in [
            "dnsctl.1",
            "dnsctl-leases.1",
            "dnsctl-records-add.1",
            "dnsctl-export-dnsmasq.1",
        ] {
            assert!(dir.path().join(page).exists(), "{page} not written");
        }
    }
}
