//! Stateful DHCPv6 in the daemon (`[ipv6] mode = "stateful"`; the stateless
//! mode is `src/dhcp6.rs`, answered by every host): the socket edge around
//! `raftmasq_dhcpd::v6`. UDP [::]:547 bound to the bridge
//! and joined to All_DHCP_Relay_Agents_and_Servers (ff02::1:2); each
//! datagram is parsed, decided against the local replica's v6 table, and
//! either answered at once or committed through Raft first, the REPLY going
//! to the client's link-local address and port 546 it came from.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;

use anyhow::Context as _;
use dhcproto::Encodable;
use raftmasq_api::metrics as names;
use raftmasq_config::{Config, Ipv6Mode, V6ReservationKey};
use raftmasq_consensus::state::MacAddr;
use raftmasq_consensus::state::v6::{Duid, V6Range};
use raftmasq_consensus::{ClusterNode, MemberRole};
use raftmasq_dhcp6::{Outcome, StatelessService};
use raftmasq_dhcpd::Role;
use raftmasq_dhcpd::v6::{
    V6Decision, V6ReservedBy, V6ServerConfig, V6ServerReservation, decide, finish, ignore_unread,
    parse,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
const ALL_DHCP_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
const SERVER_PORT: u16 = 547;

/// Registers the stateful server's series at zero, so each is in
/// `/metrics` before the first packet of its kind (as every other server's).
/// The families are the stateless server's (`raftmasq_dhcp6_*`, one family
/// for both modes); `raftmasq_dhcp6::register_metrics` registers the rest.
pub fn register_metrics() {
    for reason in raftmasq_dhcpd::v6::V6DropReason::ALL {
        metrics::counter!(names::DHCP6_DROPPED, "reason" => reason.as_str()).increment(0);
    }
    for reason in raftmasq_dhcpd::v6::V6IgnoreReason::ALL {
        metrics::counter!(names::DHCP6_IGNORED, "reason" => reason.as_str()).increment(0);
    }
    metrics::counter!(names::DHCP6_COMMIT_FAILED).increment(0);
}

/// This node's v6 settings; `None` unless `[ipv6]` runs DHCPv6.
pub fn server_config(config: &Config, bridge_mac: MacAddr) -> Option<V6ServerConfig> {
    let ipv6 = config
        .ipv6
        .as_ref()
        .filter(|v6| v6.mode == Ipv6Mode::Stateful)?;
    // Config validation requires a range in stateful mode.
    let range = ipv6.range.map(|r| V6Range {
        start: r.start,
        end: r.end,
    })?;
    Some(V6ServerConfig {
        // DUID-LL of the bridge MAC: stable across restarts, one per node
        // (dhcpd/DESIGN.md, "DHCPv6 server identity").
        server_duid: Duid::link_layer(bridge_mac),
        peer_duids: Vec::new(),
        prefix: ipv6.prefix,
        range,
        lease_time_secs: u32::try_from(ipv6.lease_time.as_secs()).unwrap_or(u32::MAX),
        decline_quarantine_secs: config.dhcp.decline_quarantine.as_secs(),
        dns_servers: ipv6.advertised_dns_servers(),
        search_domains: vec![config.dns.domain.clone()],
        reservations: ipv6
            .reservations
            .iter()
            .map(|r| V6ServerReservation {
                by: match &r.key {
                    V6ReservationKey::Duid(bytes) => V6ReservedBy::Duid(Duid(bytes.clone())),
                    V6ReservationKey::Mac(mac) => V6ReservedBy::Mac(MacAddr(*mac)),
                },
                address: r.address,
                hostname: r.hostname.clone(),
            })
            .collect(),
        rapid_commit: config.dhcp.rapid_commit,
    })
}

fn interface_index(interface: &str) -> anyhow::Result<u32> {
    let path = format!("/sys/class/net/{interface}/ifindex");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("{path} holds no interface index"))
}

fn bind(interface: &str, index: u32) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    socket.bind_device(Some(interface.as_bytes()))?;
    let any = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, SERVER_PORT, 0, 0);
    socket.bind(&SocketAddr::V6(any).into())?;
    socket.join_multicast_v6(&ALL_DHCP_SERVERS, index)?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// Binds the DHCPv6 socket on `dhcp.interface` and serves until `shutdown`.
