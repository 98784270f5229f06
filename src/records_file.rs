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
//! ```

use std::path::Path;

use anyhow::{Context, bail};
use raftmasq_api::records::{RecordKind, record_data};
use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::{Command, Response, StaticRecord};
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
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Values {
    One(String),
    Many(Vec<String>),
}

/// Parses the file's text; errors name the file, the entry and the reason.
pub fn parse(text: &str, path: &Path, domain: &str) -> anyhow::Result<Vec<StaticRecord>> {
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
        records.push(crate::admin::records::qualify_record(record, domain));
    }
    Ok(records)
}

/// Reads the file (absent: nothing to do) and adds its records to the cluster.
pub async fn apply(node: &ClusterNode, path: &Path, domain: &str) -> anyhow::Result<usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read dns.records_file {}", path.display()));
        }
    };
    let records = parse(&text, path, domain)?;
    let count = records.len();
    for record in records {
        let shown = format!("{} {}", record.data.type_name(), record.name);
        match node.write(Command::AddRecord { record }).await {
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
        let records = parse(text, Path::new("records.toml"), "lxd").expect("valid");
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
        let error = parse(bad_type, Path::new("/etc/raftmasq/records.toml"), "lxd")
            .expect_err("PTR")
            .to_string();
        assert!(
            error.contains("/etc/raftmasq/records.toml: record 1 (\"x\")") && error.contains("PTR"),
            "{error}"
        );
        let bad_value = "[[record]]\nname = \"x\"\ntype = \"A\"\nvalue = \"not-an-address\"\n";
        let error = format!(
            "{:#}",
            parse(bad_value, Path::new("r.toml"), "lxd").expect_err("bad A")
        );
        assert!(
            error.contains("r.toml: record 1") && error.contains("not an IPv4 address"),
            "{error}"
        );
        let unknown =
            "[[record]]\nname = \"x\"\ntype = \"A\"\nvalue = \"1.2.3.4\"\ncolour = \"red\"\n";
        assert!(
            parse(unknown, Path::new("r.toml"), "lxd").is_err(),
            "unknown keys are rejected"
        );
    }
}
