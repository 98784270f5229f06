//! Tests of the lease table: behaviour by behaviour (`unit`), random command
//! sequences against brute-force oracles (`prop`), and a full /16 (`fill`).

#![allow(clippy::unwrap_used)]

mod batch;
mod fill;
mod invariants;
mod networks;
mod prop;
mod shared_domain;
mod unit;

use std::net::Ipv4Addr;

pub(crate) use invariants::check as check_invariants;

use crate::settings::{AddressRange, ClusterSettings, HostnamePolicy};

use crate::{ClientId, Command, Lease, LeaseRequest, LeaseTable, MacAddr, Rejection, Response};

/// 10.0.0.0/27 with the range 10.0.0.2-10.0.0.21 (20 addresses), so reservations
/// can lie in the subnet but outside the range.
pub(crate) fn settings(policy: HostnamePolicy) -> ClusterSettings {
    ClusterSettings {
        subnet: "10.0.0.0/27".parse().unwrap(),
        ranges: vec![AddressRange {
            start: ip(2),
            end: ip(21),
        }],
        domain: "lxd".into(),
        lease_time_secs: 60,
        duplicate_hostnames: policy,
        decline_quarantine_secs: 30,
        client_identity: Default::default(),
    }
}

pub(crate) fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

pub(crate) fn mac(n: u8) -> MacAddr {
    MacAddr([0x00, 0x16, 0x3e, 0x00, 0x00, n])
}

pub(crate) fn client(n: u8) -> ClientId {
    ClientId::from_mac(mac(n))
}

pub(crate) fn request(n: u8, hostname: Option<&str>, address: Option<Ipv4Addr>) -> LeaseRequest {
    LeaseRequest {
        client_id: client(n),
        mac: mac(n),
        hostname: hostname.map(str::to_string),
        requested_address: address,
        seen_by: Some(1),
    }
}

pub(crate) fn table(policy: HostnamePolicy) -> LeaseTable {
    let mut table = LeaseTable::default();
    let settings = settings(policy);
    assert_eq!(
        table.apply(&Command::Initialize { settings }),
        Response::Done
    );
    table
}

#[track_caller]
pub(crate) fn leased(response: Response) -> Lease {
    match response {
        Response::Lease { lease } => lease,
        other => panic!("expected a lease, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn rejected(response: Response) -> Rejection {
    match response {
        Response::Rejected { reason } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub(crate) fn bind(table: &mut LeaseTable, n: u8, hostname: Option<&str>, now: u64) -> Response {
    table.apply(&Command::Bind {
        request: request(n, hostname, None),
        now,
        lease_time_secs: None,
    })
}
