//! Random command sequences over a 20-address range with a handful of clients,
//! clocks that sometimes step back, and both hostname policies. After every
//! step: the structural invariants (`invariants::check`), a snapshot round
//! trip, and each response against an oracle computed by brute force from the
//! table as it was before the command.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::invariants::check;
use super::*;
use crate::names::{normalize_hostname, suffixed};
use crate::{AddressRange, LeaseState, MAX_CONFLICTS, RecordData, Reservation, StaticRecord};

/// More clients than addresses in the range, so the pool runs dry.
const CLIENTS: u8 = 10;
const HOSTNAMES: [Option<&str>; 7] = [
    None,
    Some("c1"),
    Some("C1.lxd"),
    Some("c1-2"),
    Some("web"),
    Some("bad_name"),
    Some("a-very-long-hostname-that-fills-the-whole-dns-label-up-to-63ch"),
];

#[derive(Debug, Clone)]
enum Op {
    Allocate {
        c: u8,
        host: usize,
        hint: Option<u8>,
    },
    Bind {
        c: u8,
        host: usize,
        address: Option<u8>,
        secs: Option<u64>,
    },
    Renew {
        c: u8,
        address: u8,
    },
    Release {
        c: Option<u8>,
        /// The MAC the release claims to come from, if any (a client's).
        m: Option<u8>,
        address: u8,
    },
    Decline {
        c: u8,
        address: u8,
    },
    Expire,
    Reserve {
        c: u8,
        address: u8,
        host: usize,
    },
    Unreserve {
        c: u8,
    },
    Record {
        add: bool,
        which: u8,
    },
    /// `NameMac` with one of `MAC_NAMES` (some invalid).
    NameMac {
        c: u8,
        name: usize,
    },
    ForgetMac {
        c: u8,
    },
    /// `ChangeSettings` with none, one or several ranges `start..=end` of
    /// the /27 (some touching its network or broadcast address, some
    /// backwards, overlapping or out of order), one of `LEASE_TIMES`, a
    /// policy and a quarantine.
    ChangeSettings {
        ranges: Vec<(u8, u8)>,
        lease_time: usize,
        reject: bool,
        quarantine_secs: u64,
        stale: bool,
    },
}

/// Lease times a settings change picks from: shorter and longer than the
/// starting 300 s.
const LEASE_TIMES: [u64; 4] = [300, 30, 90, 1200];

/// Names an integration may give a MAC: clashing with clients' hostnames,
/// and labels the table must refuse.
const MAC_NAMES: [&str; 5] = ["c", "web", "inst", "Bad_Label", "a.b"];

/// Addresses 10.0.0.0-31 (the subnet; 2-21 is the range), and 32 stands for
/// 10.0.1.1 (outside the subnet).
fn address(n: u8) -> Ipv4Addr {
    if n >= 32 {
        Ipv4Addr::new(10, 0, 1, 1)
    } else {
        ip(n)
    }
}

/// Stands for "the address this client holds or held" in Renew/Release/Decline.
const OWN: u8 = 255;

fn target() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(OWN), 1 => 0u8..33]
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    let host = 0..HOSTNAMES.len();
    let addr = 0u8..33;
    prop_oneof![
        4 => (c.clone(), host.clone(), proptest::option::of(addr.clone()))
            .prop_map(|(c, host, hint)| Op::Allocate { c, host, hint }),
        6 => (c.clone(), host.clone(), proptest::option::weighted(0.3, addr.clone()),
              proptest::option::of(1u64..600))
            .prop_map(|(c, host, address, secs)| Op::Bind { c, host, address, secs }),
        3 => (c.clone(), target()).prop_map(|(c, address)| Op::Renew { c, address }),
        2 => (proptest::option::weighted(0.8, c.clone()),
              proptest::option::weighted(0.5, c.clone()), target())
            .prop_map(|(c, m, address)| Op::Release { c, m, address }),
        1 => (c.clone(), target()).prop_map(|(c, address)| Op::Decline { c, address }),
        2 => Just(Op::Expire),
        1 => (c.clone(), 0u8..12, host.clone())
            .prop_map(|(c, address, host)| Op::Reserve { c, address, host }),
        1 => c.clone().prop_map(|c| Op::Unreserve { c }),
        1 => (any::<bool>(), 0u8..4).prop_map(|(add, which)| Op::Record { add, which }),
        1 => (c.clone(), 0..MAC_NAMES.len()).prop_map(|(c, name)| Op::NameMac { c, name }),
        1 => c.clone().prop_map(|c| Op::ForgetMac { c }),
        1 => (settings_ranges(), 0..LEASE_TIMES.len(), any::<bool>(), 1u64..60,
              proptest::bool::weighted(0.25))
            .prop_map(|(ranges, lease_time, reject, quarantine_secs, stale)| {
                Op::ChangeSettings { ranges, lease_time, reject, quarantine_secs, stale }
            }),
    ]
}

