//! The socket edge. Pure parts (frames, plans, arrival) run anywhere; the
//! socket tests build two namespaces joined by veth pairs and need root.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use raftmasq_config::UnicastReplies;
use raftmasq_state::MacAddr;
use raftmasq_tests::netns::{self, Netns, test_prefix};
use socket2::{Domain, Protocol, Socket, Type};

use super::*;
use crate::reply::ReplyKind;

const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x5e, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xc1, 0x01];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 2);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 2, 1);
const OTHER_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 2, 2);
/// Offered to a client that has no address: not configured anywhere.
const YIADDR: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 50);

// ---------------------------------------------------------------- pure parts

/// RFC 1071 one's-complement sum, written independently of pnet: a header
/// whose checksum is right sums to 0xffff.
fn ones_complement_sum(chunks: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = chunks.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Checks a captured frame's Ethernet header, from `source_mac` to
/// `destination_mac`, and returns its IPv4 packet.
fn check_ethernet(frame: &[u8], source_mac: [u8; 6], destination_mac: [u8; 6]) -> &[u8] {
    assert!(frame.len() >= 14 + 28, "frame too short: {}", frame.len());
    assert_eq!(frame[0..6], destination_mac, "destination MAC");
    assert_eq!(frame[6..12], source_mac, "source MAC");
    assert_eq!(frame[12..14], [0x08, 0x00], "ethertype IPv4");
    &frame[14..]
}

/// Checks an IPv4/UDP packet from `source` to `destination` and returns its
/// UDP payload.
fn check_packet(packet: &[u8], endpoints: &Endpoints) -> Vec<u8> {
    assert!(packet.len() >= 28, "packet too short: {}", packet.len());
    let ip = &packet[..20];
    assert_eq!(ip[0], 0x45, "IPv4, 20-byte header");
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(total, packet.len(), "IPv4 total length");
    assert!(ip[8] > 0, "TTL");
    assert_eq!(ip[9], 17, "protocol UDP");
    assert_eq!(ip[12..16], endpoints.source.ip().octets(), "source address");
    assert_eq!(
        ip[16..20],
        endpoints.destination.ip().octets(),
        "destination address"
    );
    assert_eq!(ones_complement_sum(&[ip]), 0xffff, "IPv4 header checksum");
    let udp = &packet[20..total];
    assert_eq!(
        u16::from_be_bytes([udp[0], udp[1]]),
        endpoints.source.port()
    );
    assert_eq!(
        u16::from_be_bytes([udp[2], udp[3]]),
        endpoints.destination.port()
    );
    assert_eq!(
        usize::from(u16::from_be_bytes([udp[4], udp[5]])),
        udp.len(),
        "UDP length"
    );
    assert_ne!(udp[6..8], [0, 0], "UDP checksum present");
    let length = (udp.len() as u16).to_be_bytes();
    let pseudo = [&ip[12..20], &[0, 17], &length[..]].concat();
    assert_eq!(ones_complement_sum(&[&pseudo, udp]), 0xffff, "UDP checksum");
    udp[8..].to_vec()
}

fn endpoints() -> Endpoints {
    Endpoints {
        source: SocketAddrV4::new(SERVER, 67),
        destination: SocketAddrV4::new(YIADDR, 68),
    }
}

fn payload(length: usize) -> Vec<u8> {
    (0..length).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn packets_carry_the_payload_with_valid_headers_and_checksums() {
    // Odd and even lengths: the checksum pads an odd byte.
    for length in [300, 301, 548, 1] {
        let data = payload(length);
        let packet = build_packet(&endpoints(), &data).unwrap();
        assert_eq!(packet.len(), 28 + length);
        assert_eq!(check_packet(&packet, &endpoints()), data);
    }
}

#[test]
fn a_payload_beyond_one_ipv4_packet_is_refused() {
    let error = build_packet(&endpoints(), &payload(65_535 - 28 + 1)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(build_packet(&endpoints(), &payload(65_535 - 28)).is_ok());
}

#[test]
fn plan_follows_the_destination_and_the_mode() {
    let relay = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 67);
    let client = SocketAddrV4::new(CLIENT, 68);
    let broadcast = Plan::Udp(
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
        SentVia::Broadcast,
    );
    let hardware = Destination::Hardware {
        mac: MacAddr(CLIENT_MAC),
        address: YIADDR,
    };
    for mode in [UnicastReplies::Raw, UnicastReplies::Broadcast] {
        for raw in [true, false] {
            assert_eq!(
                plan(Destination::Relay(relay), 67, mode, raw),
                Plan::Udp(relay, SentVia::Relay)
            );
            assert_eq!(
                plan(Destination::Unicast(client), 67, mode, raw),
                Plan::Udp(client, SentVia::Unicast)
            );
            assert_eq!(plan(Destination::Broadcast, 67, mode, raw), broadcast);
        }
    }
    assert_eq!(
        plan(hardware, 67, UnicastReplies::Raw, true),
        Plan::Raw {
            mac: CLIENT_MAC,
            address: YIADDR
        }
    );
    // No raw socket (no CAP_NET_RAW): RFC 2131 §4.1's broadcast fallback.
    assert_eq!(plan(hardware, 67, UnicastReplies::Raw, false), broadcast);
    // Configured broadcast wins even with a raw socket.
    assert_eq!(
        plan(hardware, 67, UnicastReplies::Broadcast, true),
        broadcast
    );
    // A server on another port sends to its relays on that port.
    assert_eq!(
        plan(Destination::Relay(relay), 1067, UnicastReplies::Raw, true),
        Plan::Udp(SocketAddrV4::new(*relay.ip(), 1067), SentVia::Relay)
    );
}

#[test]
fn arrival_tells_broadcasts_from_unicasts() {
    let mask = Ipv4Addr::new(255, 255, 0, 0);
    let addresses = [(Ipv4Addr::new(172, 16, 0, 1), mask)];
    let cases = [
        (Some(Ipv4Addr::BROADCAST), Arrival::Broadcast),
        (Some(Ipv4Addr::new(172, 16, 255, 255)), Arrival::Broadcast),
        (Some(Ipv4Addr::new(224, 0, 0, 1)), Arrival::Broadcast),
        (Some(Ipv4Addr::new(172, 16, 0, 1)), Arrival::Unicast),
        (Some(Ipv4Addr::new(172, 16, 0, 255)), Arrival::Unicast),
        (None, Arrival::Broadcast),
    ];
    for (destination, expected) in cases {
        assert_eq!(
            udp::arrival(destination, &addresses),
            expected,
            "{destination:?}"
        );
    }
    // A /32 has no directed broadcast.
    let host = [(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::BROADCAST)];
    assert_eq!(
        udp::arrival(Some(Ipv4Addr::new(10, 0, 0, 1)), &host),
        Arrival::Unicast
    );
}

// ------------------------------------------------------------ in namespaces

/// A server namespace and a client namespace joined by two veth pairs:
/// `srv0` (10.66.1.1) ↔ `cli0` (10.66.1.2, CLIENT_MAC) and
/// `other0` (10.66.2.1) ↔ `cli1` (10.66.2.2).
struct Pair {
    server: Netns,
    client: Netns,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        netns::require(&format!("dhcpd io {tag}"), &["ip"]);
        let prefix = test_prefix(tag);
        let server = Netns::create(&format!("{prefix}s")).unwrap();
        let client = Netns::create(&format!("{prefix}c")).unwrap();
        let mac = |mac: [u8; 6]| {
            mac.iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        for (here, there, here_mac, here_ip, there_ip) in [
            ("srv0", "cli0", Some(SERVER_MAC), SERVER, CLIENT),
            ("other0", "cli1", None, OTHER_SERVER, OTHER_CLIENT),
        ] {
            server
                .ip([
                    "link",
                    "add",
                    here,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    there,
                    "netns",
                    client.name(),
                ])
                .unwrap();
            if let Some(here_mac) = here_mac {
                server
                    .ip(["link", "set", here, "address", &mac(here_mac)])
                    .unwrap();
                client
                    .ip(["link", "set", there, "address", &mac(CLIENT_MAC)])
                    .unwrap();
            }
            server
                .ip(["addr", "add", &format!("{here_ip}/24"), "dev", here])
                .unwrap();
            client
                .ip(["addr", "add", &format!("{there_ip}/24"), "dev", there])
                .unwrap();
            server.ip(["link", "set", here, "up"]).unwrap();
            client.ip(["link", "set", there, "up"]).unwrap();
        }
        Pair { server, client }
    }
}

/// Runs `f` on a thread inside `netns` (sockets keep the namespace they were
/// created in), with the test's tokio runtime entered.
fn in_netns<T: Send + 'static>(netns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = netns.path();
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        let _entered = runtime.enter();
        f()
    })
    .join()
    .unwrap()
}

