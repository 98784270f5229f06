use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::BoundedListener;
use crate::ListenerLimits;

const LIMITS: ListenerLimits = ListenerLimits {
    max_connections: 3,
    max_per_client: 2,
    header_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_millis(300),
    request_timeout: Duration::from_secs(5),
};

async fn listener(limits: ListenerLimits) -> (BoundedListener, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = tcp.local_addr().expect("local address");
    (BoundedListener::new(tcp, "test", limits), addr)
}

/// True if the server closed `client` (EOF or reset) within a second.
async fn closed_by_server(client: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        timeout(Duration::from_secs(1), client.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_client_over_its_share_is_closed_and_a_freed_slot_is_reused() {
    let (mut listener, addr) = listener(LIMITS).await;
    let mut first = TcpStream::connect(addr).await.expect("connect");
    let (held_first, _) = listener.accept().await;
    let _second = TcpStream::connect(addr).await.expect("connect");
    let (_held_second, _) = listener.accept().await;
    assert_eq!(listener.open(), 2);

    // The third from the same address is accepted and closed at once ...
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let accepting = tokio::spawn(async move {
        let accepted = listener.accept().await;
        (listener, accepted)
    });
    assert!(closed_by_server(&mut third).await, "over the cap: closed");
    // ... and once the first is done, a new one takes its slot.
    drop(held_first);
    assert!(closed_by_server(&mut first).await, "dropped: closed");
    let mut fourth = TcpStream::connect(addr).await.expect("connect");
    let (listener, (_held_fourth, _)) = timeout(Duration::from_secs(2), accepting)
        .await
        .expect("the freed slot is used")
        .expect("accept task");
    fourth.write_all(b"x").await.expect("admitted: writable");
    assert_eq!(listener.open(), 2);
}

#[tokio::test]
async fn the_listener_is_full_for_everyone() {
    let limits = ListenerLimits {
        max_connections: 1,
        ..LIMITS
    };
    let (mut listener, addr) = listener(limits).await;
    let _first = TcpStream::connect(addr).await.expect("connect");
    let (_held, _) = listener.accept().await;
    let mut second = TcpStream::connect(addr).await.expect("connect");
    let accepting = tokio::spawn(async move { listener.accept().await.1 });
    assert!(closed_by_server(&mut second).await);
    accepting.abort();
}

#[tokio::test]
async fn a_silent_connection_ends_after_the_idle_timeout() {
    let (mut listener, addr) = listener(LIMITS).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let (mut held, _) = listener.accept().await;
    // Bytes moving keep it open past the timeout ...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        client.write_all(b"x").await.expect("write");
        let mut byte = [0u8; 1];
        held.read_exact(&mut byte)
            .await
            .expect("read within the idle timeout");
    }
    // ... and silence ends it.
    let started = std::time::Instant::now();
    let mut byte = [0u8; 1];
    let error = timeout(Duration::from_secs(2), held.read(&mut byte))
        .await
        .expect("ends within the idle timeout")
        .expect_err("a timeout error");
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(held);
    assert_eq!(listener.open(), 0);
}
