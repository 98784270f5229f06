//! Static DNS records as operators write them (`dnsctl records add NAME TYPE
//! VALUE...` and the daemon's `dns.records_file`): a type name and its values
//! as text, turned into the replicated [`RecordData`]. One parser for both so
//! the CLI and the file accept exactly the same records.

use std::net::{Ipv4Addr, Ipv6Addr};

use raftmasq_state::{RecordData, StaticRecord};
use serde::{Deserialize, Serialize};

/// A static record in and out of the admin API (`/records`) and in
/// `raftmasq export`: the record's own fields (`name`, `ttl`, `data`) and
/// the network whose table holds it. In a request `network` is optional: the
/// daemon places the record in the network whose zone holds its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    #[serde(flatten)]
    pub record: StaticRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// The static record types an operator can add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum), value(rename_all = "UPPER"))]
pub enum RecordKind {
    A,
    Aaaa,
    Cname,
    Txt,
    Srv,
    Mx,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::A,
        RecordKind::Aaaa,
        RecordKind::Cname,
        RecordKind::Txt,
        RecordKind::Srv,
        RecordKind::Mx,
    ];

    /// The type named `text`, in any case (`a`, `AAAA`, `Cname`).
    pub fn from_name(text: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text))
    }

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
            RecordKind::Cname => "CNAME",
            RecordKind::Txt => "TXT",
            RecordKind::Srv => "SRV",
            RecordKind::Mx => "MX",
        }
    }
}

pub fn record_data(kind: RecordKind, values: &[String]) -> Result<RecordData, String> {
    let number = |text: &str, what: &str| -> Result<u16, String> {
        text.parse()
            .map_err(|_| format!("{what} must be a number from 0 to 65535, not {text:?}"))
    };
    let exactly = |n: usize, usage: &str| -> Result<(), String> {
        if values.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{} record takes {usage}, got {} value(s)",
                kind.name(),
                values.len()
            ))
        }
    };
    Ok(match kind {
        RecordKind::A => {
            exactly(1, "an IPv4 address")?;
            RecordData::A {
                address: values[0]
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("{:?} is not an IPv4 address", values[0]))?,
            }
        }
        RecordKind::Aaaa => {
            exactly(1, "an IPv6 address")?;
            RecordData::Aaaa {
                address: values[0]
                    .parse::<Ipv6Addr>()
                    .map_err(|_| format!("{:?} is not an IPv6 address", values[0]))?,
            }
        }
        RecordKind::Cname => {
            exactly(1, "a target name")?;
            RecordData::Cname {
                target: values[0].clone(),
            }
        }
        RecordKind::Txt => RecordData::Txt {
            text: values.join(" "),
        },
        RecordKind::Srv => {
            exactly(4, "priority weight port target")?;
            RecordData::Srv {
                priority: number(&values[0], "priority")?,
                weight: number(&values[1], "weight")?,
                port: number(&values[2], "port")?,
                target: values[3].clone(),
            }
        }
        RecordKind::Mx => {
            exactly(2, "preference exchange")?;
            RecordData::Mx {
                preference: number(&values[0], "preference")?,
                exchange: values[1].clone(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_view_is_a_record_with_its_network() {
        let view = super::RecordView {
            record: super::StaticRecord {
                name: "db.lab.lxd".into(),
                ttl: Some(60),
                data: super::RecordData::A {
                    address: "172.20.0.5".parse().unwrap(),
                },
            },
            network: Some("lab".into()),
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "db.lab.lxd", "ttl": 60,
                "data": {"type": "A", "address": "172.20.0.5"},
                "network": "lab"
            })
        );
        let back: super::RecordView = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, view);
        // What older clients send and read: a bare record.
        let bare: super::RecordView = serde_json::from_value(serde_json::json!({
            "name": "www", "ttl": null, "data": {"type": "A", "address": "172.16.0.5"}
        }))
        .unwrap();
        assert_eq!(bare.network, None);
        let old: super::StaticRecord = serde_json::from_value(json).unwrap();
        assert_eq!(old, view.record);
    }

    use super::*;

    fn values(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn records_parse_by_type() {
        assert_eq!(
            record_data(RecordKind::A, &values(&["10.0.0.5"])),
            Ok(RecordData::A {
                address: Ipv4Addr::new(10, 0, 0, 5)
            })
        );
        assert_eq!(
            record_data(RecordKind::Srv, &values(&["10", "5", "5060", "sip.lxd"])),
            Ok(RecordData::Srv {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.lxd".into()
            })
        );
        assert_eq!(
            record_data(RecordKind::Txt, &values(&["v=spf1", "-all"])),
            Ok(RecordData::Txt {
                text: "v=spf1 -all".into()
            })
        );
        assert_eq!(
            record_data(RecordKind::Mx, &values(&["10", "mail"])),
            Ok(RecordData::Mx {
                preference: 10,
                exchange: "mail".into()
            })
        );
        assert!(record_data(RecordKind::Aaaa, &values(&["fd00::1"])).is_ok());
        assert!(record_data(RecordKind::Cname, &values(&["www.lxd"])).is_ok());
    }

    #[test]
    fn malformed_records_say_what_is_wrong() {
        let error = record_data(RecordKind::A, &values(&["10.0.0.256"])).expect_err("bad A");
        assert!(error.contains("not an IPv4 address"), "{error}");
        let error = record_data(RecordKind::Srv, &values(&["10", "5", "sip"])).expect_err("short");
        assert!(error.contains("SRV record takes"), "{error}");
        let error =
            record_data(RecordKind::Mx, &values(&["high", "mail"])).expect_err("bad preference");
        assert!(error.contains("preference must be a number"), "{error}");
        assert!(record_data(RecordKind::Aaaa, &values(&["10.0.0.1"])).is_err());
        assert!(record_data(RecordKind::A, &values(&["10.0.0.1", "10.0.0.2"])).is_err());
    }

    #[test]
    fn type_names_are_read_in_any_case() {
        assert_eq!(RecordKind::from_name("a"), Some(RecordKind::A));
        assert_eq!(RecordKind::from_name("AaAa"), Some(RecordKind::Aaaa));
        assert_eq!(RecordKind::from_name("mx"), Some(RecordKind::Mx));
        assert_eq!(RecordKind::from_name("PTR"), None);
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(kind.name()), Some(kind));
        }
    }
}
