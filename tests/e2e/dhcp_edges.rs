//! Issue 20's DHCPv4 edges with real clients on the three-host testbed,
//! checked on the wire with tcpdump in the client's own namespace:
//! - rapid commit (RFC 4039): dhcpcd with `option rapid_commit` is bound in
//!   two messages (DISCOVER with option 80, ACK with option 80); dhcpcd
//!   without it still takes four; the lease is in every replica (and every
//!   follower's DNS) when the client reports it; with `dhcp.rapid_commit =
//!   false` the rapid client takes four messages and sees no option 80;
//! - boot fields: a DISCOVER listing options 66/67 (udhcpc `-O tftp -O
//!   bootfile`) is offered `siaddr`/`sname`/`file` and options 66/67; a PXE
//!   client (option 60 `PXEClient…`) gets 66/67 without listing them; a
//!   client that does neither gets the header fields only;
//! - what real clients do not send, from a hand-made client: an INFORM
//!   without `ciaddr` is dropped and counted, a SELECTING REQUEST without
//!   option 50 is bound to the client's pending offer (and logged as lenient),
//!   or ignored when there is none;
//! - a network without a dynamic range (`ranges = []`): reservations and
//!   INFORM only.

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};

use raftmasq_tests::capture::{Capture, DhcpMessage, type_name};
use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient, Lease};
use raftmasq_tests::dig::dig;
use raftmasq_tests::netns::{self, Container};
use raftmasq_tests::testbed_cluster::{TestbedCluster, lease_for_mac};

const TOOLS: &[&str] = &[
    "ip", "bridge", "curl", "udhcpc", "dhcpcd", "unshare", "tcpdump", "dig",
];
const LEASE_WAIT: Duration = Duration::from_secs(20);

/// The DHCP messages of the client with `mac` in `capture` (the segment's
/// other clients are on it too), once the server's ACK to it is there.
fn exchange(capture: &Capture, mac: &str) -> Vec<DhcpMessage> {
    let of_client = |messages: &[DhcpMessage]| -> Vec<DhcpMessage> {
        messages
            .iter()
            .filter(|message| message.mac() == mac)
            .cloned()
            .collect()
    };
    let messages = capture
        .wait_for(Duration::from_secs(3), |messages| {
            of_client(messages)
                .iter()
                .any(|m| m.op == 2 && m.message_type() == Some(5))
        })
        .expect("the capture reads back");
    of_client(&messages)
}

fn names(messages: &[DhcpMessage]) -> Vec<&'static str> {
    messages
        .iter()
        .map(|message| type_name(message.message_type()))
        .collect()
}

/// A counter's value in `host`'s Prometheus text (0 when absent).
pub(crate) fn counter(cluster: &TestbedCluster, host: u8, series: &str) -> u64 {
    let metrics = cluster
        .get_text(host, "/metrics")
        .unwrap_or_else(|| panic!("no metrics from host {host}"));
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse().expect("a counter value"))
}

