//! Shared fixtures: a server over a `MemoryZoneSource` with a fake clock, and
//! a small DNS client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use raftmasq_dnsd::{DnsServer, DnsServerConfig, MemoryZoneSource};
use raftmasq_state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, LeaseRequest, MacAddr,
    RecordData, Response, StaticRecord,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// The fake clock's start, Unix ms.
pub const T0: u64 = 1_700_000_000_000;
pub const LEASE_SECS: u64 = 3600;

pub struct Harness {
    pub server: DnsServer,
    pub source: Arc<MemoryZoneSource>,
    pub addr: SocketAddr,
    pub clock: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, ms: u64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn apply(&self, command: Command) -> Response {
        self.source.apply(&command)
    }

    /// Binds `c<n>` at 172.16.0.<n> and checks it got the name asked for.
    pub fn bind(&self, n: u8, name: &str) {
        let response = self.apply(Command::Bind {
            request: request(n, Some(name)),
            now: self.now(),
            lease_time_secs: Some(LEASE_SECS),
        });
        match response {
            Response::Lease { lease } => assert_eq!(lease.granted_name.as_deref(), Some(name)),
            other => panic!("bind failed: {other:?}"),
        }
    }

    pub fn release(&self, n: u8) {
        let response = self.apply(Command::Release {
            client_id: Some(ClientId::from_mac(mac(n))),
            mac: Some(mac(n)),
            address: ip(n),
            now: self.now(),
        });
        assert_eq!(response, Response::Done);
    }

    pub fn add(&self, name: &str, ttl: Option<u32>, data: RecordData) {
        let record = StaticRecord {
            name: name.into(),
            ttl,
            data,
        };
        assert_eq!(self.apply(Command::AddRecord { record }), Response::Done);
    }

    pub async fn udp(&self, message: &Message) -> Message {
        udp_from(
            Ipv4Addr::LOCALHOST.into(),
            self.addr,
            &message.to_vec().unwrap(),
        )
        .await
        .expect("an answer")
    }

    pub async fn tcp(&self, message: &Message) -> Vec<Message> {
        tcp_from(Ipv4Addr::LOCALHOST.into(), self.addr, message).await
    }
}

pub fn settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "172.16.0.0/16".parse().unwrap(),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(172, 16, 0, 1),
            end: Ipv4Addr::new(172, 16, 0, 250),
        }],
        domain: "lxd".into(),
        lease_time_secs: LEASE_SECS,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 60,
        client_identity: Default::default(),
    }
}

pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, 0, n)
}

pub fn mac(n: u8) -> MacAddr {
    MacAddr([0x00, 0x16, 0x3e, 0, 0, n])
}

pub fn request(n: u8, hostname: Option<&str>) -> LeaseRequest {
    LeaseRequest {
        client_id: ClientId::from_mac(mac(n)),
        mac: mac(n),
        hostname: hostname.map(str::to_string),
        requested_address: Some(ip(n)),
        seen_by: Some(1),
    }
}

/// The test config: lxd, TTL 30, negative TTL 15, three hosts, recursion for
/// 127.0.0.1 only.
pub fn config() -> DnsServerConfig {
    let mut config = DnsServerConfig::new("lxd");
    config.ttl = Duration::from_secs(30);
    config.negative_ttl = Duration::from_secs(15);
    config.nameservers = vec![
        ("ns1".into(), Ipv4Addr::new(10, 0, 0, 1)),
        ("ns2".into(), Ipv4Addr::new(10, 0, 0, 2)),
        ("ns3.lxd.".into(), Ipv4Addr::new(10, 0, 0, 3)),
    ];
    config.allow_recursion = vec!["127.0.0.1/32".parse().unwrap()];
    config.upstream_timeout = Duration::from_millis(300);
    config
}

/// A server on 127.0.0.1 (UDP and TCP on one port) over an initialised table.
pub async fn start(config: DnsServerConfig) -> Harness {
    let source = Arc::new(MemoryZoneSource::default());
    assert_eq!(
        source.apply(&Command::Initialize {
            settings: settings()
        }),
        Response::Done
    );
    start_with(config, source).await
}

pub async fn start_with(config: DnsServerConfig, source: Arc<MemoryZoneSource>) -> Harness {
    let clock = Arc::new(AtomicU64::new(T0));
    let reader = clock.clone();
    let server = DnsServer::new(
        &config,
        source.clone(),
        Arc::new(move || reader.load(Ordering::SeqCst)),
    )
    .unwrap();
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(server.clone().run(vec![udp], vec![tcp], shutdown.clone()));
    Harness {
        server,
        source,
        addr,
        clock,
        shutdown,
    }
}

/// UDP and TCP on the same free port.
pub async fn bind_pair() -> (UdpSocket, TcpListener) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
}

pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    message
}

pub fn edns_query(name: &str, qtype: RecordType, payload: u16) -> Message {
    let mut message = query(name, qtype);
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

/// Sends `bytes` over UDP from `source` and waits up to 2 s for an answer.
pub async fn udp_from(source: IpAddr, server: SocketAddr, bytes: &[u8]) -> Option<Message> {
    let socket = UdpSocket::bind((source, 0)).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0; 65535];
    let received = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await;
    let (n, _) = received.ok()?.unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

/// Sends over TCP from `source`; reads one response, or for AXFR until the
/// closing SOA.
pub async fn tcp_from(source: IpAddr, server: SocketAddr, message: &Message) -> Vec<Message> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let bytes = message.to_vec().unwrap();
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let transfer = message.queries[0].query_type() == RecordType::AXFR;
    let mut responses = Vec::new();
    let mut soas = 0;
    loop {
        let buf = read_tcp_message(&mut stream).await;
        let response = Message::from_vec(&buf).unwrap();
        soas += response
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        let failed = response.metadata.response_code != hickory_proto::op::ResponseCode::NoError;
        responses.push(response);
        if !transfer || soas >= 2 || failed {
            return responses;
        }
    }
}

pub fn a_records(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

pub fn soa_serial(record: &Record) -> u32 {
    match &record.data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not an SOA: {other:?}"),
    }
}

/// Reads one length-prefixed DNS message from `stream` (RFC 1035 §4.2.2),
/// failing the test after 5 s.
pub async fn read_tcp_message(stream: &mut TcpStream) -> Vec<u8> {
    let read = async {
        let len = stream.read_u16().await?;
        let mut buf = vec![0; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a DNS message within 5 s")
        .expect("read a DNS message")
}
