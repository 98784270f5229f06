//! Forwarding names outside our zones to the upstream resolvers, with a cache.
//!
//! A plain stub-to-recursive relay: one UDP exchange per upstream in order
//! (TCP when the answer is truncated), the first NOERROR/NXDOMAIN wins. Our
//! own zones never pass through here, so a change in the table never has to
//! invalidate this cache.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::debug;

use crate::cache::{Cache, Key, UpstreamAnswer};
use crate::config::DEFAULT_UDP_PAYLOAD;
use crate::lookup::key;

#[derive(Debug)]
pub(crate) struct Forwarder {
    /// Swapped whole on reload (SIGHUP); a query in flight keeps the list it
    /// started with.
    upstream: RwLock<Arc<Vec<SocketAddr>>>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Forwarder {
    pub fn new(upstream: Vec<SocketAddr>, timeout: Duration, cache_size: usize) -> Self {
        Forwarder {
            upstream: RwLock::new(Arc::new(upstream)),
            timeout,
            cache: Mutex::new(Cache::new(cache_size)),
        }
    }

    /// Replaces the upstream resolvers and forgets what the old ones said.
    pub fn set_upstream(&self, upstream: Vec<SocketAddr>) {
        *self
            .upstream
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(upstream);
        self.lock().clear();
    }

    /// The answer to `query`, from the cache or an upstream; `None` when no
    /// upstream gave a usable one (the client gets SERVFAIL).
    pub async fn resolve(
        &self,
        query: &Query,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Option<UpstreamAnswer> {
        let cache_key = Key {
            name: key(query.name()),
            qtype: u16::from(query.query_type()),
            dnssec_ok,
            checking_disabled,
        };
        if let Some(answer) = self.lock().get(&cache_key, Instant::now()) {
            crate::stats::forwarded("cache");
            return Some(answer);
        }
        let upstreams = self
            .upstream
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for &upstream in upstreams.iter() {
            let request = upstream_request(query, dnssec_ok, checking_disabled);
            match tokio::time::timeout(self.timeout, exchange(upstream, &request)).await {
                Ok(Ok(response)) => match response.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        let answer = UpstreamAnswer {
                            rcode: response.metadata.response_code,
                            answers: response.answers,
                            authorities: response.authorities,
                            additionals: response.additionals,
                        };
                        self.lock().insert(cache_key, &answer, Instant::now());
                        crate::stats::forwarded("upstream");
                        return Some(answer);
                    }
                    rcode => debug!(%upstream, %rcode, "upstream failed, trying the next"),
                },
                Ok(Err(error)) => debug!(%upstream, %error, "upstream unreachable"),
                Err(_) => debug!(%upstream, "upstream timed out"),
            }
        }
        crate::stats::forwarded("failed");
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn upstream_request(query: &Query, dnssec_ok: bool, checking_disabled: bool) -> Message {
    // Message::query picks a random ID (RFC 5452 §9.2).
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.metadata.checking_disabled = checking_disabled;
    request.add_query(query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(DEFAULT_UDP_PAYLOAD);
    edns.set_dnssec_ok(dnssec_ok);
    request.set_edns(edns);
    request
}

/// One exchange with one upstream: UDP, then TCP if the answer was truncated.
async fn exchange(upstream: SocketAddr, request: &Message) -> io::Result<Message> {
    let bytes = request.to_vec().map_err(io::Error::other)?;
    let response = exchange_udp(upstream, request, &bytes).await?;
    if !response.metadata.truncation {
        return Ok(response);
    }
    exchange_tcp(upstream, request, &bytes).await
}

async fn exchange_udp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> io::Result<Message> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0; usize::from(u16::MAX)];
    loop {
        // A connected socket only sees the upstream's datagrams; anything not
        // matching our ID and question is a stray or a spoof and is ignored.
        let n = socket.recv(&mut buf).await?;
        if let Some(response) = buf.get(..n).and_then(|b| matching(request, b)) {
            return Ok(response);
        }
    }
}

async fn exchange_tcp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(bytes.len()).map_err(io::Error::other)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    loop {
        let len = stream.read_u16().await?;
        let mut buf = vec![0; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        if let Some(response) = matching(request, &buf) {
            return Ok(response);
        }
    }
}

/// `bytes` decoded if it is the response to `request`.
fn matching(request: &Message, bytes: &[u8]) -> Option<Message> {
    let response = Message::from_vec(bytes).ok()?;
    let same_question = match (request.queries.first(), response.queries.first()) {
        (Some(a), Some(b)) => {
            a.query_type() == b.query_type()
                && a.query_class() == b.query_class()
                && key(a.name()) == key(b.name())
        }
        _ => false,
    };
    let ok = response.metadata.id == request.metadata.id
        && response.metadata.message_type == MessageType::Response
        && response.metadata.op_code == OpCode::Query
        && same_question;
    ok.then_some(response)
}
