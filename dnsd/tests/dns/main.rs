//! The DNS server on loopback: real sockets on port 0, raw hickory-proto
//! messages, tables built by applying commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authoritative;
mod forwarding;
mod fuzz;
mod networks;
mod protocol;
mod slaac;
mod stateful6;
mod support;
mod transfer;
mod tsig;
