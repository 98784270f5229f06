//! The server loop end to end in memory: a real `LeaseTable` behind a fake
//! cluster, and channels as the wire.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmasq_state::{Command, LeaseTable, MacAddr, Millis, Response};
use tokio::sync::mpsc;

use super::*;
use crate::testing::{PacketBuilder, packet_options, server_config, settings};
use crate::{DropReason, IgnoreReason, MessageKind, ReplyKind, Role};

const DISCOVER: u8 = 1;
const REQUEST: u8 = 3;

struct FakeCluster {
    table: Mutex<LeaseTable>,
    leader: AtomicBool,
    reachable: AtomicBool,
    commits: AtomicBool,
    /// Closed (false): commits wait until it opens, as a slow quorum would.
    gate: tokio::sync::watch::Sender<bool>,
    now: AtomicU64,
}

impl FakeCluster {
    fn new() -> Arc<Self> {
        let mut table = LeaseTable::default();
        table.apply(&Command::Initialize {
            settings: settings(),
        });
        Arc::new(FakeCluster {
            table: Mutex::new(table),
            leader: AtomicBool::new(true),
            reachable: AtomicBool::new(true),
            commits: AtomicBool::new(true),
            gate: tokio::sync::watch::channel(true).0,
            now: AtomicU64::new(1_000_000),
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum FakeCommitError {
    #[error("gate dropped")]
    GateDropped,
    #[error("no quorum")]
    NoQuorum,
}

impl Cluster for FakeCluster {
    fn read<R>(&self, read: impl FnOnce(&LeaseTable) -> R) -> R {
        read(&self.table.lock().unwrap())
    }

    fn role(&self) -> Role {
        Role {
            is_leader: self.leader.load(Ordering::SeqCst),
            has_quorum: self.reachable.load(Ordering::SeqCst),
            is_voter: true,
        }
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        Arc::new(server_config())
    }

    type CommitError = FakeCommitError;

    async fn commit(&self, command: Command) -> Result<Response, FakeCommitError> {
        let mut gate = self.gate.subscribe();
        gate.wait_for(|open| *open)
            .await
            .map_err(|_| FakeCommitError::GateDropped)?;
        if !self.commits.load(Ordering::SeqCst) {
            return Err(FakeCommitError::NoQuorum);
        }
        Ok(self.table.lock().unwrap().apply(&command))
    }

    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

struct ChannelTransport {
    inbound: tokio::sync::Mutex<mpsc::Receiver<Received>>,
    outbound: mpsc::Sender<Reply>,
}

impl Transport for ChannelTransport {
    async fn recv(&self) -> io::Result<Received> {
        self.inbound
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    async fn send(&self, reply: &Reply) -> io::Result<()> {
        self.outbound
            .send(reply.clone())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

struct Harness {
    cluster: Arc<FakeCluster>,
    server: Arc<DhcpServer<FakeCluster, ChannelTransport>>,
    to_server: mpsc::Sender<Received>,
    replies: mpsc::Receiver<Reply>,
}

impl Harness {
    fn start() -> Harness {
        let (to_server, inbound) = mpsc::channel(64);
        let (outbound, replies) = mpsc::channel(64);
        let cluster = FakeCluster::new();
        let transport = Arc::new(ChannelTransport {
            inbound: tokio::sync::Mutex::new(inbound),
            outbound,
        });
        let server = DhcpServer::new(cluster.clone(), transport);
        tokio::spawn(server.clone().run());
        Harness {
            cluster,
            server,
            to_server,
            replies,
        }
    }

    async fn send(&self, packet: PacketBuilder, arrival: Arrival) {
        let received = Received {
            bytes: packet.build(),
            source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            arrival,
        };
        self.to_server.send(received).await.unwrap();
    }

    async fn reply(&mut self) -> Option<Reply> {
        tokio::time::timeout(Duration::from_millis(500), self.replies.recv())
            .await
            .ok()
            .flatten()
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x00, 0x16, 0x3e, 0, 0, n])
}

fn server_id() -> [u8; 4] {
    server_config().server_id.octets()
}

#[tokio::test]
async fn a_client_gets_an_offer_then_an_ack_committed_to_the_table() {
    let mut harness = Harness::start();
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(1))
                .xid(7)
                .option(12, b"c1"),
            Arrival::Broadcast,
        )
        .await;
    let offer = harness.reply().await.expect("an offer");
    assert_eq!(offer.kind, ReplyKind::Offer);
    assert_eq!(offer.xid, 7);
    let address = offer.yiaddr;
    // The offer wrote nothing to the replicated table.
    assert!(
        harness
            .cluster
            .read(|t| t.lease_by_address(address).is_none())
    );

    let request = PacketBuilder::new(REQUEST, mac(1))
        .xid(8)
        .option(50, &address.octets())
        .option(54, &server_id())
        .option(12, b"c1");
    harness.send(request, Arrival::Broadcast).await;
    let ack = harness.reply().await.expect("an ack");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.yiaddr, address);
    let options = packet_options(&ack.packet).expect("options");
    assert_eq!(options.get(12).map(<[u8]>::to_vec), Some(b"c1".to_vec()));
    let lease = harness
        .cluster
        .read(|t| t.lease_by_address(address).cloned())
        .expect("committed lease");
    assert_eq!(lease.mac, mac(1));
    assert_eq!(lease.granted_name.as_deref(), Some("c1"));
    assert_eq!(harness.server.stats().replies(ReplyKind::Ack), 1);
    // The offer was taken: nothing is left holding memory until it expires.
    assert!(harness.server.offers.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_follower_stays_silent_on_broadcasts_and_keeps_them_undecoded() {
    let mut harness = Harness::start();
    harness.cluster.leader.store(false, Ordering::SeqCst);
    harness
        .send(PacketBuilder::new(DISCOVER, mac(2)), Arrival::Broadcast)
        .await;
    assert!(harness.reply().await.is_none());
    let stats = harness.server.stats();
    assert_eq!(stats.events(Event::HeldForLeader), 1, "{stats:?}");
    assert_eq!(stats.received(MessageKind::Discover), 0, "{stats:?}");
}

#[tokio::test]
async fn a_node_that_takes_over_answers_what_it_heard_while_following() {
    let mut harness = Harness::start();
    harness.cluster.leader.store(false, Ordering::SeqCst);
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(20)).xid(41),
            Arrival::Broadcast,
        )
        .await;
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(21)).xid(42),
            Arrival::Broadcast,
        )
        .await;
    assert!(harness.reply().await.is_none(), "a follower is silent");

    // The leader died and this node won the election: no client has sent
    // anything since, and both are answered, in the order they were heard.
    harness.cluster.leader.store(true, Ordering::SeqCst);
    let first = harness
        .reply()
        .await
        .expect("the first held DISCOVER's offer");
    let second = harness
        .reply()
        .await
        .expect("the second held DISCOVER's offer");
    assert_eq!(
        [
            (first.kind, first.xid, first.mac),
            (second.kind, second.xid, second.mac)
        ],
        [
            (ReplyKind::Offer, 41, mac(20)),
            (ReplyKind::Offer, 42, mac(21))
        ]
    );
    assert_eq!(
        harness.server.stats().events(Event::AnsweredAfterTakeover),
        2
    );

    // Answered once: losing and winning the leadership again replays nothing.
    harness.cluster.leader.store(false, Ordering::SeqCst);
    tokio::time::sleep(TAKEOVER_POLL * 3).await;
    harness.cluster.leader.store(true, Ordering::SeqCst);
    assert!(harness.reply().await.is_none());
}

#[tokio::test]
async fn a_held_request_the_old_leader_answered_is_not_answered_again() {
    let mut harness = Harness::start();
    harness.cluster.leader.store(false, Ordering::SeqCst);
    let discover = PacketBuilder::new(DISCOVER, mac(24)).xid(44);
    let client_id = crate::decode(&discover.build()).expect("decodes").client_id;
    harness.send(discover, Arrival::Broadcast).await;
    assert!(harness.reply().await.is_none());

    // The old leader lived long enough to bind the client: its lease was
    // committed after the DISCOVER was heard (at the fake clock's 1,000,000).
    let bound = harness.cluster.table.lock().unwrap().apply(&Command::Bind {
        request: raftmasq_state::LeaseRequest {
            client_id,
            mac: mac(24),
            hostname: None,
            requested_address: None,
            seen_by: Some(2),
        },
        now: 1_000_400,
        lease_time_secs: Some(3600),
    });
    assert!(matches!(bound, Response::Lease { .. }), "{bound:?}");

    harness.cluster.leader.store(true, Ordering::SeqCst);
    assert!(harness.reply().await.is_none(), "answered twice");
    let stats = harness.server.stats();
    assert_eq!(stats.events(Event::HeldAlreadyAnswered), 1, "{stats:?}");
    assert_eq!(stats.events(Event::AnsweredAfterTakeover), 0, "{stats:?}");
}

#[tokio::test]
async fn requests_refused_for_want_of_quorum_are_answered_once_it_is_back() {
    let mut harness = Harness::start();
    // A candidate: no leader, no quorum. A DISCOVER needs a new address,
    // which degraded mode cannot give.
    harness.cluster.leader.store(false, Ordering::SeqCst);
    harness.cluster.reachable.store(false, Ordering::SeqCst);
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(22)).xid(43),
            Arrival::Broadcast,
        )
        .await;
    assert!(harness.reply().await.is_none());
    let stats = harness.server.stats();
    assert_eq!(
        stats.ignored(IgnoreReason::NoQuorumDiscover),
        1,
        "{stats:?}"
    );
    assert_eq!(stats.events(Event::HeldForLeader), 1, "{stats:?}");