fn start_client<'c>(
    cluster: &TestbedCluster,
    kind: ClientKind,
    container: &'c Container,
    dir: &std::path::Path,
    options: &ClientOptions,
) -> (DhcpClient<'c>, Lease) {
    let client = DhcpClient::start(kind, container, dir, options).expect("client");
    let lease = client.wait_lease(LEASE_WAIT).unwrap_or_else(|e| {
        panic!("{}: {e}\n{}", container.name, cluster.logs());
    });
    (client, lease)
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn rapid_commit_binds_dhcpcd_in_two_messages_after_the_commit_and_others_in_four() {
    netns::require("dhcp rapid commit", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "rc", 3, "");
    let leader = u8::try_from(cluster.wait_ready(Duration::from_secs(30))).expect("host index");
    let work = tempfile::TempDir::new().expect("client dir");
    let followers: Vec<u8> = (1..=3).filter(|host| *host != leader).collect();

    // A rapid-commit client on a follower's host: its DISCOVER crosses the
    // overlay to the leader, the only node that answers.
    let rapid = cluster
        .testbed
        .add_container(followers[0], "rapid", "02:42:ac:10:00:81")
        .expect("container");
    let rapid_capture = Capture::start(&rapid, work.path(), "rapid").expect("capture");
    let mut options = ClientOptions::hostname("rapid");
    options.rapid_commit = true;
    let (_rapid_client, lease) =
        start_client(&cluster, ClientKind::Dhcpcd, &rapid, work.path(), &options);
    let address = lease.address.expect("an address");

    // The ACK was sent after the commit, so the moment the client reports
    // its lease every replica holds it: read each follower's own replica
    // once, without waiting or going through the leader.
    for host in &followers {
        let replica = cluster.leases(*host, false);
        let held = lease_for_mac(&replica, &rapid.mac).unwrap_or_else(|| {
            panic!("host {host}'s replica lacks the lease at the ACK: {replica:?}")
        });
        assert_eq!(held["address"], address.to_string(), "host {host}");
        assert_eq!(held["state"], "bound");
    }
    // And every follower already answers for the name, from the container.
    for host in &followers {
        let replies = dig(
            &rapid.netns,
            &format!("172.16.0.{host}"),
            &[],
            &[("rapid.lxd", "A")],
        )
        .expect("dig");
        assert_eq!(
            replies[0].data("A"),
            [address.to_string()],
            "host {host}'s DNS"
        );
    }

    let messages = exchange(&rapid_capture, &rapid.mac);
    assert_eq!(
        names(&messages),
        ["DISCOVER", "ACK"],
        "rapid commit takes two messages: {messages:#?}"
    );
    assert_eq!(
        messages[0].option(80),
        Some(&[][..]),
        "dhcpcd sent option 80"
    );
    let ack = &messages[1];
    assert_eq!(
        ack.option(80),
        Some(&[][..]),
        "RFC 4039 §4: the ACK carries option 80"
    );
    assert_eq!(ack.yiaddr, address);
    assert_eq!(ack.xid, messages[0].xid, "the ACK answers the DISCOVER");
    assert_eq!(
        ack.option(54),
        Some(&Ipv4Addr::new(172, 16, 0, leader).octets()[..]),
        "the leader answered"
    );
    let rapid_acks = r#"raftmasq_dhcp_replies_total{type="rapid_commit_ack"}"#;
    assert_eq!(counter(&cluster, leader, rapid_acks), 1);
    for host in &followers {
        assert_eq!(
            counter(&cluster, *host, rapid_acks),
            0,
            "host {host} answered"
        );
    }

    // The same client without option 80: the four-message exchange.
    let plain = cluster
        .testbed
        .add_container(followers[1], "plain", "02:42:ac:10:00:82")
        .expect("container");
    let plain_capture = Capture::start(&plain, work.path(), "plain").expect("capture");
    let (_plain_client, plain_lease) = start_client(
        &cluster,
        ClientKind::Dhcpcd,
        &plain,
        work.path(),
        &ClientOptions::hostname("plain"),
    );
    let messages = exchange(&plain_capture, &plain.mac);
    assert_eq!(
        names(&messages),
        ["DISCOVER", "OFFER", "REQUEST", "ACK"],
        "without option 80: {messages:#?}"
    );
    assert!(messages.iter().all(|m| m.option(80).is_none()));
    assert_eq!(messages[3].yiaddr, plain_lease.address.expect("an address"));
    assert_eq!(
        counter(&cluster, leader, rapid_acks),
        1,
        "no second rapid ACK"
    );
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn boot_fields_reach_clients_that_ask_and_pxe_clients_unasked() {
    netns::require("dhcp boot fields", TOOLS);
    let boot = "\n[dhcp.options]\nnext_server = \"172.16.0.1\"\n\
                server_name = \"tftp.lxd\"\nboot_file = \"pxelinux.0\"\n";
    let cluster = TestbedCluster::start(crate::binary(), "bf", 3, boot);
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let next_server = Ipv4Addr::new(172, 16, 0, 1);

    // Lists 66 and 67 in its parameter request list.
    let asks = cluster
        .testbed
        .add_container(1, "asks", "02:42:ac:10:00:91")
        .expect("container");
    let capture = Capture::start(&asks, work.path(), "asks").expect("capture");
    let mut options = ClientOptions::hostname("asks");
    options.request_options = vec!["tftp".into(), "bootfile".into()];
    let (_asks_client, lease) =
        start_client(&cluster, ClientKind::Udhcpc, &asks, work.path(), &options);
    let messages = exchange(&capture, &asks.mac);
    let discover = messages
        .iter()
        .find(|m| m.message_type() == Some(1))
        .expect("a DISCOVER");
    let listed = discover.option(55).expect("a parameter request list");
    assert!(listed.contains(&66) && listed.contains(&67), "{listed:?}");
    let offer = messages
        .iter()
        .find(|m| m.message_type() == Some(2) && m.xid == discover.xid)
        .unwrap_or_else(|| panic!("no OFFER to the DISCOVER: {messages:#?}"));
    assert_eq!(offer.siaddr, next_server);
    assert_eq!(
        (offer.sname.as_str(), offer.file.as_str()),
        ("tftp.lxd", "pxelinux.0")
    );
    assert_eq!(offer.option(66), Some(&b"tftp.lxd"[..]));
    assert_eq!(offer.option(67), Some(&b"pxelinux.0"[..]));
    assert_eq!(lease.next_server, Some(next_server), "{lease:?}");
    assert_eq!(lease.server_name.as_deref(), Some("tftp.lxd"));
    assert_eq!(lease.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(lease.tftp_server_name.as_deref(), Some("tftp.lxd"));
    assert_eq!(lease.bootfile_name.as_deref(), Some("pxelinux.0"));

    // A PXE client that does not list them gets 66 and 67 all the same.
    let pxe = cluster
        .testbed
        .add_container(2, "pxe", "02:42:ac:10:00:92")
        .expect("container");
    let mut options = ClientOptions::hostname("pxe");
    options.vendor_class = Some("PXEClient:Arch:00000:UNDI:002001".into());
    let (_pxe_client, lease) =
        start_client(&cluster, ClientKind::Udhcpc, &pxe, work.path(), &options);
    assert_eq!(lease.next_server, Some(next_server), "{lease:?}");
    assert_eq!(lease.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(
        lease.tftp_server_name.as_deref(),
        Some("tftp.lxd"),
        "{lease:?}"
    );
    assert_eq!(
        lease.bootfile_name.as_deref(),
        Some("pxelinux.0"),
        "{lease:?}"
    );

    // Neither listed nor PXE: the header fields, not the options.
    let plain = cluster
        .testbed
        .add_container(3, "nopxe", "02:42:ac:10:00:93")
        .expect("container");
    let (_plain_client, lease) = start_client(
        &cluster,
        ClientKind::Udhcpc,
        &plain,
        work.path(),
        &ClientOptions::hostname("nopxe"),
    );
    assert_eq!(lease.next_server, Some(next_server), "{lease:?}");
    assert_eq!(lease.server_name.as_deref(), Some("tftp.lxd"));
    assert_eq!(lease.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(lease.tftp_server_name, None, "{lease:?}");
    assert_eq!(lease.bootfile_name, None, "{lease:?}");
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn with_rapid_commit_switched_off_a_rapid_client_takes_four_messages() {
    netns::require("dhcp rapid commit off", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "ro", 1, "rapid_commit = false");
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let container = cluster
        .testbed
        .add_container(1, "asks80", "02:42:ac:10:00:a0")
        .expect("container");
    let capture = Capture::start(&container, work.path(), "asks80").expect("capture");
    let mut options = ClientOptions::hostname("asks80");
    options.rapid_commit = true;
    let (_client, lease) = start_client(
        &cluster,
        ClientKind::Dhcpcd,
        &container,
        work.path(),
        &options,
    );
    let messages = exchange(&capture, &container.mac);
    assert_eq!(
        names(&messages),
        ["DISCOVER", "OFFER", "REQUEST", "ACK"],
        "dhcp.rapid_commit = false: {messages:#?}"
    );
    assert_eq!(messages[0].option(80), Some(&[][..]), "the client asked");
    assert!(
        messages
            .iter()
            .filter(|m| m.op == 2)
            .all(|m| m.option(80).is_none()),
        "RFC 4039: no option 80 from a server that does not rapid-commit"
    );
    assert_eq!(messages[3].yiaddr, lease.address.expect("an address"));
}

/// A hand-made client for what real clients do not send: a UDP socket on
/// port 68 of a container's `eth0`, sending broadcasts.
pub(crate) struct Probe {
    pub(crate) socket: std::net::UdpSocket,
    pub(crate) mac: [u8; 6],
}

impl Probe {
    pub(crate) fn open(container: &Container, mac: [u8; 6]) -> Probe {
        let socket = raftmasq_tests::dnsprobe::in_netns(&container.netns.path(), || {
            use socket2::{Domain, Protocol, Socket, Type};
            // Sockets keep the namespace they were made in.
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_broadcast(true)?;
            socket.set_reuse_address(true)?;
            socket.bind_device(Some(b"eth0"))?;
            socket.bind(&std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())?;
            socket.set_read_timeout(Some(Duration::from_millis(200)))?;
            Ok::<_, std::io::Error>(std::net::UdpSocket::from(socket))
        })
        .and_then(|socket| socket)
        .expect("a DHCP socket in the container");
        Probe { socket, mac }
    }

    /// A client message of `kind` with the broadcast bit set (so every
    /// answer comes back to 255.255.255.255:68, i.e. to this socket).
    pub(crate) fn message(&self, xid: u32, kind: MessageType, ciaddr: Ipv4Addr) -> Message {
        let mut message = Message::new_with_id(
            xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.mac,
        );
        message.set_flags(Flags::default().set_broadcast());
        message.opts_mut().insert(DhcpOption::MessageType(kind));
        message
    }

    pub(crate) fn send(&self, message: &Message) {
        self.send_to(message, Ipv4Addr::BROADCAST);
    }

    /// Sends `message` to `server`:67 (the broadcast address, or a node's
    /// bridge address for a unicast from the container's own address).
    pub(crate) fn send_to(&self, message: &Message, server: Ipv4Addr) {
        let bytes = message.to_vec().expect("encodable");
        self.socket
            .send_to(&bytes, (server, 67))
            .expect("datagram sent");
    }

    /// The reply with `xid` arriving within `wait`, if any.
    pub(crate) fn reply(&self, xid: u32, wait: Duration) -> Option<Message> {
        let deadline = std::time::Instant::now() + wait;
        let mut buffer = [0u8; 1500];
        while std::time::Instant::now() < deadline {
            let Ok((length, _)) = self.socket.recv_from(&mut buffer) else {
                continue;
            };
            match Message::from_bytes(&buffer[..length]) {
                Ok(message) if message.opcode() == Opcode::BootReply && message.xid() == xid => {
                    return Some(message);
                }
                _ => {}
            }
        }
        None
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn inform_without_ciaddr_is_dropped_and_a_request_without_option_50_takes_its_offer() {
    netns::require("dhcp malformed and lenient requests", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "ml", 1, "");
    cluster.wait_ready(Duration::from_secs(30));
    let container = cluster
        .testbed
        .add_container(1, "probe", "02:42:ac:10:00:b0")
        .expect("container");
    // An address outside the pool, so the probe can send and take unicast.
    let own = Ipv4Addr::new(172, 16, 1, 5);
    container
        .netns
        .ip(["addr", "add", "172.16.1.5/16", "dev", "eth0"])
        .expect("address");
    let probe = Probe::open(&container, [2, 0x42, 0xac, 0x10, 0, 0xb0]);
    let wait = Duration::from_secs(2);
    let dropped = r#"raftmasq_dhcp_dropped_total{reason="inform_without_address"}"#;

    // RFC 2131 Table 5: INFORM without ciaddr, not relayed: dropped, counted.
    probe.send(&probe.message(1, MessageType::Inform, Ipv4Addr::UNSPECIFIED));
    assert!(
        probe.reply(1, wait).is_none(),
        "an INFORM without ciaddr was answered"
    );
    assert_eq!(counter(&cluster, 1, dropped), 1, "{}", cluster.logs());
    // The same INFORM with ciaddr is answered: the drop was the missing ciaddr.
    probe.send(&probe.message(2, MessageType::Inform, own));
    let ack = probe
        .reply(2, wait)
        .expect("an ACK to the INFORM with ciaddr");
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));

    // SELECTING without option 50: answered from this client's offer.
    probe.send(&probe.message(3, MessageType::Discover, Ipv4Addr::UNSPECIFIED));
    let offer = probe.reply(3, wait).expect("an OFFER");
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(id)) => *id,
        other => panic!("no server id in the OFFER: {other:?}"),
    };
    let mut request = probe.message(4, MessageType::Request, Ipv4Addr::UNSPECIFIED);
    request
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(server_id));
    probe.send(&request);
    let ack = probe.reply(4, wait).expect("an ACK from the pending offer");
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    let leases = cluster.leases(1, true);
    let lease = lease_for_mac(&leases, &container.mac).expect("the lease is committed");
    assert_eq!(lease["address"], offer.yiaddr().to_string());
    let log = std::fs::read_to_string(cluster.log_path(1)).unwrap_or_default();
    assert!(log.contains("lenient"), "the leniency is logged:\n{log}");

    // The same REQUEST from a client with no offer: silence.
    let stranger = Probe {
        socket: probe.socket.try_clone().expect("socket"),
        mac: [2, 0x42, 0xac, 0x10, 0, 0xb1],
    };
    let mut request = stranger.message(5, MessageType::Request, Ipv4Addr::UNSPECIFIED);
    request
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(server_id));
    stranger.send(&request);
    assert!(stranger.reply(5, wait).is_none(), "no offer, no answer");
    let ignored = r#"raftmasq_dhcp_ignored_total{reason="missing_requested_address"}"#;
    assert_eq!(counter(&cluster, 1, ignored), 1);
}

/// `ranges = []`: a network with no dynamic pool (dnsmasq without a
/// `dhcp-range`, or LXD's static-only bridges). A real client with a
/// reservation gets its address and name; a DISCOVER from anyone else gets
/// no answer and is counted as `no_dynamic_range` (not as an exhausted
/// pool); an INFORM is still answered.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn a_network_without_ranges_serves_reservations_and_inform_only() {
    netns::require("dhcp without a dynamic range", TOOLS);
    let options = raftmasq_tests::testbed_cluster::TestbedOptions::default();
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), "nr", 1, &options);
    let path = cluster.config_path(1);
    let text = std::fs::read_to_string(&path).expect("node file");
    let range_line = text
        .lines()
        .find(|line| line.starts_with("range = "))
        .expect("the testbed writes one range")
        .to_string();
    std::fs::write(&path, text.replace(&range_line, "ranges = []")).expect("write node file");
    cluster.start_node(1);
    cluster.wait_ready(Duration::from_secs(30));
    let settings = cluster.get(1, "/api/v1/settings").expect("settings");
    assert!(
        settings.to_string().contains(r#""value":"none""#),
        "the cluster has no range: {settings}"
    );

    let reserved = "172.16.5.5";
    cluster
        .post(
            1,
            "/api/v1/reservations",
            &serde_json::json!({"mac": "02:42:ac:10:00:c1", "address": reserved, "hostname": "fixed"}),
        )
        .unwrap_or_else(|e| panic!("reserve: {e}"));
    let work = tempfile::TempDir::new().expect("client dir");
    let fixed = cluster
        .testbed
        .add_container(1, "fixed", "02:42:ac:10:00:c1")
        .expect("container");
    let (_client, lease) = start_client(
        &cluster,
        ClientKind::Udhcpc,
        &fixed,
        work.path(),
        &ClientOptions::hostname("fixed"),
    );
    assert_eq!(
        lease.address.map(|a| a.to_string()).as_deref(),
        Some(reserved),
        "{lease:?}"
    );
    let replies = dig(&fixed.netns, "172.16.0.1", &[], &[("fixed.lxd", "A")]).expect("dig");
    assert_eq!(replies[0].data("A"), [reserved.to_string()]);

    // Anyone else: silence, counted as no dynamic range.
    let stranger = cluster
        .testbed
        .add_container(1, "stranger", "02:42:ac:10:00:c2")
        .expect("container");
    stranger
        .netns
        .ip(["addr", "add", "172.16.1.6/16", "dev", "eth0"])
        .expect("address");
    let probe = Probe::open(&stranger, [2, 0x42, 0xac, 0x10, 0, 0xc2]);
    let wait = Duration::from_secs(2);
    probe.send(&probe.message(1, MessageType::Discover, Ipv4Addr::UNSPECIFIED));
    assert!(
        probe.reply(1, wait).is_none(),
        "a DISCOVER was answered without a range"
    );
    let no_range = r#"raftmasq_dhcp_ignored_total{reason="no_dynamic_range"}"#;
    let exhausted = r#"raftmasq_dhcp_ignored_total{reason="pool_exhausted"}"#;
    assert_eq!(counter(&cluster, 1, no_range), 1, "{}", cluster.logs());
    assert_eq!(counter(&cluster, 1, exhausted), 0);
    // INFORM from a statically numbered host: configuration only.
    probe.send(&probe.message(2, MessageType::Inform, Ipv4Addr::new(172, 16, 1, 6)));
    let ack = probe.reply(2, wait).expect("an ACK to the INFORM");
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    let leases = cluster.leases(1, true);
    assert!(
        lease_for_mac(&leases, &stranger.mac).is_none(),
        "{leases:?}"
    );
}
