//! `dns.records_file`: static records an operator keeps in a file on a host.
//!
//! At start and on every SIGHUP the node adds each record to the cluster's
//! replicated records (adding an identical record again changes nothing), so
//! every host serves them. Deleting a line does not delete the record from the
//! cluster: remove it with `dnsctl records rm`, which is explicit and works
//! from any host. The format is TOML:
//!
//! ```toml
//! [[record]]
//! name = "www"              # relative to the cluster domain unless it ends with "."
//! type = "A"                # A, AAAA, CNAME, TXT, SRV, MX
//! value = "172.16.0.5"      # or a list: ["10", "5", "5060", "sip"] for SRV
//! ttl = 300                 # optional
//! network = "lab"           # optional: the name is then relative to lab's domain
//! ```
//!
//! Each record goes to the table of the network whose zone holds its name,
//! or of the network the entry names (`crate::record_networks`), as with
//! `dnsctl records add`.

use std::path::Path;

use anyhow::{Context, bail};
use raftmasq_api::records::{RecordKind, RecordView, record_data};
use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::{Command, Response, StaticRecord};

use crate::record_networks::place;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsFile {
    #[serde(default)]
    record: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Values,
    ttl: Option<u32>,
    network: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Values {
    One(String),
    Many(Vec<String>),
}

/// Parses the file's text into records with their names as written (each
/// is qualified where it is placed, in its network's domain); errors name
/// the file, the entry and the reason.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<RecordView>> {
    let file: RecordsFile =
        toml::from_str(text).with_context(|| format!("{}: not a records file", path.display()))?;
    let mut records = Vec::with_capacity(file.record.len());
    for (index, entry) in file.record.into_iter().enumerate() {
        let at = || {
            format!(
                "{}: record {} ({:?})",
                path.display(),
                index + 1,
                entry.name
            )
        };
        let Some(kind) = RecordKind::from_name(&entry.kind) else {
            bail!(
                "{}: type {:?} is not one of A, AAAA, CNAME, TXT, SRV, MX",
                at(),
                entry.kind
            );
        };
        let values = match &entry.value {
            Values::One(text) if matches!(kind, RecordKind::Txt) => vec![text.clone()],
            Values::One(text) => text.split_whitespace().map(str::to_string).collect(),
            Values::Many(list) => list.clone(),
        };
        let data =
            record_data(kind, &values).map_err(|reason| anyhow::anyhow!("{}: {reason}", at()))?;
        let record = StaticRecord {
            name: entry.name.clone(),
            ttl: entry.ttl,
            data,
        };
        if let Some(network) = &entry.network
            && !raftmasq_consensus::state::is_valid_network_name(network)
        {
            bail!(
                "{}: network {network:?} is not a network name (1-63 lowercase letters, digits or hyphens)",
                at()
            );
        }
        records.push(RecordView {
            record,
            network: entry.network.clone(),
        });
    }
    Ok(records)
}

/// Reads the file (absent: nothing to do) and adds its records to the
/// cluster, each to its network's table.
pub async fn apply(node: &ClusterNode, path: &Path) -> anyhow::Result<usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read dns.records_file {}", path.display()));
        }
    };
    let entries = parse(&text, path)?;
    let count = entries.len();
    for (index, entry) in entries.into_iter().enumerate() {
        let written = entry.record.name.clone();
        let placed = {
            let replica = node.replica().read();
            place(
                &replica.table,
                &replica.networks,
                entry.record,
                entry.network.as_deref(),
            )
        }
        .map_err(|reason| {
            anyhow::anyhow!(
                "{}: record {} ({written:?}): {reason}",
                path.display(),
                index + 1
            )
        })?;
        let shown = format!(
            "{} {} (network {})",
            placed.record.data.type_name(),
            placed.record.name,
            placed.network
        );
        let command = Command::for_network(
            &placed.network,
            Command::AddRecord {
                record: placed.record,
            },
        );
        match node.write(command).await {
            Ok(Response::Rejected { reason }) => {
                bail!("{}: {shown} refused: {reason}", path.display())
            }
            Ok(_) => {}
            Err(error) => bail!("{}: {shown} not added: {error}", path.display()),
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmasq_consensus::state::RecordData;

    #[test]
    fn every_type_parses_and_names_are_qualified() {
        let text = r#"
[[record]]
name = "www"
type = "A"
value = "172.16.0.5"
ttl = 300

[[record]]
name = "_sip._udp"
type = "srv"
value = ["10", "5", "5060", "pbx"]

[[record]]
name = "note"
type = "TXT"
value = "hello world"

[[record]]
name = "alias"
type = "CNAME"
value = "example.org."
"#;
        let views = parse(text, Path::new("records.toml")).expect("valid");
        assert!(views.iter().all(|view| view.network.is_none()));
        // Placed without a network: relative to the cluster domain.
        let records: Vec<StaticRecord> = views
            .into_iter()
            .map(|view| crate::record_networks::qualify_record(view.record, "lxd"))
            .collect();
        assert_eq!(records[0].name, "www.lxd");
        assert_eq!(records[0].ttl, Some(300));
        assert_eq!(
            records[1].data,
            RecordData::Srv {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "pbx.lxd".into()
            }
        );
        assert_eq!(
            records[2].data,
            RecordData::Txt {
                text: "hello world".into()
            }
        );
        assert_eq!(
            records[3].data,
            RecordData::Cname {
                target: "example.org".into()
            }
        );
    }

    #[test]
    fn errors_name_the_file_the_entry_and_the_reason() {
        let bad_type = "[[record]]\nname = \"x\"\ntype = \"PTR\"\nvalue = \"y\"\n";
        let error = parse(bad_type, Path::new("/etc/raftmasq/records.toml"))
            .expect_err("PTR")
            .to_string();
        assert!(
            error.contains("/etc/raftmasq/records.toml: record 1 (\"x\")") && error.contains("PTR"),
            "{error}"
        );
        let bad_value = "[[record]]\nname = \"x\"\ntype = \"A\"\nvalue = \"not-an-address\"\n";
        let error = format!(
            "{:#}",
            parse(bad_value, Path::new("r.toml")).expect_err("bad A")
        );
        assert!(
            error.contains("r.toml: record 1") && error.contains("not an IPv4 address"),
            "{error}"
        );
        let unknown =
            "[[record]]\nname = \"x\"\ntype = \"A\"\nvalue = \"1.2.3.4\"\ncolour = \"red\"\n";
        assert!(
            parse(unknown, Path::new("r.toml")).is_err(),
            "unknown keys are rejected"
        );
    }

    #[test]
    fn an_entry_may_name_its_network() {
        let text =
            "[[record]]\nname = \"db\"\ntype = \"A\"\nvalue = \"172.20.0.5\"\nnetwork = \"lab\"\n";
        let views = parse(text, Path::new("r.toml")).expect("valid");
        assert_eq!(views[0].network.as_deref(), Some("lab"));
        assert_eq!(views[0].record.name, "db", "qualified where it is placed");
        let bad =
            "[[record]]\nname = \"db\"\ntype = \"A\"\nvalue = \"172.20.0.5\"\nnetwork = \"Lab!\"\n";
        let error = format!(
            "{:#}",
            parse(bad, Path::new("r.toml")).expect_err("bad name")
        );
        assert!(
            error.contains("r.toml: record 1 (\"db\")") && error.contains("not a network name"),
            "{error}"
        );
    }
}
