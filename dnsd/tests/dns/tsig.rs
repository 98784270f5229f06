//! TSIG (RFC 8945) end to end on loopback: signed queries and transfers,
//! the refusals, signed NOTIFY; and UDP response-rate limiting.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, Record, RecordType, TSigVerifier, TSigner};
use raftmasq_dnsd::{DnsServerConfig, RateLimit, TsigAlgorithmName, TsigKey};
use raftmasq_state::RecordData;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::support::*;

const OFFICE_SECRET: &[u8] = b"office-transfer-secret-32-bytes!";
const OTHER_SECRET: &[u8] = b"another-key-for-plain-queries-ok";

fn keyed_config() -> DnsServerConfig {
    let mut config = config();
    config.tsig_keys = vec![
        TsigKey {
            name: "office-xfr".into(),
            algorithm: TsigAlgorithmName::HmacSha256,
            secret: OFFICE_SECRET.to_vec(),
        },
        TsigKey {
            name: "queries".into(),
            algorithm: TsigAlgorithmName::HmacSha512,
            secret: OTHER_SECRET.to_vec(),
        },
    ];
    config.transfer_key = Some("office-xfr".into());
    // Listed, so only the key can be what refuses an unsigned transfer.
    config.secondaries = vec!["127.0.0.1:9".parse().unwrap()];
    config
}

fn signer(name: &str, algorithm: TsigAlgorithm, secret: &[u8]) -> TSigner {
    TSigner::new(
        secret.to_vec(),
        algorithm,
        Name::from_ascii(name).unwrap(),
        300,
    )
    .unwrap()
}

fn office() -> TSigner {
    signer("office-xfr.", TsigAlgorithm::HmacSha256, OFFICE_SECRET)
}

/// `message` signed at the harness's time (or `at`, Unix seconds).
fn signed(mut message: Message, key: &TSigner, at: u64) -> (Vec<u8>, TSigVerifier) {
    message.metadata.id = 0x7e57;
    let verifier = message.finalize(key, at).unwrap().unwrap();
    (message.to_vec().unwrap(), verifier)
}

async fn udp_raw(server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    buf.truncate(n);
    buf
}

/// Sends one request over TCP and reads raw responses until an AXFR's
/// closing SOA, an error, or (for anything else) the first.
async fn tcp_raw(server: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await.unwrap();
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut responses = Vec::new();
    let mut soas = 0;
    while soas < 2 && responses.len() < 100 {
        let buf = read_tcp_message(&mut stream).await;
        let message = Message::from_vec(&buf).unwrap();
        soas += message
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        let done = message.metadata.response_code != ResponseCode::NoError
            || message
                .queries
                .first()
                .is_some_and(|q| q.query_type() != RecordType::AXFR);
        responses.push(buf);
        if done {
            break;
        }
    }
    responses
}

fn tsig_of(bytes: &[u8]) -> Record<TSIG> {
    *Message::from_vec(bytes)
        .unwrap()
        .take_signature()
        .expect("a TSIG")
}

fn rcode(bytes: &[u8]) -> ResponseCode {
    Message::from_vec(bytes).unwrap().metadata.response_code
}

#[tokio::test]
async fn a_signed_axfr_with_the_transfer_key_is_signed_message_by_message() {
    let h = start(keyed_config()).await;
    for n in 1..=150u8 {
        h.bind(n, &format!("host{n}"));
    }
    for n in 0..80 {
        let text = "t".repeat(200);
        h.add(&format!("t{n}.lxd"), None, RecordData::Txt { text });
    }
    let now = h.now() / 1000;
    let (request, mut verifier) = signed(query("lxd.", RecordType::AXFR), &office(), now);
    let responses = tcp_raw(h.addr, &request).await;
    assert!(responses.len() > 1, "several messages");
    for (index, response) in responses.iter().enumerate() {
        assert_eq!(rcode(response), ResponseCode::NoError);
        // Each verifies in turn against the one before (RFC 8945 §5.3.1).
        verifier
            .verify(response)
            .unwrap_or_else(|e| panic!("message {index}: {e}"));
    }
    let records: usize = responses
        .iter()
        .map(|r| Message::from_vec(r).unwrap().answers.len())
        .sum();
    assert!(records > 230, "{records}");
}

#[tokio::test]
async fn transfers_need_the_transfer_key_from_any_address() {
    let h = start(keyed_config()).await;
    h.bind(10, "c1");
    let now = h.now() / 1000;
    // Unsigned, from a listed secondary's address: refused.
    let unsigned = tcp_raw(h.addr, &query("lxd.", RecordType::AXFR).to_vec().unwrap()).await;
    assert_eq!(rcode(&unsigned[0]), ResponseCode::Refused);
    assert!(Message::from_vec(&unsigned[0]).unwrap().answers.is_empty());
    // Signed with another key we know: refused, and the refusal signed.
    let other = signer("queries.", TsigAlgorithm::HmacSha512, OTHER_SECRET);
    let (request, mut verifier) = signed(query("lxd.", RecordType::AXFR), &other, now);
    let refused = tcp_raw(h.addr, &request).await;
    assert_eq!(rcode(&refused[0]), ResponseCode::Refused);
    verifier.verify(&refused[0]).unwrap();
    // The transfer key's name with a wrong secret: NOTAUTH/BADSIG, unsigned.
    let forged = signer(
        "office-xfr.",
        TsigAlgorithm::HmacSha256,
        b"a-wrong-secret-of-the-same-size!",
    );
    let (request, _) = signed(query("lxd.", RecordType::AXFR), &forged, now);
    let badsig = tcp_raw(h.addr, &request).await;
    assert_eq!(badsig.len(), 1);
    assert_eq!(rcode(&badsig[0]), ResponseCode::NotAuth);
    let tsig = tsig_of(&badsig[0]);
    assert_eq!(tsig.data.error, Some(TsigError::BadSig));
    assert!(tsig.data.mac.is_empty());
    // IXFR is a transfer too.
    let ixfr = tcp_raw(h.addr, &query("lxd.", RecordType::IXFR).to_vec().unwrap()).await;
    assert_eq!(rcode(&ixfr[0]), ResponseCode::Refused);
}

