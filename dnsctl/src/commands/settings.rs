//! `dnsctl settings show|set|apply`: the cluster-wide settings, changed live.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use raftmasq_config::{CLUSTER_KEYS, Config, cluster_value};
use raftmasq_state::DEFAULT_NETWORK;
use reqwest::Method;

use super::{Style, render};
use crate::api::{SettingsChange, SettingsChanged, SettingsView};
use crate::cli::SettingsCommand;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, table};

pub(super) fn settings(
    client: &Client,
    command: &SettingsCommand,
    config: &Path,
    consistent: bool,
    style: &Style,
) -> Result<String, Error> {
    match command {
        SettingsCommand::Show { network } => {
            let view = show(client, network.as_deref(), consistent)?;
            render(style, &view, show_text)
        }
        SettingsCommand::Set {
            key,
            value,
            network,
        } => {
            let change = SettingsChange {
                values: BTreeMap::from([(key.clone(), value.clone())]),
                network: None,
            };
            let changed = post(client, network.as_deref(), change)?;
            render(style, &changed, changed_text)
        }
        SettingsCommand::Apply { from, network } => {
            let path = from.clone().unwrap_or_else(|| config.to_path_buf());
            let change = from_file(&path, network.as_deref())?;
            let changed = post(client, network.as_deref(), change)?;
            render(style, &changed, changed_text)
        }
    }
}

/// `GET /settings`, for `network` when given; refused when the node
/// answers another network's (a node older than per-network settings
/// ignores `?network=` and answers `default`'s).
fn show(client: &Client, network: Option<&str>, consistent: bool) -> Result<SettingsView, Error> {
    let mut query = vec![("consistent", consistent.to_string())];
    if let Some(network) = network {
        query.push(("network", network.to_string()));
    }
    let view: SettingsView = client.get("/settings", &query)?;
    let asked = network.unwrap_or(DEFAULT_NETWORK);
    if view.network != asked {
        return Err(older_node(asked));
    }
    Ok(view)
}

/// `POST /settings` for `network`: first asks the node for the network's
/// settings, so a node that does not know networks (and would change
/// `default`'s) or a network the cluster lacks is refused before any change.
fn post(
    client: &Client,
    network: Option<&str>,
    mut change: SettingsChange,
) -> Result<SettingsChanged, Error> {
    let network = network.filter(|n| *n != DEFAULT_NETWORK);
    if let Some(network) = network {
        show(client, Some(network), false)?;
    }
    change.network = network.map(str::to_string);
    client.write(Method::POST, "/settings", &change)
}

fn older_node(network: &str) -> Error {
    Error::Usage(format!(
        "the node answered for network default, not {network}: it is older than per-network settings; upgrade it, or ask a node that has them with --node"
    ))
}

/// Every cluster-wide key of a configuration file for `network` (absent:
/// `default`), checked as the daemon checks it. A network's values are its
/// `[[dhcp.networks]]` entry's with the keys it takes from `[dhcp]`.
fn from_file(path: &PathBuf, network: Option<&str>) -> Result<SettingsChange, Error> {
    let config = Config::read(path).map_err(|error| Error::Usage(error.to_string()))?;
    let default = config.cluster_settings();
    let settings = match network.filter(|n| *n != DEFAULT_NETWORK) {
        None => default,
        Some(name) => {
            let Some(entry) = config.dhcp.networks.iter().find(|n| n.name == name) else {
                let names: Vec<&str> = std::iter::once(DEFAULT_NETWORK)
                    .chain(config.dhcp.networks.iter().map(|n| n.name.as_str()))
                    .collect();
                return Err(Error::Usage(format!(
                    "{}: no [[dhcp.networks]] entry is named {name}; the file's networks are {}",
                    path.display(),
                    names.join(", ")
                )));
            };
            entry.cluster_settings(&default)
        }
    };
    let values = CLUSTER_KEYS
        .iter()
        .filter_map(|key| Some(((*key).to_string(), cluster_value(&settings, key)?)))
        .collect();
    Ok(SettingsChange {
        values,
        network: None,
    })
}

fn show_text(view: &SettingsView, colour: bool) -> String {
    let mut out = String::new();
    let network = view.network.as_str();
    let default = network == DEFAULT_NETWORK;
    if !default {
        let _ = writeln!(out, "network {network}");
    }
    if view.cluster.is_empty() {
        out.push_str("cluster settings not written yet (no leader has committed them)\n");
        return out;
    }
    let rows: Vec<Vec<Cell>> = view
        .cluster
        .iter()
        .map(|setting| {
            vec![
                setting.key.clone().into(),
                setting.value.clone().into(),
                if setting.fixed.is_some() { "no" } else { "yes" }.into(),
            ]
        })
        .collect();
    out.push_str(&table(&["key", "cluster value", "live"], &rows, colour));
    let apply = if default {
        format!("dnsctl settings apply --from {}", view.file)
    } else {
        format!(
            "dnsctl settings apply --network {network} --from {}",
            view.file
        )
    };
    if view.file_differs.is_empty() {
        let _ = writeln!(out, "\nnode {}'s file ({}) agrees", view.node_id, view.file);
    } else {
        let _ = writeln!(
            out,
            "\nnode {} follows the cluster; its file ({}) differs:",
            view.node_id, view.file
        );
        for d in &view.file_differs {
            let key = match &d.file_key {
                Some(file_key) => format!("{} ({file_key} in the file)", d.key),
                None => d.key.clone(),
            };
            let _ = writeln!(out, "  {key}: cluster {} · file {}", d.cluster, d.other);
        }
        let _ = writeln!(
            out,
            "to make the file's values the cluster's: {apply}\n\
             to keep the cluster's: edit {} to the cluster values above",
            view.file
        );
    }
    let others: Vec<&str> = view
        .networks
        .iter()
        .map(String::as_str)
        .filter(|n| *n != network)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "the cluster's other networks: {} (dnsctl settings show --network NAME)",
            others.join(", ")
        );
    }
    out
}

