//! The command line, as clap derives it; completions and the man page are
//! generated from the same definition.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use raftmasq_state::{MacAddr, StaticRecord};

pub use raftmasq_api::records::{RecordKind, record_data};

pub const DEFAULT_CONFIG: &str = "/etc/raftmasq/raftmasq.toml";

#[derive(Debug, Parser)]
#[command(
    name = "dnsctl",
    version,
    about = "Inspect and manage a raftmasq cluster (DHCP leases, DNS records, members)",
    long_about = "Inspect and manage a raftmasq cluster through the admin API of a node.\n\n\
        By default dnsctl talks to the node on this host, found from the daemon's configuration \
        (node.admin_addr), and uses its cluster token for writes. Reads come from that node's \
        replica and work while other members are down; --consistent asks for a linearizable read. \
        Writes reach the leader from any node.\n\n\
        Exit codes: 0 success, 1 error, 2 usage error."
)]
pub struct Cli {
    /// The daemon's configuration file, to find the local node and its token.
    #[arg(long, short, global = true, env = "RAFTMASQ_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Admin API address of the node to talk to (overrides the configuration).
    #[arg(long, global = true, env = "DNSCTL_NODE", value_name = "ADDR")]
    pub node: Option<String>,
    /// File holding the cluster token, for writes to a node that is not on loopback.
    #[arg(long, global = true, env = "DNSCTL_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print JSON (stable, documented in docs/dnsctl.md) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Linearizable read: confirmed by a quorum, not just this node's replica.
    #[arg(long, global = true)]
    pub consistent: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Leases: address, MAC, hostname asked, DNS name granted, state, expiry, host.
    Leases(LeaseArgs),
    /// Members, roles, reachability, Raft indexes and lag, pool use, quorum.
    Status,
    /// Add, promote or remove cluster members.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Fixed addresses (and names) for MAC addresses.
    #[command(subcommand)]
    Reservations(ReservationsCommand),
    /// Static DNS records (A, AAAA, CNAME, TXT, SRV, MX).
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Release a lease now: the address returns to the pool, the name is freed.
    Release { address: Ipv4Addr },
    /// Hostname conflicts: who holds a name, who asked later, what it got instead.
    Conflicts,
    /// Import a running dnsmasq's leases and dhcp-host reservations.
    #[command(name = "import-dnsmasq")]
    ImportDnsmasq {
        /// dnsmasq's lease file (e.g. /var/lib/misc/dnsmasq.leases).
        #[arg(long, value_name = "FILE")]
        leases: PathBuf,
        /// A dnsmasq configuration file whose dhcp-host= lines become reservations.
        #[arg(long, value_name = "FILE")]
        conf: Option<PathBuf>,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore a `raftmasq export` file into this cluster: bound leases keep
    /// their address and remaining time, reservations and records are added
    /// (after a lost majority, or to move to a new cluster).
    ImportState {
        /// The JSON written by `raftmasq export`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per subcommand to --dir.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// Only clients seen by this node's bridge (node id).
    #[arg(long, value_name = "NODE")]
    pub host: Option<u64>,
    /// Only this MAC address.
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<MacAddr>,
    /// Only hostnames or DNS names containing this text.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum)]
    pub state: Option<LeaseStateArg>,
    #[arg(long, value_enum, default_value = "address")]
    pub sort: SortKey,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LeaseStateArg {
    Offered,
    Bound,
    Expired,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortKey {
    Address,
    Mac,
    Hostname,
    Name,
    State,
    Expires,
    Host,
}

impl LeaseStateArg {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseStateArg::Offered => "offered",
            LeaseStateArg::Bound => "bound",
            LeaseStateArg::Expired => "expired",
        }
    }
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Address => "address",
            SortKey::Mac => "mac",
            SortKey::Hostname => "hostname",
            SortKey::Name => "name",
            SortKey::State => "state",
            SortKey::Expires => "expires",
            SortKey::Host => "host",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Add a node as a learner (it replicates, does not vote).
    Add {
        id: u64,
        /// Its cluster address (node.cluster_addr), e.g. 10.99.0.4:7380.
        cluster_addr: String,
        /// Its admin API address, if known.
        #[arg(long)]
        admin_addr: Option<String>,
    },
    /// Make a caught-up learner a voter.
    Promote { id: u64 },
    /// Remove a member (voter or learner).
    Remove { id: u64 },
}

#[derive(Debug, Subcommand)]
pub enum ReservationsCommand {
    /// Reserve ADDRESS (and optionally a hostname) for MAC.
    Add {
        #[arg(value_parser = parse_mac)]
        mac: MacAddr,
        address: Ipv4Addr,
        hostname: Option<String>,
    },
    /// Remove MAC's reservation.
    #[command(alias = "remove")]
    Rm {
        #[arg(value_parser = parse_mac)]
        mac: MacAddr,
    },
    /// List reservations.
    #[command(alias = "ls")]
    List,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Add a record: NAME TYPE VALUE... (see `dnsctl records add --help`).
    #[command(long_about = "Add a static record. Values by type:\n  \
        A ADDRESS | AAAA ADDRESS | CNAME TARGET | TXT TEXT... |\n  \
        SRV PRIORITY WEIGHT PORT TARGET | MX PREFERENCE EXCHANGE\n\
        A NAME without a dot (e.g. www) is placed in the cluster domain; end it with a dot to \
        make it absolute.")]
    Add(RecordArgs),
    /// Remove a record (same arguments as add).
    #[command(alias = "remove")]
    Rm(RecordArgs),
    /// List records, optionally only those of NAME.
    #[command(alias = "ls")]
    List { name: Option<String> },
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    pub name: String,
    #[arg(value_enum, ignore_case = true)]
    pub kind: RecordKind,
    #[arg(required = true, num_args = 1..)]
    pub values: Vec<String>,
    /// TTL in seconds (default: the server's).
    #[arg(long)]
    pub ttl: Option<u32>,
}

pub fn parse_mac(text: &str) -> Result<MacAddr, String> {
    text.parse()
        .map_err(|error: raftmasq_state::InvalidMac| error.to_string())
}

impl RecordArgs {
    /// The record these arguments describe, or why they do not describe one.
    pub fn record(&self) -> Result<StaticRecord, String> {
        let data = record_data(self.kind, &self.values)?;
        Ok(StaticRecord {
            name: self.name.clone(),
            ttl: self.ttl,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments_are_validated_by_the_parser() {
        let parse = |args: &[&str]| Cli::try_parse_from(args);
        let error =
            parse(&["dnsctl", "reservations", "add", "02:42:zz", "10.0.0.5"]).expect_err("bad mac");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("invalid MAC address"), "{error}");
        let error = parse(&["dnsctl", "release", "10.0.0"]).expect_err("bad address");
        assert_eq!(error.exit_code(), 2);
        let error = parse(&["dnsctl", "leases", "--sort", "colour"]).expect_err("bad sort");
        assert_eq!(error.exit_code(), 2);
        let ok = parse(&[
            "dnsctl", "--json", "records", "add", "www", "a", "10.0.0.5", "--ttl", "60",
        ])
        .expect("lower-case type is accepted");
        let Command::Records(RecordsCommand::Add(args)) = ok.command else {
            panic!("parsed into the wrong command");
        };
        assert_eq!(args.kind, RecordKind::A);
        assert_eq!(args.record().expect("record").ttl, Some(60));
        assert!(ok.json);
    }
}
