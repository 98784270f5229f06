//! The TSIG decisions, with requests signed and answers verified by
//! hickory's client side (`Message::finalize`, `TSigVerifier`).

#![allow(clippy::unwrap_used)]

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, Record, RecordType, TSigVerifier, TSigner};

use super::{Checked, Keyring, Refusal, ResponseTsig, check, with_signature};
use crate::config::{TsigAlgorithmName, TsigKey};

const NOW: u64 = 1_700_000_000;

fn key(name: &str, algorithm: TsigAlgorithmName, secret: &[u8]) -> TsigKey {
    TsigKey {
        name: name.into(),
        algorithm,
        secret: secret.to_vec(),
    }
}

fn keyring() -> Keyring {
    Keyring::new(&[
        key(
            "office-xfr",
            TsigAlgorithmName::HmacSha256,
            b"0123456789abcdef",
        ),
        key("other.", TsigAlgorithmName::HmacSha512, b"fedcba9876543210"),
    ])
    .unwrap()
}

fn client(name: &str, algorithm: TsigAlgorithm, secret: &[u8], fudge: u16) -> TSigner {
    TSigner::new(
        secret.to_vec(),
        algorithm,
        Name::from_ascii(name).unwrap(),
        fudge,
    )
    .unwrap()
}

fn office() -> TSigner {
    client(
        "office-xfr.",
        TsigAlgorithm::HmacSha256,
        b"0123456789abcdef",
        300,
    )
}

/// A signed SOA query at `time`, its bytes and the client's verifier.
fn signed_query(signer: &TSigner, time: u64) -> (Message, Vec<u8>, TSigVerifier) {
    let mut message = Message::query();
    message.metadata.id = 0x2b2b;
    message.add_query(Query::query(
        Name::from_ascii("lxd.").unwrap(),
        RecordType::SOA,
    ));
    let verifier = message.finalize(signer, time).unwrap().unwrap();
    let bytes = message.to_vec().unwrap();
    (message, bytes, verifier)
}

fn checked(bytes: &[u8], now: u64) -> Checked {
    let message = Message::from_vec(bytes).unwrap();
    check(bytes, message.signature().unwrap(), &keyring(), now)
}

fn response_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.response_code = rcode;
    response.add_query(request.queries[0].clone());
    response
}

/// The wire form of `response` closed with `tsig`, as the server sends it.
fn sealed(response: &Message, tsig: &ResponseTsig) -> Vec<u8> {
    match tsig {
        ResponseTsig::Unsigned(record) => with_signature(response, record.clone()).unwrap(),
        ResponseTsig::Signed(signing) => {
            let (record, _) = signing.chain().sign(&response.to_vec().unwrap()).unwrap();
            with_signature(response, record).unwrap()
        }
    }
}

fn tsig_of(bytes: &[u8]) -> Record<TSIG> {
    *Message::from_vec(bytes).unwrap().take_signature().unwrap()
}

#[test]
fn a_good_signature_is_verified_and_the_answer_signed_so_the_client_accepts_it() {
    let (request, bytes, mut verifier) = signed_query(&office(), NOW);
    let Checked::Verified(signing) = checked(&bytes, NOW + 10) else {
        panic!("not verified");
    };
    assert_eq!(signing.key(), &Name::from_ascii("office-xfr.").unwrap());
    let answer = sealed(
        &response_to(&request, ResponseCode::NoError),
        &ResponseTsig::Signed(signing),
    );
    verifier.verify(&answer).unwrap();
    let tsig = tsig_of(&answer);
    assert_eq!(tsig.data.error, None);
    assert_eq!(tsig.data.time, NOW + 10);
    assert_eq!(tsig.data.oid, 0x2b2b);
}

#[test]
fn key_names_match_without_regard_to_case() {
    let signer = client(
        "OFFICE-Xfr.",
        TsigAlgorithm::HmacSha256,
        b"0123456789abcdef",
        300,
    );
    let (_, bytes, _) = signed_query(&signer, NOW);
    assert!(matches!(checked(&bytes, NOW), Checked::Verified(_)));
}

#[test]
fn an_unknown_key_or_algorithm_is_badkey_with_an_unsigned_tsig() {
    for signer in [
        client(
            "stranger.",
            TsigAlgorithm::HmacSha256,
            b"0123456789abcdef",
            300,
        ),
        // The right name with another algorithm than the key's.
        client(
            "office-xfr.",
            TsigAlgorithm::HmacSha512,
            b"0123456789abcdef",
            300,
        ),
    ] {
        let (request, bytes, _) = signed_query(&signer, NOW);
        let Checked::Refused(refusal, tsig) = checked(&bytes, NOW) else {
            panic!("verified");
        };
        assert_eq!(refusal, Refusal::UnknownKey);
        let answer = sealed(&response_to(&request, ResponseCode::NotAuth), &tsig);
        let record = tsig_of(&answer);
        assert_eq!(record.name, *signer.signer_name(), "the key name is echoed");
        assert_eq!(record.data.error, Some(TsigError::BadKey));
        assert!(record.data.mac.is_empty(), "BADKEY is never signed");
        assert_eq!(record.data.oid, 0x2b2b);
    }
}

