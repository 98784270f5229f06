//! The relay listener: DHCP requests that reach this host as unicast UDP to
//! port 67 on one of its own addresses (the underlay), from a relay agent on
//! a host that does not share our L2 segment, or from such a relay's client
//! renewing straight to its server identifier.
//!
//! The bridge sockets are bound to their devices (SO_BINDTODEVICE), so a
//! datagram arriving on the underlay never reaches them. This listener binds
//! each relay-only network's `address` (port `dhcp.port`) without a device;
//! the kernel gives a datagram to the most specific socket, so broadcasts on
//! a bridge still go to that bridge's socket and unicast to the underlay
//! address comes here. Every socket sets SO_REUSEADDR, the bridge sockets
//! too, so the binds do not conflict.
//!
//! Each datagram is decoded once to choose its network
//! (`raftmasq_dhcpd::relay::select_network`: link selection, subnet
//! selection, giaddr, else ciaddr), then handed to that network's
//! `DhcpServer` over a channel; what no network serves is counted in
//! `raftmasq_dhcp_relay_unserved_total{reason}` and dropped. Only the leader
//! answers relayed requests (`decide` treats them as broadcasts), so the
//! relays may send to every host. Replies leave from the address the relay
//! sent to.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use anyhow::Context as _;
use ipnet::Ipv4Net;
use raftmasq_api::metrics::DHCP_RELAY_UNSERVED;
use raftmasq_config::Config;
use raftmasq_consensus::ClusterNode;
use raftmasq_dhcpd::relay::{Unserved, select_network};
use raftmasq_dhcpd::{Arrival, DhcpServer, Received, Reply, Transport};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};

use crate::dhcp::{NodeCluster, ServedNetwork};

/// Datagrams waiting for one network's server; more are dropped and counted
/// (a relay retransmits).
const QUEUE: usize = 256;

/// The largest DHCP datagram we read (`raftmasq_dhcpd::decode::MAX_REQUEST_LEN`
/// is what decode accepts; anything longer is dropped by it).
const DATAGRAM: usize = 2048;

/// Why a datagram on the relay listener went to no network: the pure reasons
/// of `select_network`, and the listener's own.
#[derive(Debug, Clone, Copy)]
enum Drop {
    Unserved(Unserved),
    Undecodable,
    QueueFull,
}

impl Drop {
    const ALL: [Drop; 4] = [
        Drop::Unserved(Unserved::NotRelayed),
        Drop::Unserved(Unserved::NoNetwork),
        Drop::Undecodable,
        Drop::QueueFull,
    ];

    fn label(&self) -> &'static str {
        match self {
            Drop::Unserved(reason) => reason.label(),
            Drop::Undecodable => "undecodable",
            Drop::QueueFull => "queue_full",
        }
    }

    fn count(&self) {
        metrics::counter!(DHCP_RELAY_UNSERVED, "reason" => self.label()).increment(1);
    }
}

/// Registers the drop counter at zero, so that a scrape shows the family
/// whether or not this node has relay-only networks.
pub fn register_metrics() {
    for reason in Drop::ALL {
        metrics::counter!(DHCP_RELAY_UNSERVED, "reason" => reason.label()).increment(0);
    }
}

/// One network's server as the relay listener feeds it: datagrams from the
/// listener's channel in, replies out of the socket they came in on.
struct RelayTransport {
    socket: Arc<UdpSocket>,
    queue: Mutex<mpsc::Receiver<Received>>,
}

impl Transport for RelayTransport {
    async fn recv(&self) -> io::Result<Received> {
        self.queue
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "relay listener stopped"))
    }

    async fn send(&self, reply: &Reply) -> io::Result<()> {
        use raftmasq_dhcpd::Destination;
        let to = match reply.destination {
            // RFC 2131 §4.1: to the relay's server port.
            Destination::Relay(relay) => relay,
            // A client renewing straight to us (ciaddr): routed back to it.
            Destination::Unicast(client) => client,
            // No broadcast or link-layer frame can reach a routed client;
            // only a non-relayed NAK or an INFORM without ciaddr ends here.
            Destination::Broadcast | Destination::Hardware { .. } => {
                tracing::debug!(client_mac = %reply.mac, "dhcp relay listener: reply needs the client's link; not sent");
                return Ok(());
            }
        };
        self.socket.send_to(&reply.packet, to).await.map(drop)
    }
}

/// The networks a relay listener serves: every served network with a known
/// subnet, in the order `select_network` sees them.
struct Route {
    subnets: Vec<Ipv4Net>,
    queues: Vec<mpsc::Sender<Received>>,
}