#[tokio::test]
async fn signed_queries_are_answered_signed_and_bad_ones_get_notauth() {
    let h = start(keyed_config()).await;
    h.bind(10, "c1");
    let now = h.now() / 1000;
    // A known key on a plain query: answered, and the answer signed.
    let other = signer("queries.", TsigAlgorithm::HmacSha512, OTHER_SECRET);
    let (request, mut verifier) = signed(query("c1.lxd.", RecordType::A), &other, now);
    let answer = udp_raw(h.addr, &request).await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert_eq!(a_records(&Message::from_vec(&answer).unwrap()), [ip(10)]);
    verifier.verify(&answer).unwrap();

    // An unknown key: NOTAUTH, with an unsigned TSIG saying BADKEY (RFC
    // 8945 §5.2.1), as BIND answers; never the answer itself.
    let stranger = signer("stranger.", TsigAlgorithm::HmacSha256, OFFICE_SECRET);
    let (request, _) = signed(query("c1.lxd.", RecordType::A), &stranger, now);
    let refused = udp_raw(h.addr, &request).await;
    let message = Message::from_vec(&refused).unwrap();
    assert_eq!(message.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(message.metadata.id, 0x7e57);
    assert!(message.answers.is_empty());
    let tsig = tsig_of(&refused);
    assert_eq!(tsig.name, Name::from_ascii("stranger.").unwrap());
    assert_eq!(tsig.data.error, Some(TsigError::BadKey));
    assert!(tsig.data.mac.is_empty());

    // Ten minutes off: NOTAUTH/BADTIME, signed, with our time.
    let (request, mut verifier) = signed(query("c1.lxd.", RecordType::A), &other, now - 600);
    let late = udp_raw(h.addr, &request).await;
    assert_eq!(rcode(&late), ResponseCode::NotAuth);
    verifier.verify(&late).unwrap();
    let tsig = tsig_of(&late);
    assert_eq!(tsig.data.error, Some(TsigError::BadTime));
    assert_eq!(tsig.data.other, now.to_be_bytes()[2..].to_vec());
}

#[tokio::test]
async fn notify_is_signed_with_the_transfer_key() {
    let secondary = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let _hold = TcpListener::bind(secondary.local_addr().unwrap()).await;
    let mut config = keyed_config();
    config.secondaries = vec![secondary.local_addr().unwrap()];
    config.notify_interval = Duration::from_millis(400);
    config.notify_timeout = Duration::from_millis(150);
    let _h = start(config).await;
    let mut buf = vec![0; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), secondary.recv_from(&mut buf))
        .await
        .expect("a NOTIFY")
        .unwrap();
    let notify = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(notify.metadata.op_code, OpCode::Notify);
    let tsig = notify.signature().expect("signed");
    assert_eq!(tsig.name, Name::from_ascii("office-xfr.").unwrap());
    office()
        .verify_message_byte(&buf[..n], None, true)
        .expect("signed with the transfer key");
    assert_eq!(
        tsig.data.time,
        T0 / 1000,
        "Time Signed is the server's clock"
    );
}

#[tokio::test]
async fn rate_limiting_drops_and_slips_a_burst_from_one_prefix_only() {
    let mut config = config();
    config.rate_limit = Some(RateLimit::per_second(5));
    let h = start(config).await;
    h.bind(10, "c1");
    let request = query("c1.lxd.", RecordType::A).to_vec().unwrap();
    // The harness's clock stands still: no token comes back during the burst.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..20 {
        socket.send_to(&request, h.addr).await.unwrap();
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buf = vec![0; 4096];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
    {
        let message = Message::from_vec(&buf[..n]).unwrap();
        if message.metadata.truncation {
            assert!(message.answers.is_empty());
            truncated += 1;
        } else {
            assert_eq!(a_records(&message), [ip(10)]);
            full += 1;
        }
    }
    // 5 answered; of the 15 over the rate every second one slips (slip 2).
    assert_eq!((full, truncated), (5, 7));
    // Another /24 has its own bucket (and TCP is never limited).
    let elsewhere = udp_from(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1)), h.addr, &request)
        .await
        .expect("answered");
    assert_eq!(a_records(&elsewhere), [ip(10)]);
    let over_tcp = h.tcp(&query("c1.lxd.", RecordType::A)).await;
    assert_eq!(a_records(&over_tcp[0]), [ip(10)]);
}