    harness.cluster.reachable.store(true, Ordering::SeqCst);
    harness.cluster.leader.store(true, Ordering::SeqCst);
    let offer = harness.reply().await.expect("the offer after the election");
    assert_eq!((offer.kind, offer.xid), (ReplyKind::Offer, 43));
}

#[tokio::test]
async fn a_follower_answers_unicast_renewals_itself_and_holds_nothing() {
    let mut harness = Harness::start();
    harness
        .send(PacketBuilder::new(DISCOVER, mac(23)), Arrival::Broadcast)
        .await;
    let address = harness.reply().await.expect("offer").yiaddr;
    let request = PacketBuilder::new(REQUEST, mac(23))
        .option(50, &address.octets())
        .option(54, &server_id());
    harness.send(request, Arrival::Broadcast).await;
    assert_eq!(harness.reply().await.expect("ack").kind, ReplyKind::Ack);

    harness.cluster.leader.store(false, Ordering::SeqCst);
    let renew = PacketBuilder::new(REQUEST, mac(23)).ciaddr(address);
    harness.send(renew, Arrival::Unicast).await;
    let ack = harness.reply().await.expect("the renewal's ack");
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, address));
    assert_eq!(harness.server.stats().events(Event::HeldForLeader), 0);
}

#[tokio::test]
async fn malformed_packets_are_dropped_and_counted() {
    let mut harness = Harness::start();
    let received = Received {
        bytes: vec![1, 2, 3],
        source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 68),
        arrival: Arrival::Broadcast,
    };
    harness.to_server.send(received).await.unwrap();
    // The server keeps serving after the bad packet.
    harness
        .send(PacketBuilder::new(DISCOVER, mac(3)), Arrival::Broadcast)
        .await;
    assert_eq!(
        harness.reply().await.map(|r| r.kind),
        Some(ReplyKind::Offer)
    );
    assert_eq!(
        harness.server.stats().dropped(DropReason::Truncated),
        1,
        "{:?}",
        harness.server.stats()
    );
}