/// Binds one relay listener per distinct relay-only network address and
/// starts a server per served network behind each. Nothing when no network
/// is relay-only.
pub fn start(node: ClusterNode, config: &Config, served: &[ServedNetwork]) -> anyhow::Result<()> {
    let mut by_address: BTreeMap<Ipv4Addr, ()> = BTreeMap::new();
    for network in served.iter().filter(|n| n.interface.is_none()) {
        by_address.insert(network.address, ());
    }
    let subnets = network_subnets(config);
    for address in by_address.into_keys() {
        let local = SocketAddrV4::new(address, config.dhcp.port);
        let socket = Arc::new(bind(local).with_context(|| {
            format!(
                "cannot listen for relayed DHCP on {local} (dhcp.networks[].address of a relay-only network: it must be an address of this host; port 67 needs root or CAP_NET_BIND_SERVICE)"
            )
        })?);
        let mut route = Route {
            subnets: Vec::new(),
            queues: Vec::new(),
        };
        for network in served {
            let Some(subnet) = subnets.get(&network.name) else {
                continue;
            };
            // A relayed request for a relay-only network gets this listener's
            // address as server identifier; one for a bridge network its
            // bridge address, as on the bridge.
            let (sender, receiver) = mpsc::channel(QUEUE);
            let transport = Arc::new(RelayTransport {
                socket: socket.clone(),
                queue: Mutex::new(receiver),
            });
            let cluster = Arc::new(NodeCluster::for_network(node.clone(), config, network));
            let server = DhcpServer::new(cluster, transport);
            let name = network.name.clone();
            tokio::spawn(async move {
                if let Err(error) = server.run().await {
                    tracing::error!(%error, network = name, "dhcp relay server stopped");
                }
            });
            route.subnets.push(*subnet);
            route.queues.push(sender);
        }
        tracing::info!(listen = %local, networks = ?route.subnets, "dhcp relay listener");
        tokio::spawn(listen(socket, route));
    }
    Ok(())
}

/// Every network's subnet by name, `default` included.
fn network_subnets(config: &Config) -> BTreeMap<String, Ipv4Net> {
    config
        .network_settings()
        .into_iter()
        .map(|(name, settings)| (name, settings.subnet))
        .collect()
}

/// Reads datagrams until the socket fails for good; each goes to its
/// network's server or is counted as unserved.
async fn listen(socket: Arc<UdpSocket>, route: Route) {
    let mut buffer = vec![0u8; DATAGRAM];
    loop {
        let (len, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) if is_transient(&error) => continue,
            Err(error) => {
                tracing::error!(%error, "dhcp relay listener stopped");
                return;
            }
        };
        let SocketAddr::V4(source) = from else {
            continue;
        };
        let bytes = buffer[..len].to_vec();
        let Ok(request) = raftmasq_dhcpd::decode(&bytes) else {
            // The network's server would count why; with no network there
            // is no server to ask.
            Drop::Undecodable.count();
            continue;
        };
        let index = match select_network(&request, &route.subnets) {
            Ok(index) => index,
            Err(reason) => {
                Drop::Unserved(reason).count();
                tracing::debug!(%source, giaddr = %request.giaddr, reason = reason.label(), "dhcp relay listener: no network serves this request");
                continue;
            }
        };
        let received = Received {
            bytes,
            source,
            // Addressed to this host alone; a relayed request is still
            // answered by the leader only (decide: giaddr makes it one every
            // server heard).
            arrival: Arrival::Unicast,
        };
        if route.queues[index].try_send(received).is_err() {
            Drop::QueueFull.count();
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
    )
}

/// A UDP socket on `local`, not bound to a device, SO_REUSEADDR as the bridge
/// sockets (both must set it to share port 67).
fn bind(local: SocketAddrV4) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::V4(local).into())?;
    UdpSocket::from_std(socket.into())
}

