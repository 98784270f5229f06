//! raftmasq configuration: one TOML file per host, parsed strictly and validated
//! with errors that name the file, the key and the reason.
//!
//! ```no_run
//! # fn main() -> Result<(), raftmasq_config::ConfigError> {
//! let config = raftmasq_config::Config::read("/etc/raftmasq/raftmasq.toml")?;
//! let token = config.load_token()?;
//! let shared = config.cluster_settings();
//! # let _ = (token, shared); Ok(()) }
//! ```

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cluster_keys;
pub mod defaults;
mod duration;
mod error;
mod ipv6;
mod locate;
mod model;
mod names;
mod net;
mod networks;
pub mod options;
mod parse;
mod ranges;
mod raw;
mod token;
mod tsig;
mod upstream;
mod validate;

use std::path::Path;

pub use cluster_keys::{
    CLUSTER_KEYS, KeyDifference, cluster_value, differences, range_problems, with_cluster_value,
};
pub use error::{ConfigError, Problem};
pub use ipv6::{
    Ipv6Config, Ipv6Mode, Ipv6Range, SLAAC_PREFIX_LEN, V6Reservation, V6ReservationKey,
};
pub use model::{
    AdminAccess, AdminTlsFiles, BootConfig, ClusterConfig, Config, DhcpConfig, DnsConfig,
    LimitsConfig, LogConfig, LogFormat, LxdConfig, NodeConfig, NodeRole, Peer, RateLimitConfig,
    TlsFiles, TsigAlgorithm, TsigKeyFile, TsigSecret, UnicastReplies,
};
pub use net::resolv_conf_nameservers;
pub use networks::NetworkConfig;
pub use options::{DhcpOptionValue, OptionType, OptionValue, StaticRoute};
/// The replicated settings (they belong to the state machine: they are part of
/// the Raft log and every snapshot); the file's values are mapped into them.
pub use raftmasq_state::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};
pub use token::{AdminToken, ClusterToken};
pub use upstream::{RESOLV_CONF, RESOLVED_CONF, Upstream, UpstreamSource};

impl Config {
    /// Parses and validates one host's file. `source` only labels messages.
    /// The token file is not read here: see [`Config::load_token`].
    pub fn from_toml(text: &str, source: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let source = source.as_ref();
        let locator = locate::Locator::new(text);
        let (raw, early) =
            parse::raw_config(text, &locator).map_err(|problems| ConfigError::Invalid {
                file: source.to_path_buf(),
                problems,
            })?;
        let mut problems = error::Problems::new(&locator);
        problems.extend(early);
        let config = validate::validate(raw, source, &mut problems);
        problems.into_result(source, config)
    }

    /// Reads the file at `path`, then [`Config::from_toml`].
    pub fn read(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Reads `cluster.token_file`: it must exist, hold a non-blank token, and be
    /// unreadable by group and others. Separate from parsing so `raftmasq check`
    /// and the daemon both call it, and tests of the file itself need no secret.
    pub fn load_token(&self) -> Result<ClusterToken, ConfigError> {
        token::read(&self.cluster.token_file).map_err(|reason| {
            ConfigError::single(
                &self.source,
                "cluster.token_file",
                self.token_file_position,
                reason,
            )
        })
    }

    /// Reads every `[[dns.tsig_keys]]` secret file: each must exist, hold
    /// one base64 secret, and be unreadable by group and others (as the
    /// token file). Separate from parsing for the same reasons.
    pub fn load_tsig_keys(&self) -> Result<Vec<TsigSecret>, ConfigError> {
        self.dns
            .tsig_keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                let secret = tsig::read_secret(&key.secret_file).map_err(|reason| {
                    ConfigError::single(
                        &self.source,
                        &format!("dns.tsig_keys[{index}].secret_file"),
                        None,
                        reason,
                    )
                })?;
                Ok(TsigSecret {
                    name: key.name.clone(),
                    algorithm: key.algorithm,
                    secret,
                })
            })
            .collect()
    }
}

impl Config {
    /// Reads `node.admin_token_file` under the same rules as the cluster
    /// token (mode 600, printable, not blank).
    pub fn load_admin_token(&self) -> Result<AdminToken, ConfigError> {
        token::read(&self.node.admin.token_file)
            .and_then(|token| AdminToken::new(token.expose()))
            .map_err(|reason| {
                ConfigError::single(&self.source, "node.admin_token_file", None, reason)
            })
    }
}

#[cfg(test)]
mod tests;