#[tokio::test]
async fn an_uncommitted_request_gets_no_reply_rather_than_a_nak() {
    let mut harness = Harness::start();
    harness
        .send(PacketBuilder::new(DISCOVER, mac(4)), Arrival::Broadcast)
        .await;
    let address = harness.reply().await.expect("offer").yiaddr;
    // Quorum is lost between OFFER and REQUEST while the role still says
    // leader with quorum, as it may for up to an election timeout.
    harness.cluster.commits.store(false, Ordering::SeqCst);
    let request = PacketBuilder::new(REQUEST, mac(4))
        .option(50, &address.octets())
        .option(54, &server_id());
    harness.send(request, Arrival::Broadcast).await;
    assert!(harness.reply().await.is_none());
    assert_eq!(harness.server.stats().events(Event::CommitFailed), 1);
}

#[tokio::test]
async fn a_rapid_commit_ack_is_sent_only_after_the_commit_rfc4039() {
    let mut harness = Harness::start();
    harness.cluster.gate.send_replace(false);
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(5)).xid(9).option(80, &[]),
            Arrival::Broadcast,
        )
        .await;
    assert!(
        harness.reply().await.is_none(),
        "no ACK (and no OFFER) while the Bind is not committed"
    );
    assert!(
        harness
            .cluster
            .read(|t| t.leases().all(|lease| lease.mac != mac(5)))
    );
    harness.cluster.gate.send_replace(true);
    let ack = harness.reply().await.expect("the ACK once committed");
    assert_eq!(ack.kind, ReplyKind::RapidCommitAck);
    assert_eq!(ack.xid, 9);
    let options = packet_options(&ack.packet).expect("options");
    assert_eq!(options.get(53), Some(&[5][..]));
    assert_eq!(options.get(80), Some(&[][..]));
    let lease = harness
        .cluster
        .read(|t| t.lease_by_address(ack.yiaddr).cloned())
        .expect("the ACKed lease is in the table");
    assert_eq!(lease.mac, mac(5));
    let stats = harness.server.stats();
    assert_eq!(stats.replies(ReplyKind::RapidCommitAck), 1);
    assert_eq!(stats.replies(ReplyKind::Offer), 0, "{:?}", stats);
}

#[tokio::test]
async fn a_rapid_commit_that_cannot_commit_gets_no_reply() {
    let mut harness = Harness::start();
    harness.cluster.commits.store(false, Ordering::SeqCst);
    harness
        .send(
            PacketBuilder::new(DISCOVER, mac(6)).option(80, &[]),
            Arrival::Broadcast,
        )
        .await;
    assert!(harness.reply().await.is_none());
    assert_eq!(harness.server.stats().events(Event::CommitFailed), 1);
}

#[tokio::test]
async fn an_inform_without_ciaddr_is_a_counted_drop() {
    let mut harness = Harness::start();
    harness
        .send(PacketBuilder::new(8, mac(7)), Arrival::Broadcast)
        .await;
    assert!(harness.reply().await.is_none());
    assert_eq!(
        harness
            .server
            .stats()
            .dropped(DropReason::InformWithoutAddress),
        1,
        "{:?}",
        harness.server.stats()
    );
}
