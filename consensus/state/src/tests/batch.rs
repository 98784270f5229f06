//! Batched entries: applying a batch is applying its commands one by one, and
//! entries written before batching still decode.

use proptest::prelude::*;

use super::*;
use crate::Proposal;

/// A Bind exactly as the version before batching wrote it into the log: the
/// bare command object, not wrapped in an array.
const OLD_FORMAT_BIND: &str = r#"{"op":"bind","request":{"client_id":[1,0,22,62,0,0,7],"mac":[0,22,62,0,0,7],"hostname":"c7","requested_address":"10.0.0.5","seen_by":1},"now":1000,"lease_time_secs":null}"#;

#[test]
fn an_entry_written_before_batching_decodes_as_one_command() {
    let proposal: Proposal = serde_json::from_str(OLD_FORMAT_BIND).unwrap();
    let expected = Command::Bind {
        request: request(7, Some("c7"), Some(ip(5))),
        now: 1000,
        lease_time_secs: None,
    };
    assert_eq!(proposal, Proposal::Single(expected.clone()));
    assert_eq!(proposal.commands(), [expected]);
    // And it applies as it always did.
    let mut table = table(HostnamePolicy::Suffix);
    let responses = table.apply_all(proposal.commands());
    assert_eq!(leased(responses[0].clone()).address, ip(5));
}

#[test]
fn batches_and_single_commands_round_trip_through_json() {
    let batch = Proposal::Batch(vec![
        Command::Bind {
            request: request(1, Some("c1"), None),
            now: 5,
            lease_time_secs: Some(30),
        },
        Command::Expire { now: 6 },
        Command::Unreserve { mac: mac(2) },
    ]);
    let text = serde_json::to_string(&batch).unwrap();
    assert!(text.starts_with('['), "a batch is an array: {text}");
    assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), batch);

    let single = Proposal::Single(Command::Expire { now: 9 });
    let text = serde_json::to_string(&single).unwrap();
    assert_eq!(text, r#"{"op":"expire","now":9}"#);
    assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), single);

    let empty = Proposal::Batch(Vec::new());
    let text = serde_json::to_string(&empty).unwrap();
    assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), empty);
}

#[test]
fn malformed_entries_are_errors_not_panics() {
    for text in [
        "3",
        r#""bind""#,
        r#"{"op":"no_such_op"}"#,
        r#"[{"op":"expire","now":1},{"op":"bind"}]"#,
        "[",
    ] {
        assert!(
            serde_json::from_str::<Proposal>(text).is_err(),
            "{text} decoded"
        );
    }
}

#[test]
fn a_rejected_command_in_a_batch_leaves_the_others_alone() {
    let mut table = table(HostnamePolicy::Suffix);
    let commands = [
        Command::Bind {
            request: request(1, Some("web"), Some(ip(4))),
            now: 10,
            lease_time_secs: None,
        },
        // Wants the address client 1 just got: refused.
        Command::Bind {
            request: request(2, Some("db"), Some(ip(4))),
            now: 10,
            lease_time_secs: None,
        },
        Command::Bind {
            request: request(3, Some("web"), None),
            now: 11,
            lease_time_secs: None,
        },
    ];
    let responses = table.apply_all(&commands);
    assert_eq!(responses.len(), 3);
    assert_eq!(leased(responses[0].clone()).address, ip(4));
    assert_eq!(
        rejected(responses[1].clone()),
        Rejection::AddressUnavailable { address: ip(4) }
    );
    let third = leased(responses[2].clone());
    assert_eq!(third.granted_name.as_deref(), Some("web-2"));
    assert!(table.lease_by_client(&client(2)).is_none());
}

/// Commands that do not depend on the table's state, over a small range so
/// that they collide: the same address, the same names, an exhausted pool.
fn command() -> impl Strategy<Value = Command> {
    let c = 0u8..8;
    let addr = (0u8..24).prop_map(ip);
    let host = prop_oneof![Just(None), Just(Some("c")), Just(Some("web"))];
    let now = 0u64..5_000;
    prop_oneof![
        4 => (c.clone(), host.clone(), proptest::option::of(addr.clone()), now.clone())
            .prop_map(|(c, host, hint, now)| Command::Allocate {
                request: request(c, host, hint),
                now,
                hold_ms: 500,
            }),
        6 => (c.clone(), host, proptest::option::weighted(0.4, addr.clone()), now.clone(),
              proptest::option::of(1u64..5))
            .prop_map(|(c, host, address, now, secs)| Command::Bind {
                request: request(c, host, address),
                now,
                lease_time_secs: secs,
            }),
        3 => (c.clone(), addr.clone(), now.clone()).prop_map(|(c, address, now)| Command::Renew {
            client_id: client(c),
            address,
            now,
            lease_time_secs: None,
        }),
        2 => (proptest::option::of(c.clone()), addr.clone(), now.clone())
            .prop_map(|(c, address, now)| Command::Release {
                client_id: c.map(client),
                mac: None,
                address,
                now,
            }),
        1 => (c.clone(), prop_oneof![Just("c"), Just("web"), Just("bad_name")], now.clone())
            .prop_map(|(c, name, now)| Command::NameMac { mac: mac(c), name: name.into(), now }),
        1 => (c.clone(), now.clone()).prop_map(|(c, now)| Command::ForgetMac { mac: mac(c), now }),
        1 => (c, addr, now.clone()).prop_map(|(c, address, now)| Command::Decline {
            client_id: client(c),
            mac: None,
            address,
            now,
        }),
        1 => now.clone().prop_map(|now| Command::Expire { now }),
        1 => (2u8..12, 6u8..30, 1u64..5, any::<bool>(), now)
            .prop_map(|(start, end, lease_time_secs, reject, now)| {
                let policy = if reject { HostnamePolicy::Reject } else { HostnamePolicy::Suffix };
                let mut settings = settings(policy);
                settings.ranges[0].start = ip(start);
                settings.ranges[0].end = ip(end);
                settings.lease_time_secs = lease_time_secs;
                Command::ChangeSettings { settings, now, based_on: None }
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Cutting a command sequence into batches anywhere changes neither the
    /// responses nor the table.
    #[test]
    fn batched_apply_equals_sequential_apply(
        commands in proptest::collection::vec(command(), 1..120),
        cuts in proptest::collection::vec(1usize..20, 1..40),
    ) {
        let mut sequential = table(HostnamePolicy::Suffix);
        let expected: Vec<Response> = commands.iter().map(|c| sequential.apply(c)).collect();

        let mut batched = table(HostnamePolicy::Suffix);
        let mut responses = Vec::new();
        let mut rest = commands.as_slice();
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at((*cut).min(rest.len()));
            // Through the log encoding too, as a follower receives it.
            let entry = serde_json::to_vec(&Proposal::Batch(batch.to_vec())).unwrap();
            let decoded: Proposal = serde_json::from_slice(&entry).unwrap();
            responses.extend(batched.apply_all(decoded.commands()));
            rest = tail;
        }
        prop_assert_eq!(&responses, &expected);
        prop_assert_eq!(&batched, &sequential);
        super::invariants::check(&batched).map_err(TestCaseError::fail)?;
    }
}