fn server_socket(pair: &Pair, mode: UnicastReplies) -> DhcpSocket {
    in_netns(&pair.server, move || {
        DhcpSocket::bind_with("srv0", 67, mode).unwrap()
    })
}

/// A client-side UDP socket on `device`, port `port`, with a read timeout.
fn client_socket(pair: &Pair, device: &'static str, port: u16) -> StdUdpSocket {
    in_netns(&pair.client, move || {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_broadcast(true).unwrap();
        socket.bind_device(Some(device.as_bytes())).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
            .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket.into()
    })
}

fn reply(destination: Destination, packet: Vec<u8>) -> Reply {
    Reply {
        kind: ReplyKind::Offer,
        nak_reason: None,
        destination,
        xid: 0x1234_5678,
        mac: MacAddr(CLIENT_MAC),
        yiaddr: YIADDR,
        packet,
        omitted_options: Vec::new(),
    }
}

async fn recv_within(
    socket: &DhcpSocket,
    timeout: Duration,
) -> Option<(Vec<u8>, SocketAddrV4, Arrival)> {
    tokio::time::timeout(timeout, socket.recv())
        .await
        .ok()
        .map(|result| result.unwrap())
}

#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn reports_broadcast_and_unicast_arrival() {
    let pair = Pair::new("ar");
    let server = server_socket(&pair, UnicastReplies::Raw);
    assert_eq!(
        server.interface().addresses,
        vec![(SERVER, Ipv4Addr::new(255, 255, 255, 0))]
    );
    let client = client_socket(&pair, "cli0", 68);

    client
        .send_to(b"to everyone", (Ipv4Addr::BROADCAST, 67))
        .unwrap();
    let (bytes, source, arrival) = recv_within(&server, Duration::from_secs(2))
        .await
        .expect("broadcast");
    assert_eq!(
        (bytes.as_slice(), source, arrival),
        (
            &b"to everyone"[..],
            SocketAddrV4::new(CLIENT, 68),
            Arrival::Broadcast
        )
    );

    client.send_to(b"to you", (SERVER, 67)).unwrap();
    let (bytes, source, arrival) = recv_within(&server, Duration::from_secs(2))
        .await
        .expect("unicast");
    assert_eq!(
        (bytes.as_slice(), source, arrival),
        (
            &b"to you"[..],
            SocketAddrV4::new(CLIENT, 68),
            Arrival::Unicast
        )
    );

    // The subnet's directed broadcast is a broadcast too.
    client
        .send_to(b"to the subnet", (Ipv4Addr::new(10, 66, 1, 255), 67))
        .unwrap();
    let (_, _, arrival) = recv_within(&server, Duration::from_secs(2))
        .await
        .expect("directed");
    assert_eq!(arrival, Arrival::Broadcast);
}

