//! Any bytes through decode, then decide in every role and arrival, with the
//! proposals committed in an in-memory table and finished. Panics only on a
//! broken invariant (a reply above the client's size limit, a command without
//! quorum, a reply whose message type disagrees with its kind).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    raftmasq_dhcpd::testing::decode_and_decide(data);
});
