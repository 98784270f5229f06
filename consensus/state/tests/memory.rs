//! How much heap a full /16 of leases takes, counted by a global allocator
//! (this test binary's own, so no other test is affected). The replica is the
//! largest part of a node's resident memory (docs/benchmarks.md, "Memory"):
//! a change that makes a lease or one of its indexes bigger fails here, not
//! after a deployment. The budgets count requested bytes; glibc adds its own
//! 8-16 bytes a chunk and rounds small ones up to 32.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use raftmasq_state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, LeaseRequest, LeaseTable,
    MacAddr, Response,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same pointer and layout, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn full_table(named: bool) -> LeaseTable {
    let mut table = LeaseTable::default();
    table.apply(&Command::Initialize {
        settings: ClusterSettings {
            subnet: "10.0.0.0/16".parse().expect("subnet"),
            ranges: vec![AddressRange {
                start: Ipv4Addr::new(10, 0, 0, 1),
                end: Ipv4Addr::new(10, 0, 255, 254),
            }],
            domain: "lxd".into(),
            lease_time_secs: 3600,
            duplicate_hostnames: HostnamePolicy::Suffix,
            decline_quarantine_secs: 600,
            client_identity: Default::default(),
        },
    });
    for n in 0..65_534_u32 {
        let [_, b, c, d] = n.to_be_bytes();
        let mac = MacAddr([0x02, 0x10, 0, b, c, d]);
        let response = table.apply(&Command::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: named.then(|| format!("container-{n}")),
                requested_address: None,
                seen_by: Some(1),
            },
            now: 1_000,
            lease_time_secs: None,
        });
        assert!(matches!(response, Response::Lease { .. }), "{response:?}");
    }
    table
}

/// Measured on 2026-12-03: 335 bytes a lease without a name (perfdhcp's
/// clients), 580 with a 15-character name (held three times: as requested,
/// as granted, and in the two DNS hash indexes, which at 65,534 names have
/// 131,072 slots each).
const BUDGET_UNNAMED: usize = 360;
const BUDGET_NAMED: usize = 620;

#[test]
fn a_full_slash_16_stays_within_its_memory_budget() {
    for (named, budget) in [(false, BUDGET_UNNAMED), (true, BUDGET_NAMED)] {
        let before = LIVE.load(Ordering::Relaxed);
        let table = full_table(named);
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        let per_lease = bytes / 65_534;
        println!(
            "named {named}: {bytes} bytes ({:.1} MiB), {per_lease} bytes a lease (budget {budget})",
            bytes as f64 / f64::from(1 << 20)
        );
        assert!(
            per_lease <= budget,
            "a full /16 (named: {named}) takes {per_lease} bytes a lease, over the budget of {budget}"
        );
        drop(table);
    }
}