#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn udp_replies_go_to_the_relay_the_client_or_everyone() {
    let pair = Pair::new("up");
    let server = server_socket(&pair, UnicastReplies::Raw);
    let client = client_socket(&pair, "cli0", 68);
    let relay = client_socket(&pair, "cli0", 67);
    let mut buffer = [0u8; 2048];

    let via = server
        .send(&reply(Destination::Broadcast, b"broadcast".to_vec()))
        .await
        .unwrap();
    assert_eq!(via, SentVia::Broadcast);
    let (n, from) = client.recv_from(&mut buffer).unwrap();
    assert_eq!(
        (&buffer[..n], from),
        (&b"broadcast"[..], SocketAddr::from((SERVER, 67)))
    );

    let via = server
        .send(&reply(
            Destination::Unicast(SocketAddrV4::new(CLIENT, 68)),
            b"unicast".to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(via, SentVia::Unicast);
    let (n, _) = client.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..n], b"unicast");

    let via = server
        .send(&reply(
            Destination::Relay(SocketAddrV4::new(CLIENT, 67)),
            b"relay".to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(via, SentVia::Relay);
    let (n, from) = relay.recv_from(&mut buffer).unwrap();
    assert_eq!(
        (&buffer[..n], from),
        (&b"relay"[..], SocketAddr::from((SERVER, 67)))
    );
}

/// An AF_PACKET socket seeing every frame in the client namespace.
fn capture(pair: &Pair) -> OwnedFd {
    in_netns(&pair.client, || {
        nix::sys::socket::socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .unwrap()
    })
}

/// The first captured frame that is IPv4/UDP to port 68 at `address`.
fn captured_to(fd: &OwnedFd, address: Ipv4Addr, timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buffer = [0u8; 2048];
    while Instant::now() < deadline {
        match nix::sys::socket::recv(fd.as_raw_fd(), &mut buffer, MsgFlags::MSG_DONTWAIT) {
            Ok(n) => {
                let frame = &buffer[..n];
                if n >= 42
                    && frame[12..14] == [0x08, 0x00]
                    && frame[23] == 17
                    && frame[30..34] == address.octets()
                    && frame[36..38] == 68u16.to_be_bytes()
                {
                    return Some(frame.to_vec());
                }
            }
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("capture: {error}"),
        }
    }
    None
}

/// Sends `data` as a reply to the client without an address (yiaddr at chaddr).
async fn send_to_client_without_address(server: &DhcpSocket, data: &[u8]) -> SentVia {
    let destination = Destination::Hardware {
        mac: MacAddr(CLIENT_MAC),
        address: YIADDR,
    };
    server
        .send(&reply(destination, data.to_vec()))
        .await
        .unwrap()
}

/// The payload of the raw frame to yiaddr captured in the client namespace,
/// after checking it came from `server_mac` to the client's MAC.
fn captured_raw_payload(capture: &OwnedFd, server_mac: [u8; 6]) -> Vec<u8> {
    let frame = captured_to(capture, YIADDR, Duration::from_secs(2)).expect("the frame arrived");
    let packet = check_ethernet(&frame, server_mac, CLIENT_MAC);
    check_packet(packet, &endpoints())
}

#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn raw_replies_reach_the_client_mac_with_valid_checksums() {
    let pair = Pair::new("rw");
    let server = server_socket(&pair, UnicastReplies::Raw);
    assert!(server.raw_unicast(), "root can open the raw socket");
    let capture = capture(&pair);
    let data = payload(300);
    let via = send_to_client_without_address(&server, &data).await;
    assert_eq!(via, SentVia::Raw);
    assert_eq!(captured_raw_payload(&capture, SERVER_MAC), data);
}

