//! Which addresses a client may have, in the order Allocate and Bind prefer
//! them. The DHCP server walks the same iterator to make offers without a Raft
//! write, so what it offers is exactly what a later Bind would accept.
//!
//! Reads take `now` without mutating the table, so they treat everything due
//! by `now` as already expired, exactly as `apply` would after its expiry step.

use std::net::Ipv4Addr;

use crate::command::LeaseRequest;
use crate::pool::IntervalSet;
use crate::table::LeaseTable;
use crate::types::{ClientId, Lease, LeaseState, MacAddr, Millis};

impl LeaseTable {
    /// Whether a strict Bind of `address` by this client at `now` would succeed.
    ///
    /// An address is available to a client that holds a reservation only if it
    /// is that reservation (and not quarantined or held by another client). For
    /// other clients: the address it holds, or a free one: inside the range, not
    /// leased, not quarantined, not reserved for anyone.
    pub fn is_available_to(
        &self,
        client: &ClientId,
        mac: MacAddr,
        address: Ipv4Addr,
        now: Millis,
    ) -> bool {
        self.is_available_at(client, mac, address, now.max(self.last_now))
    }

    /// The addresses Allocate/Bind would consider for `request` at `now`, lazily
    /// and without duplicates: the reservation (alone, if the MAC has one); else
    /// the current lease, the requested hint, the previous address, then free
    /// addresses ascending. Each step costs O(log n).
    pub fn candidate_addresses<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
    ) -> impl Iterator<Item = Ipv4Addr> + use<'a> {
        self.candidates(
            &request.client_id,
            request.mac,
            request.requested_address,
            now.max(self.last_now),
            0,
        )
    }

    /// As [`LeaseTable::candidate_addresses`], but free addresses below `from`
    /// are skipped (the preferred ones are not). The DHCP server scans the
    /// pool next-fit from where its last offer ended, so addresses held by
    /// recent offers are not walked again on every DISCOVER.
    pub fn candidate_addresses_from<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
        from: Ipv4Addr,
    ) -> impl Iterator<Item = Ipv4Addr> + use<'a> {
        self.candidates(
            &request.client_id,
            request.mac,
            request.requested_address,
            now.max(self.last_now),
            u32::from(from),
        )
    }

    /// `now` must already be clamped.
    pub(crate) fn is_available_at(
        &self,
        client: &ClientId,
        mac: MacAddr,
        address: Ipv4Addr,
        now: Millis,
    ) -> bool {
        let Some(settings) = &self.settings else {
            return false;
        };
        if !settings.subnet.contains(&address) || self.quarantined_at(address, now) {
            return false;
        }
        let holder = self.live_lease(address, now);
        if let Some(reservation) = self.reservations.get(&mac) {
            return reservation.address == address && holder.is_none_or(|l| l.client_id == *client);
        }
        match holder {
            Some(lease) => lease.client_id == *client,
            None => settings.in_pool(address) && !self.reserved_by_address.contains_key(&address),
        }
    }

    fn live_lease(&self, address: Ipv4Addr, now: Millis) -> Option<&Lease> {
        self.leases.get(&address).filter(|l| l.expires_at > now)
    }

    fn quarantined_at(&self, address: Ipv4Addr, now: Millis) -> bool {
        self.quarantine
            .get(&address)
            .is_some_and(|&until| until > now)
    }

    /// The address `apply` would remember for `client` once everything due by
    /// `now` has expired.
    fn previous_at(&self, client: &ClientId, now: Millis) -> Option<Ipv4Addr> {
        if let Some(lease) = self.lease_by_client(client)
            && lease.expires_at <= now
            && lease.state == LeaseState::Bound
        {
            return Some(lease.address);
        }
        let memory = self.previous.get(client)?;
        // Another client's bound lease there ending by `now` takes over the
        // address's memory when it expires.
        let overwritten = self.leases.get(&memory.address).is_some_and(|l| {
            l.client_id != *client && l.state == LeaseState::Bound && l.expires_at <= now
        });
        (!overwritten).then_some(memory.address)
    }

    /// `now` must already be clamped; free addresses start at `free_from`.
    pub(crate) fn candidates(
        &self,
        client: &ClientId,
        mac: MacAddr,
        hint: Option<Ipv4Addr>,
        now: Millis,
        free_from: u32,
    ) -> Candidates<'_> {
        let mut preferred = Vec::with_capacity(3);
        let mut offer = |address: Option<Ipv4Addr>| {
            if let Some(address) = address
                && !preferred.contains(&address)
                && self.is_available_at(client, mac, address, now)
            {
                preferred.push(address);
            }
        };
        if let Some(reservation) = self.reservations.get(&mac) {
            offer(Some(reservation.address));
            return Candidates {
                preferred,
                next: 0,
                free: None,
            };
        }
        let current = self
            .lease_by_client(client)
            .filter(|l| l.expires_at > now)
            .map(|l| l.address);
        offer(current);
        offer(hint);
        offer(self.previous_at(client, now));
        let free = self.settings.as_ref().map(|_| {
            let pending = self.freed_by(now);
            let next_pending = pending.partition_point(|&address| address < free_from);
            FreeScan {
                pool: &self.free,
                cursor: Some(free_from),
                pending,
                next_pending,
            }
        });
        Candidates {
            preferred,
            next: 0,
            free,
        }
    }

    /// Range addresses not in the pool yet that become free once everything
    /// due by `now` expires, ascending. Normally empty: the leader commits
    /// Expire regularly, so this is a handful of entries at most.
    fn freed_by(&self, now: Millis) -> Vec<u32> {
        let Some(settings) = &self.settings else {
            return Vec::new();
        };
        let due = |(at, _): &&(Millis, Ipv4Addr)| *at <= now;
        let leases = self.lease_expiry.iter().take_while(due);
        let quarantines = self.quarantine_expiry.iter().take_while(due);
        let mut freed: Vec<u32> = leases
            .chain(quarantines)
            .map(|&(_, address)| address)
            .filter(|a| settings.in_pool(*a) && !self.reserved_by_address.contains_key(a))
            .filter(|a| self.live_lease(*a, now).is_none() && !self.quarantined_at(*a, now))
            .map(u32::from)
            .collect();
        freed.sort_unstable();
        freed.dedup();
        freed
    }
}

