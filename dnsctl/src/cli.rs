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
        By default dnsctl talks to the node on this host, found from the daemon's configuration: \
        its admin socket (node.admin_socket; root and the raftmasq group), else node.admin_addr \
        with the admin token (node.admin_token_file). Reads come from that node's \
        replica and work while other members are down; --consistent asks for a linearizable read. \
        Writes reach the leader from any node.\n\n\
        Exit codes: 0 success, 1 error, 2 usage error; `status` also exits 3 when degraded \
        (a member unreachable, or DHCP waiting for a member's bridge address) and 4 without \
        quorum or leader."
)]
pub struct Cli {
    /// The daemon's configuration file, to find the local node and its token.
    #[arg(long, short, global = true, env = "RAFTMASQ_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The node to talk to (overrides the configuration): its admin socket
    /// (a path), `https://HOST:PORT`, or `HOST:PORT` (plain HTTP).
    #[arg(long, global = true, env = "DNSCTL_NODE", value_name = "ADDR")]
    pub node: Option<String>,
    /// File holding the admin token (node.admin_token_file), for the admin
    /// API over TCP; the admin socket needs none.
    #[arg(long, global = true, env = "DNSCTL_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate(s) to trust for an HTTPS node (default: the
    /// configuration's cluster.tls.ca_file, which signs `raftmasq cert
    /// issue-admin` certificates).
    #[arg(long, global = true, env = "DNSCTL_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
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
    /// Leases: (network,) address, MAC, hostname asked, DNS name granted, state, expiry, host.
    Leases(LeaseArgs),
    /// Members, roles, reachability, Raft indexes and lag, pool use, quorum.
    /// Exits 0 healthy, 3 degraded (a member unreachable, or DHCP waiting
    /// for a member's bridge address), 4 without quorum or leader.
    Status,
    /// List members and their roles (voter or learner); add, promote,
    /// demote or remove them.
    Members(MembersArgs),
    /// Fixed addresses (and names) for MAC addresses.
    #[command(subcommand)]
    Reservations(ReservationsCommand),
    /// Static DNS records (A, AAAA, CNAME, TXT, SRV, MX).
    #[command(subcommand)]
    Records(RecordsCommand),
    /// The cluster-wide settings (range, lease time, hostname policy, ...):
    /// show them, and change them live on every node at once.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Release a lease now: the address returns to the pool, the name is freed.
    Release { address: Ipv4Addr },
    /// Hostname conflicts: who holds a name, who asked later, what it got instead.
    Conflicts,
    /// Import a running dnsmasq's leases, dhcp-host reservations and LXD's
    /// per-instance host files; every line not imported is listed with why.
    #[command(name = "import-dnsmasq")]
    ImportDnsmasq {
        /// dnsmasq's lease file (e.g. /var/lib/misc/dnsmasq.leases, or LXD's
        /// /var/lib/lxd/networks/lxdbr0/dnsmasq.leases).
        #[arg(long, value_name = "FILE")]
        leases: PathBuf,
        /// A dnsmasq configuration file whose dhcp-host= lines become reservations.
        #[arg(long, value_name = "FILE")]
        conf: Option<PathBuf>,
        /// LXD's host files: the dnsmasq.hosts directory of the bridge (every
        /// file in it) or one file; MAC,IPv4[,NAME] lines become reservations,
        /// MAC,NAME lines the instance's name. Repeatable.
        #[arg(long, value_name = "DIR|FILE")]
        lxd_hosts: Vec<PathBuf>,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The way back to dnsmasq: write a `raftmasq export` file (made on a
    /// stopped node) as a dnsmasq lease file and host entries. Needs no node.
    #[command(name = "export-dnsmasq")]
    ExportDnsmasq {
        /// The JSON written by `raftmasq export`.
        #[arg(value_name = "STATE")]
        state: PathBuf,
        /// Where to write the lease file (dnsmasq's --dhcp-leasefile, or LXD's
        /// networks/BRIDGE/dnsmasq.leases).
        #[arg(long, value_name = "FILE")]
        leases: PathBuf,
        /// Where to write reservations as a dhcp-hostsfile (MAC,IP[,NAME]).
        #[arg(long, value_name = "FILE")]
        hosts: Option<PathBuf>,
        /// Where to write reservations as dhcp-host= lines (a dnsmasq.conf
        /// snippet, or LXD's raw.dnsmasq).
        #[arg(long, value_name = "FILE")]
        conf: Option<PathBuf>,
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

/// `dnsctl settings`.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// The cluster's values, which keys can change live, and where the
    /// asked node's file differs (that node follows the cluster).
    Show {
        /// A network's settings (`default`, `[dhcp]`'s, when not given; the
        /// others are the names of `[[dhcp.networks]]`).
        #[arg(long, value_name = "NAME")]
        network: Option<String>,
    },
    /// Change one key for the whole cluster, written as in the file:
    /// `dnsctl settings set dhcp.ranges 10.0.0.10-10.0.0.250`,
    /// `dnsctl settings set dhcp.ranges "10.0.0.10-10.0.0.99, 10.0.1.0-10.0.1.99"`,
    /// `dnsctl settings set dhcp.lease_time 2h`. Ranges that would leave
    /// leases outside every one of them are refused with the leases listed.
    /// Afterwards edit every host's file to match (nodes follow the
    /// cluster meanwhile, and say their file differs).
    Set {
        /// dhcp.ranges (or dhcp.range), dhcp.lease_time, dhcp.decline_quarantine,
        /// dhcp.duplicate_hostnames (dhcp.subnet, dns.domain and
        /// dhcp.client_identity cannot change live).
        key: String,
        /// As the file writes it: `2h`, `reject`, `10.0.0.10-10.0.0.250`;
        /// several ranges comma-separated, `none` for no dynamic pool.
        value: String,
        /// Change this network's settings (default: `default`, `[dhcp]`'s).
        #[arg(long, value_name = "NAME")]
        network: Option<String>,
    },
    /// Make a configuration file's cluster-wide keys the cluster's (e.g.
    /// after editing it on one host), for one network; prints what changed.
    Apply {
        /// A raftmasq.toml (default: --config).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Apply the file's values for this network (its `[[dhcp.networks]]`
        /// entry, with the keys it takes from `[dhcp]`); default: `default`.
        #[arg(long, value_name = "NAME")]
        network: Option<String>,
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
    /// Only this DHCPv6 DUID (hex octets): its v6 leases, and v4 leases
    /// whose client id carries it (RFC 4361).
    #[arg(long)]
    pub duid: Option<String>,
    #[arg(long, value_enum)]
    pub state: Option<LeaseStateArg>,
    /// Only leases of this network (`default` is `[dhcp]`'s; the others are
    /// the names of `[[dhcp.networks]]`).
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    #[arg(long, value_enum, default_value = "address")]
    pub sort: SortKey,
    /// After the table, print one line per change (+ added, ~ changed,
    /// - removed; JSON lines with --json) until interrupted.
    #[arg(long, short)]
    pub watch: bool,
    /// Seconds between two looks at the lease table with --watch.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_interval, requires = "watch")]
    pub interval: f64,
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if (0.1..=3600.0).contains(&secs) => Ok(secs),
        Ok(_) => Err("between 0.1 and 3600 seconds".into()),
        Err(error) => Err(error.to_string()),
    }
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
    Network,
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
            SortKey::Network => "network",
        }
    }
}

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// Without a subcommand: list the members and their roles.
    #[command(subcommand)]
    pub command: Option<MembersCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Each member's role (voter or learner), the leader, its addresses.
    List,
    /// Add a node as a learner (it replicates, does not vote).
    Add {
        id: u64,
        /// Its cluster address (node.cluster_addr), e.g. 10.99.0.4:7380.
        cluster_addr: String,
        /// Its admin API address, if known.
        #[arg(long)]
        admin_addr: Option<String>,
    },
    /// Make a caught-up learner a voter (it may then lead).
    Promote { id: u64 },
    /// Make a voter a learner: it keeps replicating and answering DNS, and
    /// no longer votes or leads. Refused for the last voter, and when too
    /// few of the remaining voters are up to carry on.
    Demote { id: u64 },
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
        A NAME without a dot (e.g. www) is placed in the cluster domain (with --network, in that \
        network's domain); end it with a dot to make it absolute. The record goes to the network \
        whose domain or reverse zone holds the name.")]
    Add(RecordArgs),
    /// Remove a record (same arguments as add).
    #[command(alias = "remove")]
    Rm(RecordArgs),
    /// List records, optionally only those of NAME.
    #[command(alias = "ls")]
    List {
        name: Option<String>,
        /// Only the records of this network.
        #[arg(long)]
        network: Option<String>,
    },
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
    /// The network whose table holds the record (default: the one whose
    /// domain holds NAME); a relative NAME is placed in its domain.
    #[arg(long)]
    pub network: Option<String>,
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