/// The server identifiers a relay-only network's clients may name, which are
/// also their DNS servers: `own` (this host's relay-facing address) first,
/// then every voter's cluster address (the address relays reach each host
/// at, as for `own`), in member order.
pub fn member_addresses(node: &ClusterNode, own: Ipv4Addr) -> Vec<Ipv4Addr> {
    let metrics = node.raft().metrics();
    let metrics = metrics.borrow();
    let membership = metrics.membership_config.membership();
    let mut addresses = vec![own];
    for id in membership.voter_ids() {
        let Some(member) = membership.get_node(&id) else {
            continue;
        };
        let ip = member
            .cluster_addr
            .parse::<SocketAddr>()
            .ok()
            .and_then(|addr| match addr.ip() {
                std::net::IpAddr::V4(ip) => Some(ip),
                std::net::IpAddr::V6(_) => None,
            });
        if let Some(ip) = ip
            && !addresses.contains(&ip)
        {
            addresses.push(ip);
        }
    }
    addresses
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
    use dhcproto::{Encodable, Encoder};

    use super::*;

    fn packet(giaddr: Ipv4Addr, ciaddr: Ipv4Addr, kind: MessageType, xid: u32) -> Vec<u8> {
        let mut message = Message::default();
        message
            .set_opcode(Opcode::BootRequest)
            .set_xid(xid)
            .set_giaddr(giaddr)
            .set_ciaddr(ciaddr)
            .set_chaddr(&[2, 0x42, 0, 0, 0, 1]);
        message.opts_mut().insert(DhcpOption::MessageType(kind));
        let mut bytes = Vec::new();
        message
            .encode(&mut Encoder::new(&mut bytes))
            .expect("encode");
        bytes
    }

    /// A network without `interface` is served by no bridge listener, and its
    /// DNS servers are left to the members' cluster addresses.
    #[test]
    fn a_relay_only_network_has_no_bridge_and_no_fixed_dns_servers() {
        let text = format!(
            "{}\n[[dhcp.networks]]\nname = \"rack4\"\naddress = \"10.99.0.1\"\nsubnet = \"172.31.0.0/24\"\nrange = \"172.31.0.10-172.31.0.200\"\nrouters = [\"172.31.0.1\"]\n",
            include_str!("../examples/lxd1.toml")
        );
        let config = Config::from_toml(&text, "lxd1.toml").expect("config");
        let served = ServedNetwork::all(&config);
        let rack = served.iter().find(|n| n.name == "rack4").expect("served");
        assert_eq!(rack.interface, None);
        assert_eq!(rack.address, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(rack.dns_servers, None);
        assert_eq!(rack.routers, [Ipv4Addr::new(172, 31, 0, 1)]);
        assert!(network_subnets(&config).contains_key("rack4"));
    }

    async fn next(queue: &mut mpsc::Receiver<Received>) -> Received {
        tokio::time::timeout(Duration::from_secs(5), queue.recv())
            .await
            .expect("a datagram within 5 s")
            .expect("queue open")
    }

    /// Each datagram reaches the server of the network that holds its link
    /// (giaddr) or, unrelayed, its ciaddr; one with neither reaches none.
    #[tokio::test]
    async fn datagrams_go_to_the_network_of_their_link_and_no_further() {
        let socket = Arc::new(bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind"));
        let listener = socket.local_addr().expect("address");
        let (to_default, mut default) = mpsc::channel(8);
        let (to_rack, mut rack) = mpsc::channel(8);
        let route = Route {
            subnets: vec![
                "172.16.0.0/16".parse().expect("subnet"),
                "172.31.0.0/24".parse().expect("subnet"),
            ],
            queues: vec![to_default, to_rack],
        };
        let task = tokio::spawn(listen(socket, route));
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("client");
        let zero = Ipv4Addr::UNSPECIFIED;
        let relay = Ipv4Addr::new(172, 31, 0, 1);
        // Unserved first: an unrelayed DISCOVER, and a relay of another subnet.
        for bytes in [
            packet(zero, zero, MessageType::Discover, 1),
            packet(
                Ipv4Addr::new(192, 168, 0, 1),
                zero,
                MessageType::Discover,
                2,
            ),
            b"not dhcp".to_vec(),
        ] {
            client.send_to(&bytes, listener).await.expect("send");
        }
        let relayed = packet(relay, zero, MessageType::Discover, 3);
        client.send_to(&relayed, listener).await.expect("send");
        let renewal = packet(zero, Ipv4Addr::new(172, 16, 0, 50), MessageType::Request, 4);
        client.send_to(&renewal, listener).await.expect("send");

        let got = next(&mut rack).await;
        assert_eq!(got.bytes, relayed);
        assert_eq!(got.arrival, Arrival::Unicast);
        let got = next(&mut default).await;
        assert_eq!(got.bytes, renewal, "the unserved ones went nowhere");
        assert!(rack.try_recv().is_err() && default.try_recv().is_err());
        task.abort();
    }

    /// Replies leave from the listener's socket: to the relay's server port,
    /// or to a renewing client; nothing for a reply that needs the link.
    #[tokio::test]
    async fn replies_go_to_the_relay_or_the_client_from_the_listener() {
        use raftmasq_dhcpd::{Destination, ReplyKind};
        let socket = Arc::new(bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind"));
        let from = socket.local_addr().expect("address");
        let (_sender, receiver) = mpsc::channel(1);
        let transport = RelayTransport {
            socket,
            queue: Mutex::new(receiver),
        };
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer");
        let SocketAddr::V4(peer_address) = peer.local_addr().expect("address") else {
            panic!("IPv4");
        };
        let reply = |destination| Reply {
            kind: ReplyKind::Offer,
            nak_reason: None,
            destination,
            xid: 7,
            mac: raftmasq_consensus::state::MacAddr([2, 0x42, 0, 0, 0, 1]),
            yiaddr: Ipv4Addr::new(172, 31, 0, 10),
            packet: vec![2, 1, 6, 0],
            omitted_options: Vec::new(),
        };
        let mut buffer = [0u8; 16];
        for destination in [
            Destination::Relay(peer_address),
            Destination::Unicast(peer_address),
        ] {
            transport.send(&reply(destination)).await.expect("sent");
            let (len, source) =
                tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buffer))
                    .await
                    .expect("a reply within 5 s")
                    .expect("recv");
            assert_eq!(&buffer[..len], &[2, 1, 6, 0]);
            assert_eq!(source, from);
        }
        transport
            .send(&reply(Destination::Broadcast))
            .await
            .expect("not sent, not an error");
        let nothing =
            tokio::time::timeout(Duration::from_millis(200), peer.recv_from(&mut buffer)).await;
        assert!(nothing.is_err(), "a broadcast cannot be routed");
    }
}