/// Iterator returned by `candidate_addresses`.
pub(crate) struct Candidates<'a> {
    preferred: Vec<Ipv4Addr>,
    next: usize,
    free: Option<FreeScan<'a>>,
}

impl Iterator for Candidates<'_> {
    type Item = Ipv4Addr;

    fn next(&mut self) -> Option<Ipv4Addr> {
        if let Some(&address) = self.preferred.get(self.next) {
            self.next += 1;
            return Some(address);
        }
        let free = self.free.as_mut()?;
        loop {
            let address = Ipv4Addr::from(free.next()?);
            if !self.preferred.contains(&address) {
                return Some(address);
            }
        }
    }
}

/// Merges the free pool with the addresses freed by pending expiries.
struct FreeScan<'a> {
    pool: &'a IntervalSet,
    /// Next pool value to look at; `None` once past `u32::MAX`.
    cursor: Option<u32>,
    pending: Vec<u32>,
    next_pending: usize,
}

impl FreeScan<'_> {
    fn next(&mut self) -> Option<u32> {
        let from_pool = self.cursor.and_then(|c| self.pool.first_at_or_after(c));
        let pending = self.pending.get(self.next_pending).copied();
        match (from_pool, pending) {
            (Some(a), Some(p)) if p < a => {
                self.next_pending += 1;
                Some(p)
            }
            (Some(a), _) => {
                self.cursor = a.checked_add(1);
                Some(a)
            }
            (None, Some(p)) => {
                self.next_pending += 1;
                Some(p)
            }
            (None, None) => None,
        }
    }
}
