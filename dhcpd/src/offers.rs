//! Addresses offered (DHCPOFFER) but not yet requested, held on the leader only.
//!
//! Offers are not replicated: an OFFER costs no Raft write, so a DISCOVER flood
//! cannot fill the log, and a hold lapses by itself after the hold time. If the
//! leader changes, the new leader has an empty book and simply binds what the
//! client REQUESTs (its server identifier is one of the cluster's).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use raftmasq_state::{ClientId, Millis};

use crate::unknown_renewals::UnknownRenewals;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    client: ClientId,
    expires_at: Millis,
}

/// Pending offers, indexed by address, client and expiry; every operation is
/// O(log n). Time is an argument: an offer whose `expires_at <= now` is gone.
///
/// The book is what this node remembers between decisions without
/// replicating it, so it also carries the budget of renewals for unknown
/// addresses ([`UnknownRenewals`]): `decide` gets one mutable value.
#[derive(Debug, Clone, Default)]
pub struct OfferBook {
    by_address: BTreeMap<Ipv4Addr, Offer>,
    by_client: BTreeMap<ClientId, Ipv4Addr>,
    by_expiry: BTreeSet<(Millis, Ipv4Addr)>,
    /// Where the next scan of the free pool starts (next-fit).
    scan_start: u32,
    /// Addresses this node bound for renewals of leases it had no record of.
    pub unknown_renewals: UnknownRenewals,
}

impl OfferBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of offers held, expired ones included until the next purge.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// The address currently offered to `client`, if the offer still holds.
    pub fn offer_for(&self, client: &ClientId, now: Millis) -> Option<Ipv4Addr> {
        let address = *self.by_client.get(client)?;
        let offer = self.by_address.get(&address)?;
        (offer.expires_at > now).then_some(address)
    }

    /// Whether `address` is held for a client other than `client` at `now`.
    pub fn held_for_other(&self, address: Ipv4Addr, client: &ClientId, now: Millis) -> bool {
        self.by_address
            .get(&address)
            .is_some_and(|offer| offer.expires_at > now && offer.client != *client)
    }

    /// Where the next scan for a free address starts: just past the last
    /// address offered from the pool.
    pub fn scan_start(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.scan_start)
    }

    /// The next scan starts after `address`.
    pub fn scan_past(&mut self, address: Ipv4Addr) {
        self.scan_start = u32::from(address).saturating_add(1);
    }

    /// Holds `address` for `client` until `expires_at`, replacing the client's
    /// previous offer and any offer of that address to someone else.
    pub fn hold(&mut self, client: ClientId, address: Ipv4Addr, expires_at: Millis) {
        if let Some(previous) = self.by_client.get(&client).copied() {
            self.remove_address(previous);
        }
        self.remove_address(address);
        self.by_expiry.insert((expires_at, address));
        self.by_client.insert(client.clone(), address);
        self.by_address
            .insert(address, Offer { client, expires_at });
    }

    /// Forgets the client's offer (it chose another server, declined or
    /// released); the next scan starts no later than its address, so the
    /// address is offered again at once.
    pub fn withdraw(&mut self, client: &ClientId) {
        if let Some(address) = self.by_client.get(client).copied() {
            self.remove_address(address);
            self.scan_start = self.scan_start.min(u32::from(address));
        }
    }

    /// Drops every offer that ended at or before `now`; returns how many.
    pub fn purge_expired(&mut self, now: Millis) -> usize {
        let mut purged = 0;
        while let Some(&(expires_at, address)) = self.by_expiry.first() {
            if expires_at > now {
                break;
            }
            self.remove_address(address);
            purged += 1;
        }
        purged
    }

    fn remove_address(&mut self, address: Ipv4Addr) {
        if let Some(offer) = self.by_address.remove(&address) {
            self.by_expiry.remove(&(offer.expires_at, address));
            if self.by_client.get(&offer.client) == Some(&address) {
                self.by_client.remove(&offer.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> ClientId {
        ClientId(vec![1, 0, 0, 0, 0, 0, n])
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    #[test]
    fn an_offer_holds_until_it_expires() {
        let mut book = OfferBook::new();
        book.hold(client(1), ip(10), 1_000);
        assert_eq!(book.offer_for(&client(1), 999), Some(ip(10)));
        assert!(book.held_for_other(ip(10), &client(2), 999));
        assert!(!book.held_for_other(ip(10), &client(1), 999));
        assert_eq!(book.offer_for(&client(1), 1_000), None);
        assert!(!book.held_for_other(ip(10), &client(2), 1_000));
    }

    #[test]
    fn a_new_offer_replaces_the_clients_previous_one() {
        let mut book = OfferBook::new();
        book.hold(client(1), ip(10), 1_000);
        book.hold(client(1), ip(11), 2_000);
        assert_eq!(book.len(), 1);
        assert_eq!(book.offer_for(&client(1), 0), Some(ip(11)));
        assert!(!book.held_for_other(ip(10), &client(2), 0));
    }

    #[test]
    fn reoffering_an_address_takes_it_from_the_expired_holder() {
        let mut book = OfferBook::new();
        book.hold(client(1), ip(10), 1_000);
        book.hold(client(2), ip(10), 3_000);
        assert_eq!(book.offer_for(&client(1), 0), None);
        assert_eq!(book.offer_for(&client(2), 0), Some(ip(10)));
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn withdraw_frees_the_address() {
        let mut book = OfferBook::new();
        book.hold(client(1), ip(10), 1_000);
        book.withdraw(&client(1));
        assert!(book.is_empty());
        assert!(!book.held_for_other(ip(10), &client(2), 0));
    }

    #[test]
    fn the_scan_starts_past_the_last_offer_and_back_at_a_withdrawn_one() {
        let mut book = OfferBook::new();
        assert_eq!(book.scan_start(), Ipv4Addr::UNSPECIFIED);
        book.hold(client(1), ip(10), 1_000);
        book.scan_past(ip(10));
        book.hold(client(2), ip(11), 1_000);
        book.scan_past(ip(11));
        assert_eq!(book.scan_start(), ip(12));
        // An offer that lapses does not move the scan back...
        book.purge_expired(1_000);
        assert_eq!(book.scan_start(), ip(12));
        // ...one the client gave up does.
        book.hold(client(3), ip(12), 2_000);
        book.scan_past(ip(12));
        book.withdraw(&client(3));
        assert_eq!(book.scan_start(), ip(12));
        book.scan_past(Ipv4Addr::BROADCAST);
        assert_eq!(book.scan_start(), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn purge_removes_only_expired_offers() {
        let mut book = OfferBook::new();
        for n in 0..10u8 {
            book.hold(client(n), ip(n), u64::from(n) * 100);
        }
        assert_eq!(book.purge_expired(450), 5);
        assert_eq!(book.len(), 5);
        assert_eq!(book.offer_for(&client(4), 0), None);
        assert_eq!(book.offer_for(&client(5), 0), Some(ip(5)));
        assert_eq!(book.purge_expired(450), 0);
    }
}
