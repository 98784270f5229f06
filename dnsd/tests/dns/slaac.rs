//! IPv6 names: AAAA of every lease name at its MAC's EUI-64 address in the
//! bridge's prefix, PTR in the prefix's ip6.arpa zone, the zone's SOA and NS,
//! and its transfer.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::support::*;

const ZONE: &str = "0.0.0.0.0.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa.";

fn v6_config() -> raftmasq_dnsd::DnsServerConfig {
    let mut config = config();
    config.ipv6_prefix = Some("fd42:1::/64".parse().unwrap());
    config.secondaries = vec!["127.0.0.1:9".parse().unwrap()];
    config
}

/// mac(n) = 00:16:3e:00:00:n → fd42:1::216:3eff:fe00:n.
fn v6(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd42, 1, 0, 0, 0x0216, 0x3eff, 0xfe00, u16::from(n))
}

fn ptr_name(n: u8) -> String {
    let nibbles: String = format!("{n:04x}")
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect();
    format!("{nibbles}0.0.e.f.f.f.e.3.6.1.2.0.{ZONE}")
}

fn aaaa_records(response: &hickory_proto::op::Message) -> Vec<Ipv6Addr> {
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(aaaa) => Some(aaaa.0),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_lease_name_has_the_aaaa_of_its_mac_and_the_address_its_ptr() {
    let h = start(v6_config()).await;
    h.bind(10, "c1");
    let response = h.udp(&query("c1.lxd.", RecordType::AAAA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert_eq!(aaaa_records(&response), vec![v6(10)]);
    // The A answer is unchanged by it.
    let response = h.udp(&query("c1.lxd.", RecordType::A)).await;
    assert_eq!(a_records(&response), vec![ip(10)]);

    let response = h.udp(&query(&ptr_name(10), RecordType::PTR)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    match &response.answers[..] {
        [record] => match &record.data {
            RData::PTR(ptr) => assert_eq!(ptr.0, Name::from_ascii("c1.lxd.").unwrap()),
            other => panic!("not a PTR: {other:?}"),
        },
        other => panic!("one PTR expected: {other:?}"),
    }

    // After release both are gone; the names are NXDOMAIN with the zone's SOA.
    h.release(10);
    let response = h.udp(&query("c1.lxd.", RecordType::AAAA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    let response = h.udp(&query(&ptr_name(10), RecordType::PTR)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(response.authorities[0].name.to_ascii(), ZONE);
}

#[tokio::test]
async fn one_name_one_owner_across_v4_and_v6() {
    let h = start(v6_config()).await;
    h.bind(10, "web");
    // A second client asking for the same name gets web-2 (suffix policy):
    // its AAAA is its own MAC's, never the first one's.
    let response = h.apply(raftmasq_state::Command::Bind {
        request: request(11, Some("web")),
        now: h.now(),
        lease_time_secs: Some(60),
    });
    match response {
        raftmasq_state::Response::Lease { lease } => {
            assert_eq!(lease.granted_name.as_deref(), Some("web-2"))
        }
        other => panic!("bind failed: {other:?}"),
    }
    let first = h.udp(&query("web.lxd.", RecordType::AAAA)).await;
    let second = h.udp(&query("web-2.lxd.", RecordType::AAAA)).await;
    assert_eq!(aaaa_records(&first), vec![v6(10)]);
    assert_eq!(aaaa_records(&second), vec![v6(11)]);
    let any = h.udp(&query("web.lxd.", RecordType::ANY)).await;
    assert_eq!(a_records(&any), vec![ip(10)]);
    assert_eq!(aaaa_records(&any), vec![v6(10)]);
}

#[tokio::test]
async fn the_ip6_arpa_zone_has_soa_and_ns_and_rejects_other_addresses() {
    let h = start(v6_config()).await;
    h.bind(10, "c1");
    let response = h.udp(&query(ZONE, RecordType::SOA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(response.answers[0].record_type(), RecordType::SOA);
    let response = h.udp(&query(ZONE, RecordType::NS)).await;
    assert_eq!(response.answers.len(), 3);
    // An address of the prefix that is not EUI-64, an interior node.
    let not_eui64 = format!("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.{ZONE}");
    let response = h.udp(&query(&not_eui64, RecordType::PTR)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    let response = h.udp(&query(&format!("0.{ZONE}"), RecordType::PTR)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
}

#[tokio::test]
async fn without_a_prefix_there_is_no_aaaa_and_no_ip6_arpa_zone() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let response = h.udp(&query("c1.lxd.", RecordType::AAAA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
    // Not ours: refused (no recursion for this client is configured... the
    // harness allows 127.0.0.1, so it is forwarded or fails; either way not
    // an authoritative answer).
    let response = h.udp(&query(&ptr_name(10), RecordType::PTR)).await;
    assert!(!response.metadata.authoritative);
}

#[tokio::test]
async fn the_ip6_arpa_zone_and_the_aaaa_records_transfer() {
    let h = start(v6_config()).await;
    h.bind(10, "c1");
    h.bind(11, "c2");
    let messages = h.tcp(&query(ZONE, RecordType::AXFR)).await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    let ptrs: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(ptr) => Some((r.name.to_ascii(), ptr.0.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ptrs,
        vec![
            (ptr_name(10), "c1.lxd.".to_string()),
            (ptr_name(11), "c2.lxd.".to_string())
        ]
    );
    let messages = h.tcp(&query("lxd.", RecordType::AXFR)).await;
    let aaaa: Vec<_> = messages
        .iter()
        .flat_map(|m| m.answers.clone())
        .filter_map(|r| match &r.data {
            RData::AAAA(aaaa) => Some((r.name.to_ascii(), aaaa.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        aaaa,
        vec![
            ("c1.lxd.".to_string(), v6(10)),
            ("c2.lxd.".to_string(), v6(11))
        ]
    );
    let _ = Ipv4Addr::LOCALHOST;
}
