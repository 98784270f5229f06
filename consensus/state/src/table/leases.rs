//! The lease commands: choosing an address, Allocate, Bind, Renew, Release
//! and Decline.

use std::net::Ipv4Addr;

use super::{LeaseTable, Limits, secs_to_ms};
use crate::command::{LeaseRequest, Rejection, Response};
use crate::names::is_variant_of;
use crate::types::{ClientId, Lease, LeaseState, MacAddr, Millis, NodeId};

impl LeaseTable {
    /// The address Allocate/Bind give when the client names none (or only hints).
    fn choose(&self, request: &LeaseRequest, now: Millis) -> Result<Ipv4Addr, Rejection> {
        let mut candidates = self.candidates(
            &request.client_id,
            request.mac,
            request.requested_address,
            now,
            0,
        );
        if let Some(address) = candidates.next() {
            return Ok(address);
        }
        match self.reservations.get(&request.mac) {
            Some(reservation) => Err(Rejection::AddressUnavailable {
                address: reservation.address,
            }),
            None => Err(Rejection::PoolExhausted),
        }
    }

    pub(super) fn allocate(
        &mut self,
        request: &LeaseRequest,
        now: Millis,
        hold_ms: u64,
    ) -> Result<Response, Rejection> {
        let (now, _) = self.advance(now);
        let address = self.choose(request, now)?;
        let current = self.by_client.get(&request.client_id).copied();
        if current == Some(address)
            && let Some(lease) = self.leases.get(&address)
            && lease.state == LeaseState::Bound
        {
            // A bound client that DISCOVERs again is offered its lease as is.
            return Ok(Response::Lease {
                lease: lease.clone(),
            });
        }
        let old = current.and_then(|a| self.remove_lease(a));
        let mut expires_at = now.saturating_add(hold_ms.max(1));
        if let Some(old) = old.as_ref().filter(|l| l.address == address) {
            expires_at = expires_at.max(old.expires_at);
        }
        let lease = Lease {
            address,
            client_id: request.client_id.clone(),
            mac: request.mac,
            requested_hostname: request
                .hostname
                .clone()
                .or_else(|| old.as_ref().and_then(|l| l.requested_hostname.clone())),
            granted_name: None,
            state: LeaseState::Offered,
            granted_at: now,
            expires_at,
            seen_by: request.seen_by,
        };
        self.insert_lease(lease.clone());
        Ok(Response::Lease { lease })
    }

    pub(super) fn bind(
        &mut self,
        request: &LeaseRequest,
        now: Millis,
        lease_time_secs: Option<u64>,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let address = match request.requested_address {
            Some(address) => {
                if !self.is_available_at(&request.client_id, request.mac, address, now) {
                    return Err(Rejection::AddressUnavailable { address });
                }
                address
            }
            None => self.choose(request, now)?,
        };
        let bind = BindArgs {
            client: &request.client_id,
            mac: request.mac,
            hostname: request.hostname.as_deref(),
            address,
            lease_time_secs,
            seen_by: request.seen_by,
        };
        Ok(self.bind_at(limits, bind, now))
    }

    /// Binds `address` (already checked available) to the client, moving it off
    /// any other lease it held and keeping its name if it still asks for it.
    fn bind_at(&mut self, limits: Limits, args: BindArgs<'_>, now: Millis) -> Response {
        let old = self
            .by_client
            .get(args.client)
            .copied()
            .and_then(|a| self.remove_lease(a));
        let requested_hostname = args
            .hostname
            .map(str::to_string)
            .or_else(|| old.as_ref().and_then(|l| l.requested_hostname.clone()));
        let desired = self.desired_name(args.mac, requested_hostname.as_deref());
        let kept = old
            .as_ref()
            .filter(|l| l.state == LeaseState::Bound)
            .and_then(|l| l.granted_name.clone())
            .filter(|name| desired.as_deref().is_some_and(|d| is_variant_of(name, d)))
            // A name that became the zone's (a static record added since it
            // was granted) is not kept.
            .filter(|name| !self.is_zone_name(name));
        let granted_name = match kept {
            Some(name) => Some(name),
            None => self.grant_name(
                limits.policy,
                desired,
                (args.client, args.mac, args.address),
                now,
            ),
        };
        let secs = args
            .lease_time_secs
            .unwrap_or(limits.lease_time_secs)
            .max(1);
        // A shorter lease time (dhcp.lease_time changed) never ends a lease
        // the client already holds on this address earlier than it did.
        let held_until = old
            .as_ref()
            .filter(|l| l.state == LeaseState::Bound && l.address == args.address)
            .map_or(0, |l| l.expires_at);
        let lease = Lease {
            address: args.address,
            client_id: args.client.clone(),
            mac: args.mac,
            requested_hostname,
            granted_name,
            state: LeaseState::Bound,
            granted_at: now,
            expires_at: now.saturating_add(secs_to_ms(secs)).max(held_until),
            seen_by: args.seen_by.or(old.and_then(|l| l.seen_by)),
        };
        self.insert_lease(lease.clone());
        Response::Lease { lease }
    }