fn changed_text(changed: &SettingsChanged, _colour: bool) -> String {
    if changed.changed.is_empty() {
        return format!("{}\n", changed.message);
    }
    let mut out = if changed.network == DEFAULT_NETWORK {
        String::from("changed for the whole cluster:\n")
    } else {
        format!(
            "changed for the whole cluster, network {}:\n",
            changed.network
        )
    };
    for d in &changed.changed {
        let _ = writeln!(out, "  {}: {} -> {}", d.key, d.cluster, d.other);
    }
    out.push_str(
        "every node follows at once; edit each host's file to match (dnsctl settings show lists the keys that differ)\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{SettingDifference, SettingValue};

    #[test]
    fn show_names_the_differences_and_how_to_apply_or_revert() {
        let view = SettingsView {
            node_id: 2,
            cluster: vec![SettingValue {
                key: "dhcp.lease_time".into(),
                value: "1h".into(),
                fixed: None,
            }],
            file: "/etc/raftmasq/raftmasq.toml".into(),
            file_differs: vec![SettingDifference {
                key: "dhcp.lease_time".into(),
                cluster: "1h".into(),
                other: "2h".into(),
                file_key: None,
            }],
            network: "default".into(),
            networks: vec!["default".into()],
        };
        let text = show_text(&view, false);
        assert!(
            text.contains("dhcp.lease_time: cluster 1h · file 2h"),
            "{text}"
        );
        assert!(text.contains("dnsctl settings apply --from /etc/raftmasq/raftmasq.toml"));
    }

    #[test]
    fn a_file_gives_every_cluster_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raftmasq.toml");
        std::fs::write(&path, include_str!("../../../examples/lxd1.toml")).unwrap();
        let change = from_file(&path, None).unwrap();
        assert_eq!(change.values.len(), CLUSTER_KEYS.len());
        assert_eq!(change.values["dhcp.duplicate_hostnames"], "suffix");
    }

    #[test]
    fn a_networks_view_names_its_file_keys_and_the_apply_command() {
        let view = SettingsView {
            node_id: 1,
            cluster: vec![SettingValue {
                key: "dhcp.range".into(),
                value: "10.1.0.10-10.1.0.250".into(),
                fixed: None,
            }],
            file: "/etc/raftmasq/raftmasq.toml".into(),
            file_differs: vec![SettingDifference {
                key: "dhcp.range".into(),
                cluster: "10.1.0.10-10.1.0.250".into(),
                other: "10.1.0.10-10.1.0.200".into(),
                file_key: Some("dhcp.networks[0].range".into()),
            }],
            network: "lab".into(),
            networks: vec!["default".into(), "lab".into()],
        };
        let text = show_text(&view, false);
        assert!(text.starts_with("network lab\n"), "{text}");
        assert!(
            text.contains("dhcp.range (dhcp.networks[0].range in the file): cluster 10.1.0.10-10.1.0.250 · file 10.1.0.10-10.1.0.200"),
            "{text}"
        );
        assert!(
            text.contains("dnsctl settings apply --network lab --from /etc/raftmasq/raftmasq.toml"),
            "{text}"
        );
        assert!(text.contains("other networks: default"), "{text}");
    }

    #[test]
    fn the_default_view_says_other_networks_exist() {
        let view = SettingsView {
            node_id: 1,
            cluster: vec![SettingValue {
                key: "dhcp.lease_time".into(),
                value: "1h".into(),
                fixed: None,
            }],
            file: "/etc/raftmasq/raftmasq.toml".into(),
            file_differs: Vec::new(),
            network: "default".into(),
            networks: vec!["default".into(), "lab".into()],
        };
        let text = show_text(&view, false);
        assert!(!text.contains("network default"), "{text}");
        assert!(
            text.contains(
                "the cluster's other networks: lab (dnsctl settings show --network NAME)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_file_gives_a_networks_values_with_those_it_inherits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raftmasq.toml");
        let text = format!(
            "{}\n[[dhcp.networks]]\nname = \"lab\"\ninterface = \"br-lab\"\naddress = \"10.1.0.1\"\nsubnet = \"10.1.0.0/24\"\nrange = \"10.1.0.10-10.1.0.200\"\n",
            include_str!("../../../examples/lxd1.toml")
        );
        std::fs::write(&path, text).unwrap();
        let change = from_file(&path, Some("lab")).unwrap();
        assert_eq!(change.values["dhcp.ranges"], "10.1.0.10-10.1.0.200");
        assert_eq!(change.values["dhcp.subnet"], "10.1.0.0/24");
        assert_eq!(change.values["dns.domain"], "lab.lxd");
        assert_eq!(change.values["dhcp.lease_time"], "1h");
        let default = from_file(&path, None).unwrap();
        assert_eq!(default.values["dhcp.ranges"], "172.16.0.10-172.16.255.254");
        let Err(Error::Usage(message)) = from_file(&path, Some("elsewhere")) else {
            panic!("an unknown network was accepted");
        };
        assert!(
            message.contains("no [[dhcp.networks]] entry is named elsewhere")
                && message.contains("default, lab"),
            "{message}"
        );
    }
}
