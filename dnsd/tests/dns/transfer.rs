//! AXFR to listed secondaries, and NOTIFY on changes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use raftmasq_state::RecordData;
use tokio::net::{TcpListener, UdpSocket};

use crate::support::*;

fn secondary_config(secondary: SocketAddr) -> raftmasq_dnsd::DnsServerConfig {
    let mut config = config();
    config.secondaries = vec![secondary];
    config.notify_interval = Duration::from_millis(400);
    config.notify_timeout = Duration::from_millis(150);
    config
}

#[tokio::test]
async fn axfr_to_a_listed_secondary_only() {
    // The secondary's NOTIFY port is irrelevant here: nobody listens.
    let h = start(secondary_config("127.0.0.1:9".parse().unwrap())).await;
    h.bind(10, "c1");
    h.bind(11, "c2");
    h.add(
        "www.lxd",
        None,
        RecordData::A {
            address: Ipv4Addr::new(192, 0, 2, 7),
        },
    );
    h.add(
        "www.example.com",
        None,
        RecordData::A {
            address: Ipv4Addr::new(192, 0, 2, 8),
        },
    );

    let messages = h.tcp(&query("lxd.", RecordType::AXFR)).await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    assert!(messages.iter().all(|m| m.metadata.authoritative));
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count(),
        2
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.record_type() == RecordType::NS)
            .count(),
        3
    );
    let a: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_ascii(), a.0)),
            _ => None,
        })
        .collect();
    assert!(a.contains(&("c1.lxd.".into(), ip(10))));
    assert!(a.contains(&("c2.lxd.".into(), ip(11))));
    assert!(a.contains(&("www.lxd.".into(), Ipv4Addr::new(192, 0, 2, 7))));
    assert!(a.contains(&("ns1.lxd.".into(), Ipv4Addr::new(10, 0, 0, 1))));
    assert_eq!(a.len(), 6, "out-of-zone static records stay out: {a:?}");

    let messages = h
        .tcp(&query("16.172.in-addr.arpa.", RecordType::AXFR))
        .await;
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.clone()).collect();
    let ptrs = records
        .iter()
        .filter(|r| r.record_type() == RecordType::PTR)
        .count();
    assert_eq!(ptrs, 2);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);

    // Another address is refused; UDP AXFR is a format error; an unknown zone is NOTAUTH.
    let outsider: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let refused = tcp_from(outsider, h.addr, &query("lxd.", RecordType::AXFR)).await;
    assert_eq!(refused[0].metadata.response_code, ResponseCode::Refused);
    assert!(refused[0].answers.is_empty());
    let response = h.udp(&query("lxd.", RecordType::AXFR)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    let response = h.tcp(&query("example.com.", RecordType::AXFR)).await;
    assert_eq!(response[0].metadata.response_code, ResponseCode::NotAuth);
}

#[tokio::test]
async fn large_zones_transfer_in_several_messages() {
    let h = start(secondary_config("127.0.0.1:9".parse().unwrap())).await;
    for n in 1..=200u8 {
        h.bind(n, &format!("host{n}"));
    }
    for n in 0..100 {
        let text = "t".repeat(200);
        h.add(&format!("t{n}.lxd"), None, RecordData::Txt { text });
    }
    let messages = h.tcp(&query("lxd.", RecordType::AXFR)).await;
    assert!(messages.len() > 1);
    let a = messages
        .iter()
        .flat_map(|m| &m.answers)
        .filter(|r| r.record_type() == RecordType::A)
        .count();
    assert_eq!(a, 203);
    let txt = messages
        .iter()
        .flat_map(|m| &m.answers)
        .filter(|r| r.record_type() == RecordType::TXT)
        .count();
    assert_eq!(txt, 100);
    assert_eq!(messages[0].queries.len(), 1);
    assert!(messages[1..].iter().all(|m| m.queries.is_empty()));
}

async fn next_notify(socket: &UdpSocket, within: Duration) -> Option<(Message, SocketAddr)> {
    let mut buf = vec![0; 4096];
    let (n, from) = tokio::time::timeout(within, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    let message = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(message.metadata.op_code, OpCode::Notify);
    assert!(message.metadata.authoritative);
    assert_eq!(message.queries[0].query_type(), RecordType::SOA);
    Some((message, from))
}

async fn acknowledge(socket: &UdpSocket, notify: &Message, to: SocketAddr) {
    let mut ack = Message::response(notify.metadata.id, OpCode::Notify);
    ack.metadata.message_type = MessageType::Response;
    ack.add_query(notify.queries[0].clone());
    socket.send_to(&ack.to_vec().unwrap(), to).await.unwrap();
}

fn serial_of(notify: &Message) -> u32 {
    soa_serial(&notify.answers[0])
}

#[tokio::test]
async fn notify_is_sent_coalesced_and_retried() {
    let secondary = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // AXFR needs TCP on the server, not on the secondary; keep the port ours.
    let _hold = TcpListener::bind(secondary.local_addr().unwrap()).await;
    let h = start(secondary_config(secondary.local_addr().unwrap())).await;

    // At start: one NOTIFY per zone.
    let mut zones = Vec::new();
    for _ in 0..2 {
        let (notify, from) = next_notify(&secondary, Duration::from_secs(2))
            .await
            .unwrap();
        zones.push(notify.queries[0].name().to_ascii());
        acknowledge(&secondary, &notify, from).await;
    }
    zones.sort();
    assert_eq!(zones, ["16.172.in-addr.arpa.", "lxd."]);

    // A burst of changes: one NOTIFY per zone with the final serial.
    for n in 10..20 {
        h.bind(n, &format!("c{n}"));
    }
    let final_serial = h.source.index() as u32;
    let mut seen = Vec::new();
    while let Some((notify, from)) = next_notify(&secondary, Duration::from_millis(900)).await {
        acknowledge(&secondary, &notify, from).await;
        seen.push((notify.queries[0].name().to_ascii(), serial_of(&notify)));
    }
    assert_eq!(seen.len(), 2, "coalesced: {seen:?}");
    assert!(
        seen.iter().all(|(_, serial)| *serial == final_serial),
        "{seen:?}"
    );

    // Unacknowledged: resent with the same ID until answered.
    h.bind(30, "c30");
    let (first, _) = next_notify(&secondary, Duration::from_secs(2))
        .await
        .unwrap();
    let mut resent = None;
    while let Some((again, from)) = next_notify(&secondary, Duration::from_secs(1)).await {
        if again.metadata.id == first.metadata.id {
            acknowledge(&secondary, &again, from).await;
            resent = Some(again);
            break;
        }
        acknowledge(&secondary, &again, from).await;
    }
    let resent = resent.expect("the NOTIFY was resent");
    assert_eq!(serial_of(&resent), serial_of(&first));
}
