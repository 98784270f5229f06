//! raftmasq: Raft-replicated DHCPv4 + DNS for multi-host LXD/Incus clouds.

mod admin;
mod cert;
mod check;
mod cli;
mod daemon;
mod demo;
mod demo_relay;
mod dhcp;
mod dhcp6;
mod dhcp6_stateful;
mod dhcp_relay;
mod dns;
mod export;
mod file_settings;
mod limits;
mod logging;
mod lxd;
mod man;
mod network_addresses;
mod port_holder;
mod ra;
mod record_networks;
mod records_file;
mod settings_drift;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before any thread: see the function's docs and docs/benchmarks.md.
    raftmasq_consensus::store::limit_malloc_arenas();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raftmasq: {error:#}");
            ExitCode::FAILURE
        }
    }
}