/// A bridge without a fixed MAC takes its lowest port's, so its MAC can
/// change under a running server: frames must carry the MAC of the moment.
#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn raw_replies_carry_the_interface_mac_of_the_moment() {
    let pair = Pair::new("rm");
    let server = server_socket(&pair, UnicastReplies::Raw);
    let new_mac = [0x02, 0, 0, 0, 0x5e, 0x02];
    pair.server
        .ip(["link", "set", "srv0", "address", "02:00:00:00:5e:02"])
        .unwrap();
    let capture = capture(&pair);
    let data = payload(300);
    send_to_client_without_address(&server, &data).await;
    assert_eq!(captured_raw_payload(&capture, new_mac), data);
}

#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn broadcast_mode_broadcasts_replies_to_clients_without_an_address() {
    let pair = Pair::new("bm");
    let server = server_socket(&pair, UnicastReplies::Broadcast);
    assert!(!server.raw_unicast());
    let client = client_socket(&pair, "cli0", 68);
    let capture = capture(&pair);
    let via = send_to_client_without_address(&server, b"offer").await;
    assert_eq!(via, SentVia::Broadcast);
    let mut buffer = [0u8; 64];
    let (n, _) = client.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..n], b"offer");
    let frame = captured_to(&capture, Ipv4Addr::BROADCAST, Duration::from_secs(2))
        .expect("broadcast frame");
    assert_eq!(frame[0..6], [0xff; 6], "link-layer broadcast");
}

#[tokio::test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn a_socket_bound_to_its_interface_ignores_the_others() {
    let pair = Pair::new("bd");
    let server = server_socket(&pair, UnicastReplies::Raw);
    let elsewhere = client_socket(&pair, "cli1", 68);
    pair.client
        .ip(["route", "add", &format!("{SERVER}/32"), "dev", "cli1"])
        .unwrap();
    // Unicast to the server's address on the other interface, and a
    // broadcast on the other segment: neither reaches the srv0 socket.
    elsewhere
        .send_to(b"wrong door", (OTHER_SERVER, 67))
        .unwrap();
    elsewhere
        .send_to(b"wrong segment", (Ipv4Addr::BROADCAST, 67))
        .unwrap();
    // The kernel would route this one via srv0's subnet if the socket were
    // not bound: it is addressed to srv0's address but enters on other0.
    elsewhere.send_to(b"wrong way in", (SERVER, 67)).unwrap();
    assert_eq!(recv_within(&server, Duration::from_millis(700)).await, None);

    // The same socket does receive what arrives on srv0.
    let client = client_socket(&pair, "cli0", 68);
    client.send_to(b"right door", (SERVER, 67)).unwrap();
    let (bytes, _, _) = recv_within(&server, Duration::from_secs(2))
        .await
        .expect("received on srv0");
    assert_eq!(bytes, b"right door");
}
