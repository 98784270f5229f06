//! Brute-force recomputation of every derived index from the primary data, and
//! the safety properties the table must keep after any command.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::names::is_valid_host_name;
use crate::table::MAX_CONFLICTS;
use crate::{LeaseState, LeaseTable};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

pub(crate) fn check(t: &LeaseTable) -> Result<(), String> {
    let Some(settings) = &t.settings else {
        ensure!(
            t.leases.is_empty() && t.free.len() == 0,
            "data before initialisation"
        );
        return Ok(());
    };

    // Leases: one per address (by construction of the map) and one per client.
    let mut by_client = BTreeMap::new();
    let mut by_name = BTreeMap::new();
    let mut expiry = BTreeSet::new();
    let (mut bound, mut offered) = (0, 0);
    for (&address, lease) in &t.leases {
        ensure!(
            lease.address == address,
            "lease keyed under the wrong address"
        );
        ensure!(
            settings.subnet.contains(&address),
            "lease {address} outside the subnet"
        );
        ensure!(
            by_client.insert(lease.client_id.clone(), address).is_none(),
            "client {} holds two leases",
            lease.client_id
        );
        ensure!(
            lease.expires_at > t.last_now,
            "lease {address} outlived its expiry"
        );
        expiry.insert((lease.expires_at, address));
        match lease.state {
            LeaseState::Bound => bound += 1,
            LeaseState::Offered => {
                offered += 1;
                ensure!(
                    lease.granted_name.is_none(),
                    "offered lease {address} owns a name"
                );
            }
        }
        if let Some(name) = &lease.granted_name {
            ensure!(
                is_valid_host_name(name),
                "granted name {name:?} is not a label or label.project"
            );
            ensure!(
                name.to_ascii_lowercase() == *name,
                "granted name {name:?} not lowercase"
            );
            ensure!(
                !t.is_zone_name(name),
                "lease {address} holds {name}, a name the zone keeps"
            );
            ensure!(
                by_name
                    .insert(name.clone(), (address, lease.expires_at))
                    .is_none(),
                "name {name} maps to two addresses"
            );
        }
        // Reservations are honoured.
        if let Some(reservation) = t.reservation_for_address(address) {
            ensure!(
                reservation.mac == lease.mac,
                "reserved {address} leased to another MAC"
            );
        }
        ensure!(
            !t.quarantine.contains_key(&address),
            "{address} leased while quarantined"
        );
    }
    ensure!(by_client == t.by_client, "by_client index disagrees");
    ensure!(
        by_name
            == t.by_name
                .iter()
                .map(|(name, &entry)| (name.to_string(), entry))
                .collect(),
        "by_name index disagrees"
    );
    let name_by_address: BTreeMap<_, _> = by_name
        .iter()
        .map(|(name, &(address, expires_at))| (address, (name.clone(), expires_at)))
        .collect();
    ensure!(
        name_by_address
            == t.name_by_address
                .iter()
                .map(|(&address, (name, expires_at))| (address, (name.to_string(), *expires_at)))
                .collect(),
        "name_by_address index disagrees"
    );
    ensure!(expiry == t.lease_expiry, "lease expiry index disagrees");
    ensure!(
        bound == t.bound_count && offered == t.offered_count,
        "counters disagree"
    );

    // Reservations.
    let mut reserved_by_address = BTreeMap::new();
    let mut reserved_names = BTreeMap::new();
    for (&mac, reservation) in &t.reservations {
        ensure!(
            reservation.mac == mac,
            "reservation keyed under the wrong MAC"
        );
        ensure!(
            settings.subnet.contains(&reservation.address),
            "reservation outside the subnet"
        );
        ensure!(
            reserved_by_address
                .insert(reservation.address, mac)
                .is_none(),
            "address reserved twice"
        );
        if let Some(name) = &reservation.hostname {
            ensure!(
                reserved_names.insert(name.clone(), mac).is_none(),
                "hostname reserved twice"
            );
            if let Some(lease) = by_name.get(name).and_then(|(a, _)| t.leases.get(a)) {
                ensure!(lease.mac == mac, "reserved name {name} held by another MAC");
            }
        }
    }
    ensure!(
        reserved_by_address == t.reserved_by_address,
        "reserved-address index disagrees"
    );
    ensure!(
        reserved_names == t.reserved_names,
        "reserved-name index disagrees"
    );

    // Name multiset.
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for name in by_name.keys().chain(reserved_names.keys()) {
        *counts.entry(name.clone()).or_default() += 1;
    }
    ensure!(counts == t.names.counts(), "name index disagrees");

    // Quarantine.
    let expiry: BTreeSet<_> = t.quarantine.iter().map(|(&a, &u)| (u, a)).collect();
    ensure!(
        expiry == t.quarantine_expiry,
        "quarantine expiry index disagrees"
    );
    ensure!(
        t.quarantine.values().all(|&until| until > t.last_now),
        "quarantine outlived its end"
    );

    // Previous-address memory is a partial bijection.
    let mut previous_by_address = BTreeMap::new();
    for (client, memory) in &t.previous {
        ensure!(
            previous_by_address
                .insert(memory.address, client.clone())
                .is_none(),
            "address remembered for two clients"
        );
    }
    ensure!(
        previous_by_address == t.previous_by_address,
        "previous-address index disagrees"
    );

    // The free pool is exactly: in a range, not leased, not reserved, not quarantined.
    let free: Vec<u32> = settings
        .ranges
        .iter()
        .flat_map(|range| u32::from(range.start)..=u32::from(range.end))
        .filter(|&a| {
            let a = Ipv4Addr::from(a);
            !t.leases.contains_key(&a)
                && !t.reserved_by_address.contains_key(&a)
                && !t.quarantine.contains_key(&a)
        })
        .collect();
    ensure!(
        free == t.free.iter().collect::<Vec<_>>(),
        "free pool disagrees"
    );
    ensure!(t.free.len() == free.len() as u64, "free count disagrees");

    ensure!(t.conflicts.len() <= MAX_CONFLICTS, "conflict log unbounded");
    Ok(())
}
