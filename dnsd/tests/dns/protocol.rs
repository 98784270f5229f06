//! Header, opcode, EDNS and truncation behaviour (RFC 1035, 6891, 2181, 7766).

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use raftmasq_state::RecordData;

use crate::support::*;

async fn raw(h: &Harness, bytes: &[u8]) -> Option<Message> {
    udp_from(Ipv4Addr::LOCALHOST.into(), h.addr, bytes).await
}

#[tokio::test]
async fn edns_is_echoed_only_when_asked() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let response = h.udp(&edns_query("c1.lxd.", RecordType::A, 4096)).await;
    let edns = response.edns.as_ref().expect("an OPT record");
    assert_eq!(edns.version(), 0);
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(a_records(&response), vec![ip(10)]);
    let response = h.udp(&query("c1.lxd.", RecordType::A)).await;
    assert!(response.edns.is_none());
}

#[tokio::test]
async fn badvers_for_an_unknown_edns_version() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let mut request = edns_query("c1.lxd.", RecordType::A, 1232);
    request.edns.as_mut().unwrap().set_version(1);
    let response = h.udp(&request).await;
    // 16 on the wire: BADVERS in an OPT context (hickory decodes it as BADSIG,
    // which shares the number).
    assert_eq!(u16::from(response.metadata.response_code), 16);
    assert_eq!(response.metadata.response_code.low(), 0);
    assert_eq!(response.edns.as_ref().unwrap().version(), 0);
    assert!(response.answers.is_empty());
    assert_eq!(response.metadata.id, request.metadata.id);
}

#[tokio::test]
async fn unknown_options_and_flags_are_ignored_and_not_echoed() {
    let h = start(config()).await;
    h.bind(10, "c1");
    let mut request = edns_query("c1.lxd.", RecordType::A, 1232);
    let edns = request.edns.as_mut().unwrap();
    edns.options_mut()
        .insert(EdnsOption::Unknown(65001, vec![1, 2, 3]));
    edns.flags_mut().z = 0x4000;
    edns.set_dnssec_ok(true);
    let response = h.udp(&request).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&response), vec![ip(10)]);
    let edns = response.edns.as_ref().unwrap();
    assert!(edns.options().as_ref().is_empty());
    assert_eq!(edns.flags().z, 0);
    assert!(edns.flags().dnssec_ok, "DO is copied (RFC 3225)");
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_complete_over_tcp() {
    let h = start(config()).await;
    for i in 0..8 {
        let text = format!("{i}{}", "x".repeat(199));
        h.add("big.lxd", None, RecordData::Txt { text });
    }
    // Without EDNS the limit is 512 bytes.
    let response = h.udp(&query("big.lxd.", RecordType::TXT)).await;
    assert!(response.metadata.truncation);
    assert!(response.answers.is_empty());
    assert_eq!(response.queries.len(), 1);
    // 8 x ~210 bytes fits EDNS's 1232? No: 1.7 kB, still truncated, OPT kept.
    let response = h.udp(&edns_query("big.lxd.", RecordType::TXT, 4096)).await;
    assert!(response.metadata.truncation);
    assert!(response.edns.is_some());
    // TCP carries all of it.
    let responses = h.tcp(&query("big.lxd.", RecordType::TXT)).await;
    assert_eq!(responses.len(), 1);
    assert!(!responses[0].metadata.truncation);
    assert_eq!(responses[0].answers.len(), 8);
    // A smaller answer fits in a 1232-byte EDNS response but not in 512.
    for i in 0..3 {
        let text = format!("{i}{}", "y".repeat(199));
        h.add("mid.lxd", None, RecordData::Txt { text });
    }
    let response = h.udp(&query("mid.lxd.", RecordType::TXT)).await;
    assert!(response.metadata.truncation);
    let response = h.udp(&edns_query("mid.lxd.", RecordType::TXT, 1232)).await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 3);
}

#[tokio::test]
async fn formerr_for_anything_but_one_question() {
    let h = start(config()).await;
    let mut request = query("c1.lxd.", RecordType::A);
    request.add_query(Query::query(
        Name::from_ascii("c2.lxd.").unwrap(),
        RecordType::A,
    ));
    let response = h.udp(&request).await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(response.metadata.id, request.metadata.id);

    let mut request = query("c1.lxd.", RecordType::A);
    request.queries.clear();
    let response = h.udp(&request).await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);

    // QDCOUNT says 1 but the question is missing: undecodable, FORMERR with our ID.
    let bytes = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let response = raw(&h, &bytes).await.unwrap();
    assert_eq!(response.metadata.id, 0x1234);
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(response.metadata.message_type, MessageType::Response);
}

#[tokio::test]
async fn notimp_for_opcodes_we_do_not_serve() {
    let h = start(config()).await;
    for op_code in [
        OpCode::Update,
        OpCode::Status,
        OpCode::Notify,
        OpCode::Unknown(1),
    ] {
        let mut request = query("lxd.", RecordType::SOA);
        request.metadata.op_code = op_code;
        let response = h.udp(&request).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NotImp,
            "{op_code:?}"
        );
        assert_eq!(response.metadata.op_code, op_code);
    }
}

#[tokio::test]
async fn responses_and_runts_are_dropped() {
    let h = start(config()).await;
    let mut request = query("lxd.", RecordType::SOA);
    request.metadata.message_type = MessageType::Response;
    assert!(raw(&h, &request.to_vec().unwrap()).await.is_none());
    assert!(raw(&h, &[1, 2, 3]).await.is_none());
    // The server is still there.
    let response = h.udp(&query("lxd.", RecordType::SOA)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test]
async fn other_classes_are_refused() {
    let h = start(config()).await;
    let mut request = query("version.bind.", RecordType::TXT);
    request.queries[0].set_query_class(DNSClass::CH);
    let response = h.udp(&request).await;
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
}
