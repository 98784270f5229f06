//! Answers from the replica: leases, static records, SOA, NS.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use raftmasq_dnsd::MemoryZoneSource;
use raftmasq_state::{Command, LeaseState, RecordData, Response};

use crate::support::*;

#[tokio::test]
async fn a_and_ptr_for_a_bound_lease_keep_the_question_case() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let response = h.udp(&query("C1.LxD.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert_eq!(a_records(&response), vec![ip(10)]);
    let answer = &response.answers[0];
    assert!(answer.name.eq_case(&Name::from_ascii("C1.LxD.").unwrap()));
    assert_eq!(answer.ttl, 30);
    assert!(
        response.queries[0]
            .name()
            .eq_case(&Name::from_ascii("C1.LxD.").unwrap())
    );

    let response = h
        .udp(&query("10.0.16.172.IN-ADDR.arpa.", RecordType::PTR))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    match &response.answers[..] {
        [record] => match &record.data {
            RData::PTR(ptr) => assert_eq!(ptr.0, Name::from_ascii("c1.lxd.").unwrap()),
            other => panic!("not a PTR: {other:?}"),
        },
        other => panic!("one PTR expected: {other:?}"),
    }
}

#[tokio::test]
async fn names_vanish_after_release_and_after_expiry_without_a_command() {
    let h = start(config()).await;
    h.bind(10, "c1");
    h.bind(11, "c2");
    h.release(10);
    for (name, qtype) in [
        ("c1.lxd.", RecordType::A),
        ("10.0.16.172.in-addr.arpa.", RecordType::PTR),
    ] {
        let response = h.udp(&query(name, qtype)).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        assert!(response.answers.is_empty());
        assert_eq!(response.authorities.len(), 1);
        assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
        // RFC 2308: the negative TTL, via the SOA's TTL and MINIMUM.
        assert_eq!(response.authorities[0].ttl, 15);
    }
    assert_eq!(
        a_records(&h.udp(&query("c2.lxd.", RecordType::A)).await),
        vec![ip(11)]
    );
    // One millisecond before the end the name is there; at the end it is gone,
    // though no Expire command has been applied.
    h.advance(LEASE_SECS * 1000 - 1);
    assert_eq!(
        a_records(&h.udp(&query("c2.lxd.", RecordType::A)).await),
        vec![ip(11)]
    );
    h.advance(1);
    let response = h.udp(&query("c2.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    let response = h
        .udp(&query("11.0.16.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn offered_leases_have_no_name() {
    let h = start(config()).await;
    let response = h.apply(Command::Allocate {
        request: request(12, Some("c3")),
        now: h.now(),
        hold_ms: 60_000,
    });
    assert!(matches!(response, Response::Lease { lease } if lease.state == LeaseState::Offered));
    let response = h.udp(&query("c3.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    let response = h
        .udp(&query("12.0.16.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn nodata_carries_the_soa() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let response = h.udp(&query("c1.lxd.", RecordType::AAAA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert!(response.answers.is_empty());
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(
        response.authorities[0].name,
        Name::from_ascii("lxd.").unwrap()
    );
    // Interior nodes exist: the reverse /24 above a PTR, and an empty
    // non-terminal above a static SRV (RFC 8020).
    let response = h
        .udp(&query("0.16.172.in-addr.arpa.", RecordType::PTR))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    h.add(
        "_sip._tcp.lxd",
        None,
        RecordData::Srv {
            priority: 1,
            weight: 2,
            port: 5060,
            target: "c1.lxd".into(),
        },
    );
    let response = h.udp(&query("_tcp.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let response = h.udp(&query("_udp.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    // Below a lease name nothing exists.
    let response = h.udp(&query("x.c1.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn static_records_of_each_type() {
    let h = start(config()).await;
    h.add(
        "www.lxd",
        Some(120),
        RecordData::A {
            address: Ipv4Addr::new(192, 0, 2, 7),
        },
    );
    h.add(
        "www.lxd",
        Some(120),
        RecordData::Aaaa {
            address: Ipv6Addr::LOCALHOST,
        },
    );
    h.add(
        "www.lxd",
        None,
        RecordData::Txt {
            text: "v=spf1 -all".into(),
        },
    );
    h.add(
        "lxd",
        None,
        RecordData::Mx {
            preference: 10,
            exchange: "mail.lxd".into(),
        },
    );
    h.add(
        "_sip._tcp.lxd",
        None,
        RecordData::Srv {
            priority: 1,
            weight: 2,
            port: 5060,
            target: "www.lxd".into(),
        },
    );

    let response = h.udp(&query("www.lxd.", RecordType::A)).await;
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    assert_eq!(response.answers[0].ttl, 120);
    let response = h.udp(&query("www.lxd.", RecordType::AAAA)).await;
    assert!(matches!(&response.answers[0].data, RData::AAAA(a) if a.0 == Ipv6Addr::LOCALHOST));
    let response = h.udp(&query("www.lxd.", RecordType::TXT)).await;
    match &response.answers[0].data {
        RData::TXT(txt) => assert_eq!(txt.txt_data[0].as_ref(), b"v=spf1 -all"),
        other => panic!("not TXT: {other:?}"),
    }
    assert_eq!(response.answers[0].ttl, 30);
    let response = h.udp(&query("lxd.", RecordType::MX)).await;
    assert!(
        matches!(&response.answers[0].data, RData::MX(mx) if mx.preference == 10 && mx.exchange == Name::from_ascii("mail.lxd.").unwrap())
    );
    let response = h.udp(&query("_sip._tcp.lxd.", RecordType::SRV)).await;
    assert!(
        matches!(&response.answers[0].data, RData::SRV(srv) if srv.port == 5060 && srv.target == Name::from_ascii("www.lxd.").unwrap())
    );
    // ANY gives everything at the name.
    let response = h.udp(&query("www.lxd.", RecordType::ANY)).await;
    assert_eq!(response.answers.len(), 3);
}

#[tokio::test]
async fn cnames_are_chased_inside_our_zones() {
    let h = start(config()).await;
    h.bind(10, "c1");
    h.add(
        "alias.lxd",
        None,
        RecordData::Cname {
            target: "c1.lxd".into(),
        },
    );
    h.add(
        "double.lxd",
        None,
        RecordData::Cname {
            target: "alias.lxd".into(),
        },
    );
    h.add(
        "out.lxd",
        None,
        RecordData::Cname {
            target: "www.example.com".into(),
        },
    );
    h.add(
        "dangling.lxd",
        None,
        RecordData::Cname {
            target: "nobody.lxd".into(),
        },
    );
    h.add(
        "loop1.lxd",
        None,
        RecordData::Cname {
            target: "loop2.lxd".into(),
        },
    );
    h.add(
        "loop2.lxd",
        None,
        RecordData::Cname {
            target: "loop1.lxd".into(),
        },
    );

    let response = h.udp(&query("Double.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let types: Vec<_> = response.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::CNAME, RecordType::CNAME, RecordType::A]);
    assert!(
        response.answers[0]
            .name
            .eq_case(&Name::from_ascii("Double.lxd.").unwrap())
    );
    assert_eq!(a_records(&response), vec![ip(10)]);

    let response = h.udp(&query("out.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(response.answers.len(), 1);

    // RFC 6604: the rcode is that of the last name in the chain.
    let response = h.udp(&query("dangling.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(response.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);

    let response = h.udp(&query("loop1.lxd.", RecordType::A)).await;
    assert_eq!(response.answers.len(), 2);

    // Asking for the CNAME itself does not chase.
    let response = h.udp(&query("alias.lxd.", RecordType::CNAME)).await;
    assert_eq!(response.answers.len(), 1);
}

#[tokio::test]
async fn the_soa_serial_is_the_applied_index() {
    let h = start(config()).await;
    let before = soa_serial(&h.udp(&query("lxd.", RecordType::SOA)).await.answers[0]);
    assert_eq!(u64::from(before), h.source.index());
    h.bind(10, "c1");
    let after = h.udp(&query("lxd.", RecordType::SOA)).await;
    assert!(soa_serial(&after.answers[0]) > before);
    let reverse = h.udp(&query("16.172.in-addr.arpa.", RecordType::SOA)).await;
    assert_eq!(
        soa_serial(&reverse.answers[0]),
        soa_serial(&after.answers[0])
    );
    match &after.answers[0].data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname, Name::from_ascii("ns1.lxd.").unwrap());
            assert_eq!(soa.minimum, 15);
            assert!(soa.refresh > 0 && soa.retry > 0 && soa.expire > soa.refresh);
        }
        other => panic!("not an SOA: {other:?}"),
    }
}

#[tokio::test]
async fn ns_for_every_host_with_glue() {
    let h = start(config()).await;
    let response = h.udp(&query("lxd.", RecordType::NS)).await;
    let names: Vec<String> = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["ns1.lxd.", "ns2.lxd.", "ns3.lxd."]);
    let glue: Vec<_> = response
        .additionals
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(glue.len(), 3);
    assert!(glue.contains(&("ns2.lxd.".into(), Ipv4Addr::new(10, 0, 0, 2))));
    let response = h.udp(&query("ns3.lxd.", RecordType::A)).await;
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(10, 0, 0, 3)]);
    let response = h.udp(&query("16.172.in-addr.arpa.", RecordType::NS)).await;
    assert_eq!(response.answers.len(), 3);
}

#[tokio::test]
async fn an_empty_replica_answers_servfail_for_the_domain() {
    let h = start_with(config(), Arc::new(MemoryZoneSource::default())).await;
    let response = h.udp(&query("c1.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    h.apply(Command::Initialize {
        settings: settings(),
    });
    let response = h.udp(&query("c1.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

/// An LXD instance outside the default project is `NAME.PROJECT` under the
/// domain, as LXD's own DNS names it; the project is an empty non-terminal.
#[tokio::test]
async fn a_project_instance_answers_as_name_dot_project() {
    let h = start(config()).await;
    let named = h.apply(Command::NameMac {
        mac: mac(12),
        name: "c1.web".into(),
        now: h.now(),
    });
    assert_eq!(named, Response::Done);
    // The MAC's name is granted (it wins over what the client sends).
    h.bind(12, "c1.web");
    let response = h.udp(&query("c1.web.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&response), vec![ip(12)]);
    let response = h
        .udp(&query("12.0.16.172.in-addr.arpa.", RecordType::PTR))
        .await;
    match &response.answers[..] {
        [record] => match &record.data {
            RData::PTR(ptr) => assert_eq!(ptr.0, Name::from_ascii("c1.web.lxd.").unwrap()),
            other => panic!("not a PTR: {other:?}"),
        },
        other => panic!("one PTR expected: {other:?}"),
    }
    // `web.lxd` has a name below it: NODATA, not NXDOMAIN (RFC 8020).
    let response = h.udp(&query("web.lxd.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
    // Nothing else changed: `c1.lxd` is not that instance, `x.web.lxd` nothing.
    for name in ["c1.lxd.", "x.web.lxd.", "db.lxd."] {
        let response = h.udp(&query(name, RecordType::A)).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
    }
}