/// Mostly one range, sometimes none or several; several are made ascending
/// and disjoint three times in four, so most are valid.
fn settings_ranges() -> impl Strategy<Value = Vec<(u8, u8)>> {
    prop_oneof![
        4 => (0u8..32, 0u8..32).prop_map(|r| vec![r]),
        1 => Just(Vec::new()),
        2 => (proptest::collection::vec((0u8..32, 0u8..32), 2..4), proptest::bool::weighted(0.75))
            .prop_map(|(mut ranges, tidy)| {
                if tidy {
                    let mut edges: Vec<u8> = ranges.iter().flat_map(|&(a, b)| [a, b]).collect();
                    edges.sort_unstable();
                    edges.dedup();
                    ranges = edges.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect();
                }
                ranges
            }),
    ]
}

fn record(which: u8) -> StaticRecord {
    let (name, data) = match which {
        0 => ("www.lxd", RecordData::A { address: ip(30) }),
        1 => (
            "www.lxd",
            RecordData::Cname {
                target: "c1.lxd".into(),
            },
        ),
        2 => (
            "_x._tcp.lxd",
            RecordData::Txt {
                text: "hello".into(),
            },
        ),
        _ => (
            "lxd",
            RecordData::Mx {
                preference: 10,
                exchange: "mail.lxd".into(),
            },
        ),
    };
    StaticRecord {
        name: name.into(),
        ttl: None,
        data,
    }
}

/// The table as `apply` sees it after its expiry step, read from `pre` by brute
/// force (no index), plus the previous-address memory as the spec defines it.
struct View<'a> {
    pre: &'a LeaseTable,
    now: u64,
    memory: BTreeMap<ClientId, Ipv4Addr>,
}

