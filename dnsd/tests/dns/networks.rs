//! Several networks: each network's domain and reverse zone answered from
//! its own table, names unique per domain, AXFR of every zone.

use std::net::Ipv4Addr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use raftmasq_state::{AddressRange, ClientId, Command, LeaseRequest, MacAddr, Response};

use crate::support::*;

fn lab_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 20, 0, n)
}

/// Starts the default network (`lxd`, 172.16/16) and `lab` (172.20.0/24)
/// under `domain`, which is `lab.lxd` (the default) or its own.
async fn two_networks(domain: &str) -> Harness {
    let mut config = config();
    config.secondaries = vec!["127.0.0.1:9".parse().unwrap()];
    let h = start(config).await;
    let settings = raftmasq_state::ClusterSettings {
        subnet: "172.20.0.0/24".parse().unwrap(),
        ranges: vec![AddressRange {
            start: lab_ip(10),
            end: lab_ip(99),
        }],
        domain: domain.into(),
        ..settings()
    };
    let init = h.apply(Command::InNetwork {
        network: "lab".into(),
        command: Box::new(Command::Initialize { settings }),
    });
    assert_eq!(init, Response::Done);
    h
}

/// Binds `name` in `lab` at 172.20.0.<n> for a MAC of its own.
fn bind_lab(h: &Harness, n: u8, name: &str) {
    assert_eq!(
        bind_lab_as(h, n, name).as_deref(),
        Some(name),
        "names are per domain"
    );
}

/// Binds a client asking for `name` in `lab` at 172.20.0.<n>; the name it
/// was granted.
fn bind_lab_as(h: &Harness, n: u8, name: &str) -> Option<String> {
    let mac = MacAddr([0x00, 0x16, 0x3e, 0x20, 0, n]);
    let response = h.apply(Command::InNetwork {
        network: "lab".into(),
        command: Box::new(Command::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: Some(name.into()),
                requested_address: Some(lab_ip(n)),
                seen_by: Some(1),
            },
            now: h.now(),
            lease_time_secs: Some(LEASE_SECS),
        }),
    });
    match response {
        Response::Lease { lease } => {
            assert_eq!(lease.address, lab_ip(n));
            lease.granted_name
        }
        other => panic!("bind in lab failed: {other:?}"),
    }
}