    pub(super) fn renew(
        &mut self,
        client: &ClientId,
        address: Ipv4Addr,
        now: Millis,
        lease_time_secs: Option<u64>,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let no_lease = Rejection::NoSuchLease { address };
        match self.by_client.get(client).copied() {
            Some(held) if held == address => {
                let Some(lease) = self.leases.get(&address) else {
                    return Err(no_lease);
                };
                let (mac, state, seen_by) = (lease.mac, lease.state, lease.seen_by);
                if !self.is_available_at(client, mac, address, now) {
                    // e.g. a reservation now points this MAC elsewhere: NAK so
                    // the client restarts and is given its reserved address.
                    return Err(Rejection::AddressUnavailable { address });
                }
                if state == LeaseState::Offered {
                    let args = BindArgs {
                        client,
                        mac,
                        hostname: None,
                        address,
                        lease_time_secs,
                        seen_by,
                    };
                    return Ok(self.bind_at(limits, args, now));
                }
                let mut lease = self.remove_lease(address).ok_or(no_lease)?;
                let secs = lease_time_secs.unwrap_or(limits.lease_time_secs).max(1);
                lease.granted_at = now;
                // Never earlier than it ended before (see `bind_at`).
                lease.expires_at = now.saturating_add(secs_to_ms(secs)).max(lease.expires_at);
                self.insert_lease(lease.clone());
                Ok(Response::Lease { lease })
            }
            Some(_) => Err(no_lease),
            None => {
                // The lease lapsed (e.g. during a failover): rebind it if the
                // address is still free for this client rather than NAK.
                let Some(memory) = self.previous.get(client).filter(|p| p.address == address)
                else {
                    return Err(no_lease);
                };
                let (mac, hostname) = (memory.mac, memory.requested_hostname.clone());
                if !self.is_available_at(client, mac, address, now) {
                    return Err(no_lease);
                }
                let args = BindArgs {
                    client,
                    mac,
                    hostname: hostname.as_deref(),
                    address,
                    lease_time_secs,
                    seen_by: None,
                };
                Ok(self.bind_at(limits, args, now))
            }
        }
    }

    /// Frees `address` if its lease belongs to the client named: both its
    /// identity and its MAC, when given, must match (a forged DHCPRELEASE from
    /// another MAC that copies option 61 frees nothing).
    pub(super) fn release(
        &mut self,
        client: Option<&ClientId>,
        mac: Option<MacAddr>,
        address: Ipv4Addr,
        now: Millis,
    ) -> Result<Response, Rejection> {
        self.advance(now);
        let held = self.leases.get(&address).is_some_and(|l| {
            client.is_none_or(|c| *c == l.client_id) && mac.is_none_or(|m| m == l.mac)
        });
        if !held {
            return Err(Rejection::NoSuchLease { address });
        }
        if let Some(lease) = self.remove_lease(address)
            && lease.state == LeaseState::Bound
        {
            self.remember(&lease);
        }
        Ok(Response::Done)
    }

    /// Quarantines `address` if its lease belongs to the client named: its
    /// identity and, when given, its MAC (as for [`Self::release`]).
    pub(super) fn decline(
        &mut self,
        client: &ClientId,
        mac: Option<MacAddr>,
        address: Ipv4Addr,
        now: Millis,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let held = self
            .leases
            .get(&address)
            .is_some_and(|l| l.client_id == *client && mac.is_none_or(|m| m == l.mac));
        if !held {
            return Err(Rejection::NoSuchLease { address });
        }
        self.remove_lease(address);
        // Nobody should be steered back to an address found in use.
        self.forget_address(address);
        let until = now.saturating_add(secs_to_ms(limits.quarantine_secs));
        if until > now {
            self.insert_quarantine(address, until);
        }
        Ok(Response::Done)
    }
}

/// What `bind_at` needs to know about the client and the lease.
struct BindArgs<'a> {
    client: &'a ClientId,
    mac: MacAddr,
    hostname: Option<&'a str>,
    address: Ipv4Addr,
    lease_time_secs: Option<u64>,
    seen_by: Option<NodeId>,
}
