//! Random and mutated datagrams never panic the server, and whatever it
//! answers is a well-formed response to the same ID.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RecordType;
use proptest::prelude::*;
use raftmasq_dnsd::{DnsServer, MemoryZoneSource};
use raftmasq_state::{Command, RecordData, StaticRecord};

use crate::support::*;

fn server() -> DnsServer {
    let source = Arc::new(MemoryZoneSource::default());
    source.apply(&Command::Initialize {
        settings: settings(),
    });
    source.apply(&Command::Bind {
        request: request(10, Some("c1")),
        now: T0,
        lease_time_secs: None,
    });
    source.apply(&Command::AddRecord {
        record: StaticRecord {
            name: "alias.lxd".into(),
            ttl: None,
            data: RecordData::Cname {
                target: "c1.lxd".into(),
            },
        },
    });
    let mut config = config();
    config.secondaries = vec!["127.0.0.1:9".parse().unwrap()];
    DnsServer::new(&config, source, Arc::new(|| T0)).unwrap()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = [
        query("c1.lxd.", RecordType::A),
        query("alias.lxd.", RecordType::A),
        query("10.0.16.172.in-addr.arpa.", RecordType::PTR),
        query("lxd.", RecordType::AXFR),
        query("lxd.", RecordType::ANY),
        edns_query("c1.lxd.", RecordType::AAAA, 4096),
    ];
    seeds[0].metadata.id = 7;
    seeds.iter().map(|m| m.to_vec().unwrap()).collect()
}

fn check(server: &DnsServer, runtime: &tokio::runtime::Runtime, bytes: &[u8], tcp: bool) {
    let from: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let responses = runtime.block_on(server.respond(bytes, from, tcp));
    for response in responses {
        let message = Message::from_vec(&response).expect("responses decode");
        assert_eq!(message.metadata.message_type, MessageType::Response);
        assert_eq!(
            message.metadata.id,
            u16::from_be_bytes([bytes[0], bytes[1]])
        );
        if !tcp {
            assert!(response.len() <= 1232);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
        let (server, runtime) = (server(), runtime());
        check(&server, &runtime, &bytes, tcp);
    }

    #[test]
    fn mutated_queries_never_panic(
        seed in 0usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        tcp in any::<bool>(),
    ) {
        let (server, runtime) = (server(), runtime());
        let mut bytes = seeds()[seed].clone();
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        // Sometimes also cut the message short (never below the header).
        if cut % 3 == 0 {
            let keep = 12 + cut % (bytes.len() - 11);
            bytes.truncate(keep);
        }
        check(&server, &runtime, &bytes, tcp);
    }
}
