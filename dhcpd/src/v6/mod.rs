//! DHCPv6 (RFC 8415) for `[ipv6] mode = "stateless"` and `"stateful"`: the
//! same shape as the v4 server, in its own modules. `parse` turns bytes into
//! a [`V6Request`] (dhcproto's v6 codec; anything it refuses is dropped and
//! counted), [`decide`] is pure (lease table + request + config + role +
//! time in, a reply or a command to commit out) and [`finish`] builds the
//! REPLY from the committed response, so no address is sent before Raft
//! holds it. The socket edge (UDP 547 on the bridge, ff02::1:2) is not here.

mod decide;
mod parse;
mod reply;

#[cfg(test)]
mod tests;

pub use decide::{
    V6Decision, V6IgnoreReason, V6Pending, V6PendingKind, V6Proposal, V6ReservedBy, V6ServerConfig,
    V6ServerReservation, decide, finish, ignore_unread,
};
pub use parse::{V6DropReason, V6Request, parse};
