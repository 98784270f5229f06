//! `dnsctl settings show|set|apply`: the cluster-wide settings, changed live.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use raftmasq_config::{CLUSTER_KEYS, Config, cluster_value};
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
        SettingsCommand::Show => {
            let view: SettingsView =
                client.get("/settings", &[("consistent", consistent.to_string())])?;
            render(style, &view, show_text)
        }
        SettingsCommand::Set { key, value } => {
            let change = SettingsChange {
                values: BTreeMap::from([(key.clone(), value.clone())]),
            };
            let changed: SettingsChanged = client.write(Method::POST, "/settings", &change)?;
            render(style, &changed, changed_text)
        }
        SettingsCommand::Apply { from } => {
            let path = from.clone().unwrap_or_else(|| config.to_path_buf());
            let change = from_file(&path)?;
            let changed: SettingsChanged = client.write(Method::POST, "/settings", &change)?;
            render(style, &changed, changed_text)
        }
    }
}

/// Every cluster-wide key of a configuration file, checked as the daemon
/// checks it.
fn from_file(path: &PathBuf) -> Result<SettingsChange, Error> {
    let config = Config::read(path).map_err(|error| Error::Usage(error.to_string()))?;
    let settings = config.cluster_settings();
    let values = CLUSTER_KEYS
        .iter()
        .filter_map(|key| Some(((*key).to_string(), cluster_value(&settings, key)?)))
        .collect();
    Ok(SettingsChange { values })
}

fn show_text(view: &SettingsView, colour: bool) -> String {
    let mut out = String::new();
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
    if view.file_differs.is_empty() {
        let _ = writeln!(out, "\nnode {}'s file ({}) agrees", view.node_id, view.file);
    } else {
        let _ = writeln!(
            out,
            "\nnode {} follows the cluster; its file ({}) differs:",
            view.node_id, view.file
        );
        for d in &view.file_differs {
            let _ = writeln!(out, "  {}: cluster {} · file {}", d.key, d.cluster, d.other);
        }
        let _ = writeln!(
            out,
            "to make the file's values the cluster's: dnsctl settings apply --from {0}\n\
             to keep the cluster's: edit {0} to the cluster values above",
            view.file
        );
    }
    out
}

fn changed_text(changed: &SettingsChanged, _colour: bool) -> String {
    if changed.changed.is_empty() {
        return format!("{}\n", changed.message);
    }
    let mut out = String::from("changed for the whole cluster:\n");
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
            }],
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
        let change = from_file(&path).unwrap();
        assert_eq!(change.values.len(), CLUSTER_KEYS.len());
        assert_eq!(change.values["dhcp.duplicate_hostnames"], "suffix");
    }
}