/// Nothing when `[ipv6]` does not run DHCPv6.
pub fn start(
    node: ClusterNode,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let interface = config.dhcp.interface.clone();
    // The same source as the stateless server's identifier and the RA's
    // link-layer option (sysfs).
    let mac = raftmasq_ra::interface_mac(&interface)
        .map(MacAddr)
        .with_context(|| format!("cannot read the MAC of dhcp.interface {interface:?} for the DHCPv6 server identifier"))?;
    let Some(v6) = server_config(config, mac) else {
        return Ok(());
    };
    let information = crate::dhcp6::information_service(config, mac.0)?
        .context("no Information-request encoder for stateful DHCPv6")?;
    let index = interface_index(&interface)?;
    let socket = bind(&interface, index).with_context(|| {
        format!("cannot serve DHCPv6 on dhcp.interface {interface:?} port {SERVER_PORT} (needs root or CAP_NET_BIND_SERVICE)")
    })?;
    tracing::info!(interface, duid = %v6.server_duid, "serving DHCPv6");
    let server = Server {
        config: v6,
        information,
    };
    tokio::spawn(serve(node, Arc::new(socket), Arc::new(server), shutdown));
    Ok(())
}

fn role(node: &ClusterNode) -> Role {
    let status = node.quorum_status();
    Role {
        is_leader: status.is_leader,
        has_quorum: status.has_quorum,
        is_voter: node.own_role() != Some(MemberRole::Learner),
    }
}

/// What the serving loop answers with: the decision's settings, and the
/// Information-request encoder shared with the stateless mode.
struct Server {
    config: V6ServerConfig,
    information: StatelessService,
}

async fn serve(
    node: ClusterNode,
    socket: Arc<UdpSocket>,
    server: Arc<Server>,
    shutdown: CancellationToken,
) {
    let mut buffer = vec![0u8; 1500];
    loop {
        let (len, from) = tokio::select! {
            () = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::warn!(%error, "dhcpv6 receive failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let bytes = buffer.get(..len).unwrap_or_default();
        raftmasq_dhcp6::count_received(bytes);
        // Before decoding: the followers hear every request the leader
        // answers and share its CPU on small hosts (and on the benchmark's).
        let role = role(&node);
        let initialized = node.replica().read().table.is_initialized();
        if let Some(reason) = ignore_unread(role, initialized) {
            metrics::counter!(names::DHCP6_IGNORED, "reason" => reason.as_str()).increment(1);
            continue;
        }
        let request = match parse(bytes) {
            Ok(request) => request,
            Err(reason) => {
                metrics::counter!(names::DHCP6_DROPPED, "reason" => reason.as_str()).increment(1);
                continue;
            }
        };
        let now = node.clock().now_millis();
        let decision = {
            let replica = node.replica().read();
            decide(
                &replica.v6,
                replica.table.is_initialized(),
                &request,
                &server.config,
                role,
                now,
            )
        };
        match decision {
            V6Decision::Ignore(reason) => {
                metrics::counter!(names::DHCP6_IGNORED, "reason" => reason.as_str()).increment(1);
            }
            V6Decision::Information => {
                let outcome = server.information.answer(bytes);
                if let Outcome::Answer(answer) = &outcome
                    && let Err(error) = socket.send_to(&answer.bytes, from).await
                {
                    tracing::warn!(%error, %from, "dhcpv6 reply not sent");
                } else {
                    raftmasq_dhcp6::count_outcome(&outcome);
                }
            }
            V6Decision::Reply(message) => send(&socket, &message, from).await,
            V6Decision::Propose(proposal) => {
                let (node, socket, server) = (node.clone(), socket.clone(), server.clone());
                tokio::spawn(async move {
                    // The lease is in Raft before its REPLY leaves.
                    match node.write(proposal.command).await {
                        Ok(response) => {
                            let reply = finish(&proposal.pending, &response, &server.config, now);
                            send(&socket, &reply, from).await;
                        }
                        Err(error) => {
                            metrics::counter!(names::DHCP6_COMMIT_FAILED).increment(1);
                            tracing::warn!(%error, "dhcpv6 lease not committed; the client retries");
                        }
                    }
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, message: &dhcproto::v6::Message, to: SocketAddr) {
    match message.to_vec() {
        Ok(bytes) => match socket.send_to(&bytes, to).await {
            Ok(_) => {
                let kind = match message.msg_type() {
                    dhcproto::v6::MessageType::Advertise => "advertise",
                    _ => "reply",
                };
                metrics::counter!(names::DHCP6_SENT, "type" => kind).increment(1);
            }
            Err(error) => tracing::warn!(%error, %to, "dhcpv6 reply not sent"),
        },
        Err(error) => tracing::warn!(%error, "dhcpv6 reply not encoded"),
    }
}