impl View<'_> {
    fn live(&self, a: Ipv4Addr) -> Option<&Lease> {
        self.pre
            .leases()
            .find(|l| l.address == a && l.expires_at > self.now)
    }

    fn live_of(&self, c: &ClientId) -> Option<&Lease> {
        self.pre
            .leases()
            .find(|l| l.client_id == *c && l.expires_at > self.now)
    }

    fn quarantined(&self, a: Ipv4Addr) -> bool {
        self.pre
            .quarantined()
            .any(|(q, until)| q == a && until > self.now)
    }

    fn available(&self, c: &ClientId, mac: MacAddr, a: Ipv4Addr) -> bool {
        let settings = self.pre.settings().unwrap();
        if !settings.subnet.contains(&a) || self.quarantined(a) {
            return false;
        }
        let holder = self.live(a);
        if let Some(r) = self.pre.reservations().find(|r| r.mac == mac) {
            return r.address == a && holder.is_none_or(|l| l.client_id == *c);
        }
        match holder {
            Some(l) => l.client_id == *c,
            None => settings.in_pool(a) && self.pre.reservations().all(|r| r.address != a),
        }
    }

    /// Allocate/Bind without an exact address.
    fn expected_choice(
        &self,
        c: &ClientId,
        mac: MacAddr,
        hint: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, Rejection> {
        if let Some(r) = self.pre.reservations().find(|r| r.mac == mac) {
            return if self.available(c, mac, r.address) {
                Ok(r.address)
            } else {
                Err(Rejection::AddressUnavailable { address: r.address })
            };
        }
        if let Some(l) = self.live_of(c) {
            return Ok(l.address);
        }
        if let Some(h) = hint.filter(|&h| self.available(c, mac, h)) {
            return Ok(h);
        }
        if let Some(&p) = self.memory.get(c).filter(|&&p| self.available(c, mac, p)) {
            return Ok(p);
        }
        self.pre
            .settings()
            .unwrap()
            .ranges
            .iter()
            .flat_map(|range| (u32::from(range.start)..=u32::from(range.end)).map(Ipv4Addr::from))
            .find(|&a| self.available(c, mac, a))
            .ok_or(Rejection::PoolExhausted)
    }

    /// Is `name` held by a live bound lease of a client other than `c`, or
    /// reserved (for anyone, if `any_reservation`; else for another MAC)?
    fn name_taken(&self, name: &str, c: &ClientId, mac: MacAddr, any_reservation: bool) -> bool {
        self.pre.leases().any(|l| {
            l.expires_at > self.now
                && l.client_id != *c
                && l.state == LeaseState::Bound
                && l.granted_name.as_deref() == Some(name)
        }) || self
            .pre
            .reservations()
            .any(|r| r.hostname.as_deref() == Some(name) && (any_reservation || r.mac != mac))
    }

    /// The name Bind grants; `None` in the outer option means "kept".
    fn expected_name(
        &self,
        c: &ClientId,
        mac: MacAddr,
        hostname: Option<&str>,
    ) -> (Option<String>, bool) {
        let old = self.live_of(c);
        let hostname = hostname
            .map(str::to_string)
            .or_else(|| old.and_then(|l| l.requested_hostname.clone()));
        let desired = self
            .pre
            .reservations()
            .find(|r| r.mac == mac)
            .and_then(|r| r.hostname.clone())
            .or_else(|| self.pre.name_of_mac(mac).map(str::to_string))
            .or_else(|| hostname.as_deref().and_then(normalize_hostname));
        if let Some(old) = old.filter(|l| l.state == LeaseState::Bound)
            && let (Some(g), Some(d)) = (&old.granted_name, &desired)
            && (g == d || (2..100).any(|n| suffixed(d, n) == *g))
        {
            return (Some(g.clone()), false);
        }
        let Some(d) = desired else {
            return (None, false);
        };
        if !self.name_taken(&d, c, mac, false) {
            return (Some(d), false);
        }
        match self.pre.settings().unwrap().duplicate_hostnames {
            HostnamePolicy::Reject => (None, true),
            HostnamePolicy::Suffix => {
                let n = (2..)
                    .find(|&n| !self.name_taken(&suffixed(&d, n), c, mac, true))
                    .unwrap();
                (Some(suffixed(&d, n)), true)
            }
        }
    }
}

/// The previous-address rule, tracked from what the commands did.
#[derive(Default)]
struct Memory(BTreeMap<ClientId, Ipv4Addr>);

impl Memory {
    fn remember(&mut self, c: &ClientId, a: Ipv4Addr) {
        self.0.retain(|other, addr| other == c || *addr != a);
        self.0.insert(c.clone(), a);
    }

    fn forget(&mut self, a: Ipv4Addr) {
        self.0.retain(|_, addr| *addr != a);
    }

    fn expire(&mut self, pre: &LeaseTable, now: u64) {
        for l in pre
            .leases()
            .filter(|l| l.expires_at <= now && l.state == LeaseState::Bound)
        {
            self.remember(&l.client_id, l.address);
        }
    }
}