#[test]
fn a_wrong_secret_or_a_changed_message_is_badsig_unsigned() {
    let wrong = client(
        "office-xfr.",
        TsigAlgorithm::HmacSha256,
        b"not the secret!!",
        300,
    );
    let (_, bytes, _) = signed_query(&wrong, NOW);
    let Checked::Refused(Refusal::BadSignature, ResponseTsig::Unsigned(record)) =
        checked(&bytes, NOW)
    else {
        panic!("not BADSIG");
    };
    assert_eq!(record.data.error, Some(TsigError::BadSig));
    assert!(record.data.mac.is_empty());

    let (_, mut bytes, _) = signed_query(&office(), NOW);
    // Flip RD after signing.
    bytes[2] ^= 0x01;
    assert!(matches!(
        checked(&bytes, NOW),
        Checked::Refused(Refusal::BadSignature, _)
    ));
}

#[test]
fn a_time_outside_the_window_is_badtime_signed_with_our_time() {
    let (request, bytes, mut verifier) = signed_query(&office(), NOW);
    for now in [NOW - 300, NOW + 300] {
        assert!(
            matches!(checked(&bytes, now), Checked::Verified(_)),
            "{now}"
        );
    }
    let server_now = NOW + 301;
    let Checked::Refused(Refusal::OutsideWindow, tsig) = checked(&bytes, server_now) else {
        panic!("not BADTIME");
    };
    let answer = sealed(&response_to(&request, ResponseCode::NotAuth), &tsig);
    // Signed, so the client can trust the time it is told.
    verifier.verify(&answer).unwrap();
    let record = tsig_of(&answer);
    assert_eq!(record.data.error, Some(TsigError::BadTime));
    assert_eq!(record.data.time, NOW, "Time Signed is the request's");
    assert_eq!(record.data.other, server_now.to_be_bytes()[2..].to_vec());
}

#[test]
fn a_request_asking_for_a_wider_window_gets_ours() {
    let wide = client(
        "office-xfr.",
        TsigAlgorithm::HmacSha256,
        b"0123456789abcdef",
        3600,
    );
    let (_, bytes, _) = signed_query(&wide, NOW);
    assert!(matches!(checked(&bytes, NOW + 300), Checked::Verified(_)));
    assert!(matches!(
        checked(&bytes, NOW + 301),
        Checked::Refused(Refusal::OutsideWindow, _)
    ));
}

#[test]
fn hmac_sha512_keys_work_too() {
    let signer = client(
        "other.",
        TsigAlgorithm::HmacSha512,
        b"fedcba9876543210",
        300,
    );
    let (request, bytes, mut verifier) = signed_query(&signer, NOW);
    let Checked::Verified(signing) = checked(&bytes, NOW) else {
        panic!("not verified");
    };
    let answer = sealed(
        &response_to(&request, ResponseCode::NoError),
        &ResponseTsig::Signed(signing),
    );
    verifier.verify(&answer).unwrap();
}

#[test]
fn the_messages_of_one_answer_are_chained() {
    let (request, bytes, mut verifier) = signed_query(&office(), NOW);
    let Checked::Verified(signing) = checked(&bytes, NOW) else {
        panic!("not verified");
    };
    let mut chain = signing.chain();
    let mut sent = Vec::new();
    for n in 0..3u16 {
        let mut message = response_to(&request, ResponseCode::NoError);
        message.metadata.authoritative = n % 2 == 0;
        if n > 0 {
            message.queries.clear();
        }
        let (record, mac) = chain.sign(&message.to_vec().unwrap()).unwrap();
        chain.advance(mac);
        sent.push(with_signature(&message, record).unwrap());
    }
    for message in &sent {
        verifier.verify(message).unwrap();
    }
    // With a message left out the chain breaks: each MAC covers the one
    // before (the same request signed again gives the same verifier).
    let (_, _, mut again) = signed_query(&office(), NOW);
    again.verify(&sent[1]).unwrap_err();
}

#[test]
fn the_keyring_refuses_empty_secrets_and_duplicate_names() {
    assert!(Keyring::new(&[key("k", TsigAlgorithmName::HmacSha256, b"")]).is_err());
    assert!(
        Keyring::new(&[
            key("k", TsigAlgorithmName::HmacSha256, b"a"),
            key("K.", TsigAlgorithmName::HmacSha512, b"b"),
        ])
        .is_err()
    );
    let ring = keyring();
    assert!(ring.get("OFFICE-XFR").is_some());
    assert!(ring.get("office-xfr.").is_some());
    assert!(ring.get("nope").is_none());
    assert!(
        !format!("{ring:?}").contains("0123"),
        "secrets stay out of logs"
    );
}