fn a_records(message: &hickory_proto::op::Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn ptr_targets(message: &hickory_proto::op::Message) -> Vec<String> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(ptr) => Some(ptr.0.to_ascii()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn each_network_answers_its_own_domain_and_reverse_zone() {
    let h = two_networks("lab.lxd").await;
    h.bind(10, "c1");
    bind_lab(&h, 10, "c1");
    bind_lab(&h, 11, "web");

    for (name, want) in [
        ("c1.lxd.", vec![ip(10)]),
        ("c1.lab.lxd.", vec![lab_ip(10)]),
        ("web.lab.lxd.", vec![lab_ip(11)]),
    ] {
        // UDP (the fast path takes what it can) and TCP (the general path).
        let udp = h.udp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&udp), want, "{name} over UDP");
        assert!(udp.metadata.authoritative, "{name}");
        let tcp = h.tcp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&tcp[0]), want, "{name} over TCP");
    }
    // web is lab's only: not in the default domain.
    let missing = h.udp(&query("web.lxd.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    let missing = h.udp(&query("nobody.lab.lxd.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.metadata.authoritative);
    let soa = &missing.authorities[0];
    assert_eq!(soa.name.to_ascii(), "lab.lxd.", "lab's own SOA");

    let ptr = h
        .udp(&query("10.0.20.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(ptr_targets(&ptr), vec!["c1.lab.lxd.".to_string()]);
    let ptr = h
        .udp(&query("10.0.16.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(ptr_targets(&ptr), vec!["c1.lxd.".to_string()]);
    let ptr = h
        .udp(&query("12.0.20.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(ptr.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ptr.authorities[0].name.to_ascii(), "0.20.172.in-addr.arpa.");

    let apex = h.udp(&query("lab.lxd.", RecordType::SOA)).await;
    assert_eq!(apex.answers[0].name.to_ascii(), "lab.lxd.");
}

/// `lab` in the cluster's own domain `lxd`: one zone, each name in one table.
#[tokio::test]
async fn networks_sharing_a_domain_answer_one_zone() {
    let h = two_networks("lxd").await;
    h.bind(10, "c1");
    assert_eq!(bind_lab_as(&h, 10, "c1").as_deref(), Some("c1-2"));
    assert_eq!(bind_lab_as(&h, 11, "web").as_deref(), Some("web"));
    for (name, want) in [
        ("c1.lxd.", vec![ip(10)]),
        ("c1-2.lxd.", vec![lab_ip(10)]),
        ("web.lxd.", vec![lab_ip(11)]),
    ] {
        let udp = h.udp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&udp), want, "{name} over UDP");
        assert!(udp.metadata.authoritative, "{name}");
        let tcp = h.tcp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&tcp[0]), want, "{name} over TCP");
    }
    // NXDOMAIN only when no network of the domain holds the name.
    let missing = h.udp(&query("nobody.lxd.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(missing.authorities[0].name.to_ascii(), "lxd.");
    // Each subnet keeps its reverse zone, naming into the shared domain.
    for (reverse, target) in [
        ("10.0.20.172.in-addr.arpa.", "c1-2.lxd."),
        ("10.0.16.172.in-addr.arpa.", "c1.lxd."),
    ] {
        let ptr = h.udp(&query(reverse, RecordType::PTR)).await;
        assert_eq!(ptr_targets(&ptr), vec![target.to_string()], "{reverse}");
    }
    // The zone's transfer carries every network's names, each once.
    let messages = h.tcp(&query("lxd.", RecordType::AXFR)).await;
    let mut a: Vec<_> = messages
        .iter()
        .flat_map(|m| m.answers.clone())
        .filter_map(|r| match &r.data {
            // Leases only: the name servers' glue (ns1, ns2, ...) aside.
            RData::A(a) if !r.name.to_ascii().starts_with("ns") => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect();
    a.sort();
    assert_eq!(
        a,
        vec![
            ("c1-2.lxd.".to_string(), lab_ip(10)),
            ("c1.lxd.".to_string(), ip(10)),
            ("web.lxd.".to_string(), lab_ip(11)),
        ]
    );
}

#[tokio::test]
async fn a_network_with_its_own_domain_is_served_beside_the_cluster_domain() {
    let h = two_networks("office.example").await;
    bind_lab(&h, 10, "c1");
    let answer = h.udp(&query("c1.office.example.", RecordType::A)).await;
    assert_eq!(a_records(&answer), vec![lab_ip(10)]);
    let ptr = h
        .udp(&query("10.0.20.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(ptr_targets(&ptr), vec!["c1.office.example.".to_string()]);
    // Outside every zone: not ours (no upstream here, so refused or failed).
    let other = h.udp(&query("c1.example.", RecordType::A)).await;
    assert!(!other.metadata.authoritative);
}

#[tokio::test]
async fn every_networks_zones_transfer() {
    let h = two_networks("lab.lxd").await;
    h.bind(10, "c1");
    bind_lab(&h, 10, "c1");
    let messages = h.tcp(&query("lab.lxd.", RecordType::AXFR)).await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    let a: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(a, vec![("c1.lab.lxd.".to_string(), lab_ip(10))]);

    let messages = h
        .tcp(&query("0.20.172.in-addr.arpa.", RecordType::AXFR))
        .await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    let ptrs: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some((r.name.to_ascii(), p.0.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ptrs,
        vec![(
            "10.0.20.172.in-addr.arpa.".to_string(),
            "c1.lab.lxd.".to_string()
        )]
    );
    // The default zone still carries only its own leases.
    let messages = h.tcp(&query("lxd.", RecordType::AXFR)).await;
    let names: Vec<_> = messages
        .iter()
        .flat_map(|m| m.answers.clone())
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.name.to_ascii())
        .collect();
    assert!(names.contains(&"c1.lxd.".to_string()));
    assert!(!names.contains(&"c1.lab.lxd.".to_string()), "{names:?}");
}

#[tokio::test]
async fn notify_covers_every_networks_zones() {
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let _hold = tokio::net::TcpListener::bind(secondary.local_addr().unwrap()).await;
    let mut config = config();
    config.secondaries = vec![secondary.local_addr().unwrap()];
    config.notify_interval = std::time::Duration::from_millis(200);
    let h = start(config).await;
    let settings = raftmasq_state::ClusterSettings {
        subnet: "172.20.0.0/24".parse().unwrap(),
        ranges: vec![AddressRange {
            start: lab_ip(10),
            end: lab_ip(99),
        }],
        domain: "lab.lxd".into(),
        ..settings()
    };
    let init = h.apply(Command::InNetwork {
        network: "lab".into(),
        command: Box::new(Command::Initialize { settings }),
    });
    assert_eq!(init, Response::Done);
    bind_lab(&h, 10, "c1");

    // Unacknowledged NOTIFYs are resent; collect zone names for a while.
    let mut zones = std::collections::BTreeSet::new();
    let mut buf = vec![0; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while zones.len() < 4 {
        let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, secondary.recv_from(&mut buf)).await
        else {
            break;
        };
        let message = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
        zones.insert(message.queries[0].name().to_ascii());
    }
    let want: std::collections::BTreeSet<String> = [
        "lxd.",
        "16.172.in-addr.arpa.",
        "lab.lxd.",
        "0.20.172.in-addr.arpa.",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(zones, want);
}

/// `record` committed to lab's table, as the admin API places it.
fn add_lab_record(h: &Harness, name: &str, data: raftmasq_state::RecordData) {
    let response = h.apply(Command::InNetwork {
        network: "lab".into(),
        command: Box::new(Command::AddRecord {
            record: raftmasq_state::StaticRecord {
                name: name.into(),
                ttl: None,
                data,
            },
        }),
    });
    assert_eq!(response, Response::Done, "{name}");
}

#[tokio::test]
async fn a_networks_static_records_are_answered_from_its_zone_and_transferred() {
    use raftmasq_state::RecordData;
    let h = two_networks("lab.lxd").await;
    add_lab_record(&h, "db.lab.lxd", RecordData::A { address: lab_ip(5) });
    add_lab_record(
        &h,
        "alias.lab.lxd",
        RecordData::Cname {
            target: "db.lab.lxd".into(),
        },
    );
    add_lab_record(
        &h,
        "db.lab.lxd",
        RecordData::Txt {
            text: "lab database".into(),
        },
    );
    for name in ["db.lab.lxd.", "alias.lab.lxd."] {
        let udp = h.udp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&udp), vec![lab_ip(5)], "{name} over UDP");
        assert!(udp.metadata.authoritative, "{name}");
        let tcp = h.tcp(&query(name, RecordType::A)).await;
        assert_eq!(a_records(&tcp[0]), vec![lab_ip(5)], "{name} over TCP");
    }
    let txt = h.udp(&query("db.lab.lxd.", RecordType::TXT)).await;
    assert_eq!(txt.answers.len(), 1, "{txt:?}");
    // Lab's records are not the default zone's.
    let missing = h.udp(&query("db.lxd.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    // A lab lease asking for the record's name gets the address without it
    // (one name, one owner, in lab's domain as in the default one).
    let mac = MacAddr([0x00, 0x16, 0x3e, 0x20, 0, 30]);
    let response = h.apply(Command::InNetwork {
        network: "lab".into(),
        command: Box::new(Command::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: Some("db".into()),
                requested_address: Some(lab_ip(30)),
                seen_by: Some(1),
            },
            now: h.now(),
            lease_time_secs: Some(LEASE_SECS),
        }),
    });
    let Response::Lease { lease } = response else {
        panic!("bind: {response:?}");
    };
    assert_eq!(lease.granted_name, None, "the record owns db.lab.lxd");
    let db = h.udp(&query("db.lab.lxd.", RecordType::A)).await;
    assert_eq!(a_records(&db), vec![lab_ip(5)]);

    let messages = h.tcp(&query("lab.lxd.", RecordType::AXFR)).await;
    let transferred: Vec<(String, RecordType)> = messages
        .iter()
        .flat_map(|m| m.answers.clone())
        .filter(|r| r.record_type() != RecordType::SOA && r.record_type() != RecordType::NS)
        .map(|r| (r.name.to_ascii(), r.record_type()))
        .collect();
    for want in [
        ("db.lab.lxd.".to_string(), RecordType::A),
        ("db.lab.lxd.".to_string(), RecordType::TXT),
        ("alias.lab.lxd.".to_string(), RecordType::CNAME),
    ] {
        assert!(transferred.contains(&want), "{want:?} in {transferred:?}");
    }
}
