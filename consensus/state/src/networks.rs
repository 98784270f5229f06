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
//! Across networks the state machine keeps two rules (subnets and domains are
//! fixed once a network is initialised, `SettingFixed`):
//! - no two networks' subnets overlap, so no address can be in two networks
//!   (checked when a network is initialised);
//! - names are unique per domain, not per table: networks may share a domain
//!   (`lxdbr0` and `lxdbr1` both under `lxd`), and a name one of them holds
//!   (lease, reservation, static record, or the default network's DHCPv6
//!   lease) is taken for the others, under the same `duplicate_hostnames`
//!   policy as inside one table. While a command applies to a table, the
//!   tables of the other networks of its domain are lent to it
//!   (`LeaseTable::lent_domain`, moves, O(1) each) and taken back before
//!   `apply` returns, as `v6::apply_with` lends the DHCPv6 names. The lend
//!   is derived from the settings, the same on every replica, and never
//!   reaches a snapshot.
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
                    // Expiry grants no name: no lend needed.
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
                let first = self.apply_lent(default, DEFAULT_NETWORK, command);
                let names: Vec<String> = self.tables.keys().cloned().collect();
                for network in names {
                    // Each network names or forgets the MAC on its own; the
                    // answer is the default network's, as before networks.
                    self.apply_lent(default, &network, command);
                }
                first
            }
            _ => self.apply_lent(default, DEFAULT_NETWORK, command),
        }
    }

    /// Applies one committed command to the whole replicated state: the
    /// networks' tables and the default network's DHCPv6 leases (`v6`), as
    /// [`crate::v6::apply_with`] around [`Self::apply`]. A v6 grant checks
    /// its name against the default table, so that table is given the other
    /// networks of its domain for the command (names are unique per domain).
    pub fn apply_with_v6(
        &mut self,
        default: &mut LeaseTable,
        v6: &mut crate::v6::V6Leases,
        command: &Command,
    ) -> Response {
        if matches!(
            command,
            Command::BindV6 { .. } | Command::ReleaseV6 { .. } | Command::DeclineV6 { .. }
        ) {
            return self.with_domain_lent(default, DEFAULT_NETWORK, |table| {
                crate::v6::apply_with(table, v6, command, |table, command| table.apply(command))
            });
        }
        crate::v6::apply_with(default, v6, command, |table, command| {
            self.apply(table, command)
        })
    }

    /// Applies `command` to the table of `network` with the tables of the
    /// other networks of its domain lent to it (see the module docs).
    fn apply_lent(
        &mut self,
        default: &mut LeaseTable,
        network: &str,
        command: &Command,
    ) -> Response {
        if self.get(default, network).is_none() {
            return Response::Rejected {
                reason: Rejection::UnknownNetwork {
                    network: network.to_string(),
                },
            };
        }
        self.with_domain_lent(default, network, |table| table.apply(command))
    }

    /// Runs `f` on the table of `network` (`default` when it has no table)
    /// with the tables of the other networks of its domain lent to it; they
    /// are back in place before this returns.
    fn with_domain_lent<R>(
        &mut self,
        default: &mut LeaseTable,
        network: &str,
        f: impl FnOnce(&mut LeaseTable) -> R,
    ) -> R {
        let domain = self
            .get(default, network)
            .and_then(LeaseTable::settings)
            .map(|s| s.domain.to_ascii_lowercase());
        let same_domain = |table: &LeaseTable| {
            domain.as_ref().is_some_and(|domain| {
                table
                    .settings()
                    .is_some_and(|s| s.domain.eq_ignore_ascii_case(domain))
            })
        };
        // Lent in the order of `all` (default first, then by name), so the
        // first holder found is the same on every replica.
        let mut lent_from = Vec::new();
        let mut lent = Vec::new();
        if network != DEFAULT_NETWORK && same_domain(default) {
            lent_from.push(DEFAULT_NETWORK.to_string());
            lent.push(std::mem::take(default));
        }
        for (name, table) in &mut self.tables {
            if name != network && same_domain(table) {
                lent_from.push(name.clone());
                lent.push(std::mem::take(table));
            }
        }
        let target = match self.tables.get_mut(network) {
            Some(table) if network != DEFAULT_NETWORK => table,
            _ => &mut *default,
        };
        target.lent_domain = lent;
        let result = f(target);
        let lent = std::mem::take(&mut target.lent_domain);
        for (name, table) in lent_from.into_iter().zip(lent) {
            if let Some(slot) = self.get_mut(default, &name) {
                *slot = table;
            }
        }
        result
    }

    fn get_mut<'a>(
        &'a mut self,
        default: &'a mut LeaseTable,
        network: &str,
    ) -> Option<&'a mut LeaseTable> {
        if network == DEFAULT_NETWORK {
            Some(default)
        } else {
            self.tables.get_mut(network)
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
        if !self.tables.contains_key(network) {
            return Err(Rejection::UnknownNetwork {
                network: network.to_string(),
            });
        }
        Ok(self.apply_lent(default, network, command))
    }

    /// A network being initialised must not overlap another's subnet. It
    /// may share another's domain: names stay unique across the domain
    /// (see the module docs).
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
        }
        Ok(())
    }
}