fn run(policy: HostnamePolicy, steps: Vec<(i64, Op)>) -> Result<(), TestCaseError> {
    // A /27 whose range is only 10.0.0.2-10.0.0.9.
    let mut settings = settings(policy);
    settings.ranges[0].end = ip(9);
    settings.lease_time_secs = 300;
    let mut table = LeaseTable::default();
    table.apply(&Command::Initialize { settings });
    let mut memory = Memory::default();
    let mut clock: i64 = 0;
    for (dt, op) in steps {
        clock = (clock + dt).max(0);
        let now = clock as u64;
        let pre = table.clone();
        let eff = now.max(pre.last_now());
        let timed = !matches!(
            op,
            Op::Reserve { .. } | Op::Unreserve { .. } | Op::Record { .. }
        );
        let view_now = if timed { eff } else { pre.last_now() };
        if matches!(op, Op::Reserve { .. }) || timed {
            memory.expire(&pre, view_now);
        }
        let view = View {
            pre: &pre,
            now: view_now,
            memory: memory.0.clone(),
        };

        let target = |c: u8, a: u8| {
            if a != OWN {
                return address(a);
            }
            let c = client(c);
            pre.lease_by_client(&c)
                .map(|l| l.address)
                .or(pre.previous_lease(&c).map(|p| p.address))
                .unwrap_or(ip(2))
        };
        let command = match &op {
            Op::Allocate { c, host, hint } => Command::Allocate {
                request: request(*c, HOSTNAMES[*host], hint.map(address)),
                now,
                hold_ms: 5_000,
            },
            Op::Bind {
                c,
                host,
                address: a,
                secs,
            } => Command::Bind {
                request: request(*c, HOSTNAMES[*host], a.map(address)),
                now,
                lease_time_secs: *secs,
            },
            Op::Renew { c, address: a } => Command::Renew {
                client_id: client(*c),
                address: target(*c, *a),
                now,
                lease_time_secs: None,
            },
            Op::Release { c, m, address: a } => Command::Release {
                client_id: c.map(client),
                mac: m.map(mac),
                address: target(c.unwrap_or(0), *a),
                now,
            },
            Op::Decline { c, address: a } => Command::Decline {
                client_id: client(*c),
                mac: None,
                address: target(*c, *a),
                now,
            },
            Op::Expire => Command::Expire { now },
            Op::Reserve {
                c,
                address: a,
                host,
            } => Command::Reserve {
                reservation: Reservation {
                    mac: mac(*c),
                    address: address(*a),
                    hostname: HOSTNAMES[*host]
                        .filter(|h| !h.contains('.'))
                        .map(str::to_string),
                },
            },
            Op::Unreserve { c } => Command::Unreserve { mac: mac(*c) },
            Op::Record { add: true, which } => Command::AddRecord {
                record: record(*which),
            },
            Op::Record { add: false, which } => Command::RemoveRecord {
                record: record(*which),
            },
            Op::NameMac { c, name } => Command::NameMac {
                mac: mac(*c),
                name: MAC_NAMES[*name].to_string(),
                now,
            },
            Op::ForgetMac { c } => Command::ForgetMac { mac: mac(*c), now },
            Op::ChangeSettings {
                ranges,
                lease_time,
                reject,
                quarantine_secs,
                stale,
            } => {
                let mut settings = pre.settings().unwrap().clone();
                settings.ranges = ranges
                    .iter()
                    .map(|&(start, end)| AddressRange {
                        start: ip(start),
                        end: ip(end),
                    })
                    .collect();
                settings.lease_time_secs = LEASE_TIMES[*lease_time];
                settings.duplicate_hostnames = if *reject {
                    HostnamePolicy::Reject
                } else {
                    HostnamePolicy::Suffix
                };
                settings.decline_quarantine_secs = *quarantine_secs;
                // Made from the current settings, or (one in four) from
                // settings another change replaced: refused then.
                let based_on = pre.settings().cloned().map(|mut base| {
                    if *stale {
                        base.lease_time_secs += 1;
                    }
                    base
                });
                Command::ChangeSettings {
                    settings,
                    now,
                    based_on,
                }
            }
        };
        let lease_time_ms = 1000 * pre.settings().unwrap().lease_time_secs;
        let conflicts_before = pre.conflicts().count();
        let candidates: Option<Vec<Ipv4Addr>> = match &command {
            Command::Allocate { request, .. } => {
                Some(pre.candidate_addresses(request, now).collect())
            }
            Command::Bind { request, .. } if request.requested_address.is_none() => {
                Some(pre.candidate_addresses(request, now).collect())
            }
            _ => None,
        };

        let response = table.apply(&command);
        check(&table)
            .map_err(|e| TestCaseError::fail(format!("{e} after {command} -> {response:?}")))?;
        prop_assert_eq!(table.last_now(), if timed { eff } else { pre.last_now() });

        // Snapshot round trip, indexes included.
        let json = serde_json::to_string(&table).unwrap();
        let back: LeaseTable = serde_json::from_str(&json).unwrap();
        prop_assert!(
            back == table,
            "snapshot round trip differs after {}",
            command
        );

        match &command {
            Command::Allocate { request: r, .. } | Command::Bind { request: r, .. } => {
                let strict =
                    matches!(command, Command::Bind { .. }) && r.requested_address.is_some();
                let expected = match r.requested_address {
                    Some(a) if strict => {
                        if view.available(&r.client_id, r.mac, a) {
                            Ok(a)
                        } else {
                            Err(Rejection::AddressUnavailable { address: a })
                        }
                    }
                    hint => view.expected_choice(&r.client_id, r.mac, hint),
                };
                let got = match &response {
                    Response::Lease { lease } => Ok(lease.address),
                    Response::Rejected { reason } => Err(reason.clone()),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(&got, &expected, "{} at {}", command, eff);
                if let Some(list) = candidates {
                    // The DHCP server's view agrees with apply, lists only
                    // available addresses, once each, and misses none.
                    prop_assert_eq!(list.first().copied(), got.clone().ok());
                    let set: BTreeSet<_> = list.iter().copied().collect();
                    prop_assert_eq!(set.len(), list.len());
                    for a in 0..32u8 {
                        let a = ip(a);
                        prop_assert_eq!(
                            set.contains(&a),
                            view.available(&r.client_id, r.mac, a),
                            "candidate {}",
                            a
                        );
                        prop_assert_eq!(
                            pre.is_available_to(&r.client_id, r.mac, a, now),
                            view.available(&r.client_id, r.mac, a)
                        );
                    }
                    // After the preferred ones (current, hint, previous), ascending.
                    let preferred = [
                        view.live_of(&r.client_id).map(|l| l.address),
                        r.requested_address,
                        view.memory.get(&r.client_id).copied(),
                    ];
                    let skip = list
                        .iter()
                        .take(3)
                        .take_while(|a| preferred.contains(&Some(**a)))
                        .count();
                    prop_assert!(
                        list[skip..].windows(2).all(|w| w[0] < w[1]),
                        "free addresses not ascending: {:?}",
                        list
                    );
                }
                if let Response::Lease { lease } = &response {
                    prop_assert_eq!(&lease.client_id, &r.client_id);
                    prop_assert_eq!(lease.mac, r.mac);
                    if let Command::Bind {
                        lease_time_secs, ..
                    } = &command
                    {
                        prop_assert_eq!(lease.state, LeaseState::Bound);
                        // Never earlier than the live lease it replaces
                        // on the same address.
                        let held_until = view
                            .live_of(&r.client_id)
                            .filter(|l| l.address == lease.address)
                            .filter(|l| l.state == LeaseState::Bound)
                            .map_or(0, |l| l.expires_at);
                        prop_assert_eq!(
                            lease.expires_at,
                            (eff + lease_time_secs.map_or(lease_time_ms, |s| 1000 * s))
                                .max(held_until)
                        );
                        let (name, conflict) =
                            view.expected_name(&r.client_id, r.mac, r.hostname.as_deref());
                        prop_assert_eq!(&lease.granted_name, &name, "name for {}", command);
                        prop_assert_eq!(
                            table.conflicts().count() > conflicts_before
                                || conflicts_before == MAX_CONFLICTS,
                            conflict
                        );
                        if conflict {
                            let last = table.conflicts().last().unwrap();
                            prop_assert_eq!(&last.claimant, &r.client_id);
                            prop_assert_eq!(&last.granted_instead, &name);
                        }
                        if let Some(name) = &lease.granted_name {
                            prop_assert_eq!(table.address_of_name(name), Some(lease.address));
                        }
                    } else if view
                        .live_of(&r.client_id)
                        .is_none_or(|l| l.state == LeaseState::Offered)
                    {
                        prop_assert_eq!(lease.state, LeaseState::Offered);
                        prop_assert_eq!(&lease.granted_name, &None);
                    }
                }
            }
            Command::Renew {
                client_id,
                address: a,
                ..
            } => {
                let expected = match view.live_of(client_id) {
                    Some(l) if l.address == *a => view.available(client_id, l.mac, *a),
                    Some(_) => false,
                    None => {
                        view.memory.get(client_id) == Some(a)
                            && pre
                                .lease_by_client(client_id)
                                .map(|l| l.mac)
                                .or(pre.previous_lease(client_id).map(|p| p.mac))
                                .is_some_and(|mac| view.available(client_id, mac, *a))
                    }
                };
                match &response {
                    Response::Lease { lease } => {
                        prop_assert!(expected, "renew granted unexpectedly: {}", command);
                        prop_assert_eq!(lease.address, *a);
                        prop_assert_eq!(lease.state, LeaseState::Bound);
                        let held_until = view
                            .live_of(client_id)
                            .filter(|l| l.address == *a && l.state == LeaseState::Bound)
                            .map_or(0, |l| l.expires_at);
                        prop_assert_eq!(lease.expires_at, (eff + lease_time_ms).max(held_until));
                    }
                    _ => prop_assert!(
                        !expected,
                        "renew refused unexpectedly: {} -> {:?}",
                        command,
                        response
                    ),
                }
            }
            Command::Release {
                client_id,
                mac,
                address: a,
                ..
            } => {
                let held = view
                    .live(*a)
                    .filter(|l| client_id.as_ref().is_none_or(|c| *c == l.client_id))
                    .filter(|l| mac.is_none_or(|m| m == l.mac))
                    .cloned();
                prop_assert_eq!(response == Response::Done, held.is_some());
                if let Some(l) = held {
                    if l.state == LeaseState::Bound {
                        memory.remember(&l.client_id, *a);
                    }
                    prop_assert!(table.lease_by_address(*a).is_none());
                    if let Some(name) = &l.granted_name {
                        prop_assert_eq!(table.address_of_name(name), None);
                    }
                    // Released addresses in the range are allocatable again.
                    let stranger = ClientId(vec![0xff]);
                    let expect_free = pre.settings().unwrap().in_pool(*a)
                        && pre.reservation_for_address(*a).is_none();
                    prop_assert_eq!(
                        table.is_available_to(&stranger, MacAddr([0xff; 6]), *a, eff),
                        expect_free
                    );
                }
            }
            Command::Decline {
                client_id,
                address: a,
                ..
            } => {
                let held = view.live(*a).is_some_and(|l| l.client_id == *client_id);
                prop_assert_eq!(response == Response::Done, held);
                if held {
                    memory.forget(*a);
                    prop_assert!(table.quarantined().any(|(q, _)| q == *a));
                }
            }
            Command::Expire { .. } => {
                let due = pre.leases().filter(|l| l.expires_at <= eff).count();
                prop_assert_eq!(response, Response::Expired { leases: due });
            }
            Command::Reserve { reservation } => {
                let ok = response == Response::Done;
                let conflict = pre.reservation_for_mac(reservation.mac).is_some()
                    || pre.reservation_for_address(reservation.address).is_some()
                    || !pre
                        .settings()
                        .unwrap()
                        .subnet
                        .contains(&reservation.address)
                    || view
                        .live(reservation.address)
                        .is_some_and(|l| l.mac != reservation.mac);
                if conflict {
                    prop_assert!(!ok, "{} accepted", command);
                }
                if ok {
                    prop_assert_eq!(
                        table
                            .reservation_for_address(reservation.address)
                            .map(|r| r.mac),
                        Some(reservation.mac)
                    );
                }
            }
            Command::NameMac { mac: m, name, .. } => {
                let valid =
                    crate::names::normalize_machine_name(name).as_deref() == Some(name.as_str());
                prop_assert_eq!(response == Response::Done, valid, "{}", command);
                if valid {
                    prop_assert_eq!(table.name_of_mac(*m), Some(name.as_str()));
                    // Unless a reservation names it, every bound lease of the
                    // MAC carries the name, a suffixed variant, or (refused
                    // under "reject") none.
                    if table
                        .reservation_for_mac(*m)
                        .and_then(|r| r.hostname.as_ref())
                        .is_none()
                    {
                        for lease in table
                            .leases()
                            .filter(|l| l.mac == *m && l.state == LeaseState::Bound)
                        {
                            match &lease.granted_name {
                                Some(granted) => prop_assert!(
                                    granted == name || {
                                        // `label-N.project`: the suffix ends the first label.
                                        let (label, rest) = name
                                            .split_once('.')
                                            .map_or((name.as_str(), ""), |(l, r)| (l, r));
                                        let rest = if rest.is_empty() {
                                            String::new()
                                        } else {
                                            format!(".{rest}")
                                        };
                                        granted.starts_with(&format!("{label}-"))
                                            && granted.ends_with(&rest)
                                            && granted.matches('.').count()
                                                == name.matches('.').count()
                                    },
                                    "{} named {} after {}",
                                    lease.address,
                                    granted,
                                    command
                                ),
                                None => prop_assert_eq!(
                                    pre.settings().unwrap().duplicate_hostnames,
                                    HostnamePolicy::Reject
                                ),
                            }
                        }
                    }
                } else {
                    prop_assert_eq!(table.name_of_mac(*m), pre.name_of_mac(*m));
                }
            }
            Command::ForgetMac { mac: m, .. } => {
                prop_assert_eq!(&response, &Response::Done);
                for lease in pre.leases().filter(|l| l.mac == *m && l.expires_at > eff) {
                    memory.0.remove(&lease.client_id);
                    memory.forget(lease.address);
                }
                prop_assert!(table.leases().all(|l| l.mac != *m), "a lease of {} left", m);
                prop_assert!(table.reservation_for_mac(*m).is_none());
                prop_assert_eq!(table.name_of_mac(*m), None);
            }
            Command::ChangeSettings {
                settings, based_on, ..
            } => {
                let ranges = &settings.ranges;
                let stale = based_on.as_ref() != pre.settings();
                let each_valid = ranges
                    .iter()
                    .all(|r| r.start <= r.end && r.start > ip(0) && r.end < ip(31));
                let disjoint = ranges.windows(2).all(|pair| pair[0].end < pair[1].start);
                let valid = !stale && each_valid && disjoint;
                let in_some_range = |a: Ipv4Addr| ranges.iter().any(|r| r.contains(a));
                let stranded: Vec<Ipv4Addr> = pre
                    .leases()
                    .filter(|l| l.expires_at > eff && !in_some_range(l.address))
                    .filter(|l| {
                        pre.reservation_for_address(l.address)
                            .is_none_or(|r| r.mac != l.mac)
                    })
                    .map(|l| l.address)
                    .collect();
                match &response {
                    Response::Done => {
                        prop_assert!(valid && stranded.is_empty(), "{} accepted", command);
                        prop_assert_eq!(table.settings(), Some(settings));
                    }
                    Response::Rejected {
                        reason: Rejection::RangeStrandsLeases { leases, total, .. },
                    } => {
                        prop_assert!(valid);
                        prop_assert_eq!(*total, stranded.len());
                        let listed: Vec<Ipv4Addr> = leases.iter().map(|l| l.address).collect();
                        prop_assert_eq!(listed, stranded);
                        prop_assert_eq!(table.settings(), pre.settings());
                    }
                    Response::Rejected {
                        reason: Rejection::InvalidSettings(_),
                    } => prop_assert!(!valid && !stale, "{} refused as invalid", command),
                    Response::Rejected {
                        reason: Rejection::SettingsChangedMeanwhile,
                    } => {
                        prop_assert!(stale, "{} refused as stale", command);
                        prop_assert_eq!(table.settings(), pre.settings());
                    }
                    other => return Err(TestCaseError::fail(format!("{command}: {other:?}"))),
                }
                // No live lease lost, moved or shortened; every address in
                // the new range is free exactly when nobody holds it.
                for lease in pre.leases().filter(|l| l.expires_at > eff) {
                    prop_assert_eq!(table.lease_by_address(lease.address), Some(lease));
                }
                prop_assert_eq!(table.leases().count(), view_live_count(&pre, eff));
            }
            _ => {}
        }
        // The memory model agrees with the table's.
        let table_memory: BTreeMap<ClientId, Ipv4Addr> = (0..CLIENTS)
            .map(client)
            .filter_map(|c| table.previous_lease(&c).map(|p| (c, p.address)))
            .collect();
        prop_assert_eq!(&table_memory, &memory.0, "memory after {}", command);
    }
    Ok(())
}

fn view_live_count(pre: &LeaseTable, now: u64) -> usize {
    pre.leases().filter(|l| l.expires_at > now).count()
}

fn steps() -> impl Strategy<Value = Vec<(i64, Op)>> {
    proptest::collection::vec(
        (prop_oneof![6 => 0i64..20_000, 1 => -8_000i64..0], op()),
        1..150,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn suffix_policy_sequences_keep_every_invariant(steps in steps()) {
        run(HostnamePolicy::Suffix, steps)?;
    }

    #[test]
    fn reject_policy_sequences_keep_every_invariant(steps in steps()) {
        run(HostnamePolicy::Reject, steps)?;
    }
}
