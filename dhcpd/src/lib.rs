//! raftmasq's DHCPv4 server core: decode a client message, decide what to do
//! with it against the replicated lease table, and encode the reply. Pure and
//! synchronous: no sockets, no clock, no Raft. The I/O layer runs
//! receive → [`decode()`] → [`decide()`] → commit the proposed command → [`finish`] → send.
//!
//! See `DESIGN.md` for the state detection table, who answers what, and the
//! degraded mode without quorum.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod boot;
pub mod context;
pub mod decide;
pub mod decode;
pub mod destination;
mod encode;
pub mod io;
pub mod offers;
pub mod options;
pub mod relay;
pub mod reply;
pub mod server;
pub mod unknown_renewals;
pub mod v6;
pub mod wire;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use context::{
    Arrival, BootFields, Context, DEFAULT_OFFER_HOLD_MS, DEFAULT_RAPID_COMMIT, ReplyOptions, Role,
    ServerConfig,
};
pub use decide::{
    Decision, DhcpProposal, IgnoreReason, PendingReply, RequestState, decide, finish, request_state,
};
pub use decode::{ClientFqdn, ClientRequest, DropReason, MessageKind, decode};
pub use destination::{Destination, Route, route};
pub use offers::OfferBook;
pub use reply::{NakReason, Reply, ReplyKind};
pub use server::{Cluster, DhcpServer, Event, Received, ServerStats, Transport};

#[cfg(test)]
mod robustness_tests;
