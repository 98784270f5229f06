//! Stateful DHCPv6 names in zone transfers: the cluster zone's AXFR holds
//! the AAAA of every named DHCPv6 lease and the prefix's ip6.arpa AXFR its
//! PTR, as lookups answer them; an ended or unnamed lease is left out.

use std::net::Ipv6Addr;

use hickory_proto::rr::{RData, RecordType};
use raftmasq_state::v6::{Duid, V6Binding, V6LeaseRequest, V6Range, V6Want};
use raftmasq_state::{Command, Response};

use crate::support::*;

const ZONE: &str = "0.0.0.0.0.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa.";

const RANGE: V6Range = V6Range {
    start: Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x1000),
    end: Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x10ff),
};

fn stateful_config() -> raftmasq_dnsd::DnsServerConfig {
    let mut config = config();
    config.ipv6_prefix = Some("fd42:1::/64".parse().unwrap());
    config.ipv6_leases = true;
    config.secondaries = vec!["127.0.0.1:9".parse().unwrap()];
    config
}

/// Binds a DHCPv6 lease for client `n` asking for `name` (the FQDN label).
fn bind6(h: &Harness, n: u8, name: Option<&str>, lease_time_secs: u64) -> Ipv6Addr {
    let response = h.apply(Command::BindV6 {
        request: V6LeaseRequest {
            binding: V6Binding {
                duid: Duid::link_layer(mac(n)),
                iaid: 1,
            },
            mac: Some(mac(n)),
            fqdn_label: name.map(str::to_string),
            reserved_name: None,
            want: V6Want::Dynamic { hint: None },
        },
        range: RANGE,
        now: h.now(),
        lease_time_secs,
    });
    match response {
        Response::LeaseV6 { lease } => {
            assert_eq!(lease.name.as_deref(), name);
            lease.address
        }
        other => panic!("v6 bind failed: {other:?}"),
    }
}

async fn axfr(h: &Harness, zone: &str) -> Vec<hickory_proto::rr::Record> {
    let messages = h.tcp(&query(zone, RecordType::AXFR)).await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    records
}

#[tokio::test]
async fn axfr_of_the_zone_and_of_ip6_arpa_holds_the_dhcpv6_lease_names() {
    let h = start(stateful_config()).await;
    h.bind(10, "c1");
    let web = bind6(&h, 20, Some("web"), 3600);
    let unnamed = bind6(&h, 21, None, 3600);
    let short = bind6(&h, 22, Some("brief"), 5);
    h.advance(10_000); // "brief" has ended by the transfer

    let records = axfr(&h, "lxd.").await;
    let aaaa: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(aaaa, vec![("web.lxd.".to_string(), web)]);
    // The v4 lease is there as before.
    assert!(
        records
            .iter()
            .any(|r| r.name.to_ascii() == "c1.lxd." && r.record_type() == RecordType::A)
    );

    let records = axfr(&h, ZONE).await;
    let ptrs: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some((r.name.to_ascii(), p.0.to_ascii())),
            _ => None,
        })
        .collect();
    let owner = |address: Ipv6Addr| {
        let nibbles: String = format!("{:032x}", u128::from(address))
            .chars()
            .rev()
            .map(|c| format!("{c}."))
            .collect();
        format!("{nibbles}ip6.arpa.")
    };
    assert_eq!(ptrs, vec![(owner(web), "web.lxd.".to_string())]);
    assert!(
        !ptrs
            .iter()
            .any(|(o, _)| *o == owner(unnamed) || *o == owner(short))
    );

    // What AXFR holds is what a lookup answers.
    let response = h.udp(&query("web.lxd.", RecordType::AAAA)).await;
    assert!(
        response
            .answers
            .iter()
            .any(|r| r.data == RData::AAAA(web.into()))
    );
    let response = h.udp(&query(&owner(web), RecordType::PTR)).await;
    assert_eq!(response.answers.len(), 1);
}
