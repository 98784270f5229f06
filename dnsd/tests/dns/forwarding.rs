//! Names outside our zones: forwarded with caching for allowed clients only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::support::*;

/// A tiny upstream on a non-53 port: `nx.example.` is NXDOMAIN, any other A
/// is 192.0.2.1. Counts the queries it gets.
async fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let request = Message::from_vec(&buf[..n]).unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let query = request.queries[0].clone();
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_available = true;
            response.add_query(query.clone());
            if query.name().to_ascii() == "nx.example." {
                response.metadata.response_code = ResponseCode::NXDomain;
                let zone = Name::from_ascii("example.").unwrap();
                let soa = SOA::new(zone.clone(), zone.clone(), 1, 1, 1, 1, 60);
                response.add_authority(Record::from_rdata(zone, 60, RData::SOA(soa)));
            } else {
                let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
                response.add_answer(Record::from_rdata(query.name().clone(), 300, a));
            }
            socket
                .send_to(&response.to_vec().unwrap(), from)
                .await
                .unwrap();
        }
    });
    (addr, count)
}

#[tokio::test]
async fn allowed_clients_get_forwarded_and_cached_answers() {
    let (upstream, count) = upstream().await;
    let mut config = config();
    config.upstream = vec![upstream];
    let h = start(config).await;
    let response = h.udp(&query("www.example.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.recursion_available);
    assert!(!response.metadata.authoritative);
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Same name in another case: from the cache.
    let response = h.udp(&query("WWW.example.", RecordType::A)).await;
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(
        response.queries[0]
            .name()
            .eq_case(&Name::from_ascii("WWW.example.").unwrap())
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Negative answers are cached too, with their SOA.
    for _ in 0..2 {
        let response = h.udp(&query("nx.example.", RecordType::A)).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn other_clients_are_refused_but_still_get_our_zones() {
    let (upstream, count) = upstream().await;
    let mut config = config();
    config.upstream = vec![upstream];
    let h = start(config).await;
    h.bind(10, "c1");
    let outsider: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let bytes = query("www.example.", RecordType::A).to_vec().unwrap();
    let response = udp_from(outsider, h.addr, &bytes).await.unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert!(!response.metadata.recursion_available);
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let bytes = query("c1.lxd.", RecordType::A).to_vec().unwrap();
    let response = udp_from(outsider, h.addr, &bytes).await.unwrap();
    assert_eq!(a_records(&response), vec![ip(10)]);
    assert!(!response.metadata.recursion_available);
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = config();
    config.upstream = vec![silent.local_addr().unwrap()];
    let h = start(config).await;
    let response = h.udp(&query("www.example.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn upstream_resolvers_can_be_replaced_while_serving() {
    let (first, first_count) = upstream().await;
    let (second, second_count) = upstream().await;
    let mut config = config();
    config.upstream = vec![first];
    let h = start(config).await;
    assert_eq!(
        a_records(&h.udp(&query("www.example.", RecordType::A)).await),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert_eq!(first_count.load(Ordering::SeqCst), 1);

    h.server.set_upstream(vec![second]);
    // The same name again: not from the old cache, from the new upstream.
    assert_eq!(
        a_records(&h.udp(&query("www.example.", RecordType::A)).await),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert_eq!(first_count.load(Ordering::SeqCst), 1);
    assert_eq!(second_count.load(Ordering::SeqCst), 1);
}
