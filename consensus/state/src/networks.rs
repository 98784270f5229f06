//! Several networks in one cluster: one lease table per network.
//!
//! A cluster serves one or more networks (a bridge, a subnet, a domain each).
//! Each has its own [`LeaseTable`]: its own settings, leases, reservations,
//! quarantine and pool, so the single-network code stays as it was and a
//! network cannot touch another's addresses. The network named
//! [`DEFAULT_NETWORK`] is the table a single-network cluster always had: a
//! command without a network (every entry written before networks existed,
//! and every command for `default` now) applies to it, so old logs replay
//! unchanged. A command for another network travels as
//! [`Command::InNetwork`].
//!
//! Across networks the state machine keeps two rules, checked when a network
//! is initialised (subnets and domains are fixed afterwards, `SettingFixed`):
//! - no two networks' subnets overlap, so no address can be in two networks;
//! - no two networks share a domain, so every name has one owner (the
//!   one-name-one-owner rule of a domain never has to span tables).
//!
//! `Expire`, `NameMac` and `ForgetMac` sent without a network apply to every
//! network: the clock is the cluster's, and an integration (LXD) knows a
//! machine by its MAC, not by the network it sits on. On a log written
//! before networks existed there is only `default`, so they mean what they
//! meant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Rejection, Response};
use crate::table::LeaseTable;

/// The network a command without one, and every old log entry, applies to.
pub const DEFAULT_NETWORK: &str = "default";

/// Longest network name: a DNS label, so it can name metrics and zones.
pub const MAX_NETWORK_NAME_LEN: usize = 63;

/// Whether `name` may name a network: 1-63 lowercase letters, digits or
/// hyphens, not starting or ending with a hyphen.
pub fn is_valid_network_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NETWORK_NAME_LEN
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The lease tables of the networks other than [`DEFAULT_NETWORK`], by name.
/// The default network's table lives beside it (the replica's `table`), where
/// single-network releases kept it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OtherNetworks {
    tables: BTreeMap<String, LeaseTable>,
}

impl OtherNetworks {
    /// The networks of a snapshot read in an older layout.
    pub fn from_tables(tables: BTreeMap<String, LeaseTable>) -> Self {
        OtherNetworks { tables }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table of `network`: `default` is the one passed in.
    pub fn get<'a>(&'a self, default: &'a LeaseTable, network: &str) -> Option<&'a LeaseTable> {
        if network == DEFAULT_NETWORK {
            Some(default)
        } else {
            self.tables.get(network)
        }
    }

    /// Every network with its table, `default` first, then by name.
    pub fn all<'a>(
        &'a self,
        default: &'a LeaseTable,
    ) -> impl Iterator<Item = (&'a str, &'a LeaseTable)> + 'a {
        std::iter::once((DEFAULT_NETWORK, default)).chain(
            self.tables
                .iter()
                .map(|(name, table)| (name.as_str(), table)),
        )
    }

    /// Applies the commands of one entry in order, one response each.
    pub fn apply_all(&mut self, default: &mut LeaseTable, commands: &[Command]) -> Vec<Response> {
        commands
            .iter()
            .map(|command| self.apply(default, command))
            .collect()
    }

    /// Applies one committed command to the network it names (see the module
    /// docs). Deterministic like [`LeaseTable::apply`].
    pub fn apply(&mut self, default: &mut LeaseTable, command: &Command) -> Response {
        match command {
            Command::InNetwork { network, command } => self
                .apply_in(default, network, command)
                .unwrap_or_else(|reason| Response::Rejected { reason }),
            Command::Initialize { settings } => {
                match self.check_new_network(default, DEFAULT_NETWORK, settings) {
                    Ok(()) => default.apply(command),
                    Err(reason) => Response::Rejected { reason },
                }
            }
            Command::Expire { .. } => {
                let mut total = 0;
                let mut first = default.apply(command);
                for table in self.tables.values_mut() {
                    if let Response::Expired { leases } = table.apply(command) {
                        total += leases;
                    }
                }
                if let Response::Expired { leases } = &mut first {
                    *leases += total;
                }
                first
            }
            Command::NameMac { .. } | Command::ForgetMac { .. } => {
                let first = default.apply(command);
                for table in self.tables.values_mut() {
                    // Each network names or forgets the MAC on its own; the
                    // answer is the default network's, as before networks.
                    table.apply(command);
                }
                first
            }
            _ => default.apply(command),
        }
    }

    fn apply_in(
        &mut self,
        default: &mut LeaseTable,
        network: &str,
        command: &Command,
    ) -> Result<Response, Rejection> {
        if !is_valid_network_name(network) {
            return Err(Rejection::InvalidNetwork {
                network: network.to_string(),
                reason: "expected 1-63 lowercase letters, digits or hyphens".into(),
            });
        }
        if matches!(command, Command::InNetwork { .. }) {
            return Err(Rejection::InvalidNetwork {
                network: network.to_string(),
                reason: "a command names one network, not several".into(),
            });
        }
        if network == DEFAULT_NETWORK {
            return Ok(self.apply(default, command));
        }
        if let Command::Initialize { settings } = command {
            if self.tables.contains_key(network) {
                return Err(Rejection::AlreadyInitialized);
            }
            self.check_new_network(default, network, settings)?;
            let mut table = LeaseTable::default();
            let response = table.apply(command);
            if response == Response::Done {
                self.tables.insert(network.to_string(), table);
            }
            return Ok(response);
        }
        let table = self
            .tables
            .get_mut(network)
            .ok_or_else(|| Rejection::UnknownNetwork {
                network: network.to_string(),
            })?;
        Ok(table.apply(command))
    }

    /// A network being initialised must not overlap another's subnet nor
    /// share its domain.
    fn check_new_network(
        &self,
        default: &LeaseTable,
        network: &str,
        settings: &crate::settings::ClusterSettings,
    ) -> Result<(), Rejection> {
        for (other, table) in self.all(default) {
            let Some(theirs) = table.settings() else {
                continue;
            };
            if other == network {
                continue;
            }
            if theirs.subnet.contains(&settings.subnet.network())
                || settings.subnet.contains(&theirs.subnet.network())
            {
                return Err(Rejection::NetworksOverlap {
                    network: network.to_string(),
                    subnet: settings.subnet,
                    other: other.to_string(),
                    other_subnet: theirs.subnet,
                });
            }
            if theirs.domain.eq_ignore_ascii_case(&settings.domain) {
                return Err(Rejection::DomainShared {
                    network: network.to_string(),
                    domain: settings.domain.clone(),
                    other: other.to_string(),
                });
            }
        }
        Ok(())
    }
}
