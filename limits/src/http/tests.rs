use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::serve;
use crate::{BoundedListener, ListenerLimits};

const LIMITS: ListenerLimits = ListenerLimits {
    max_connections: 8,
    max_per_client: 8,
    header_timeout: Duration::from_millis(300),
    idle_timeout: Duration::from_secs(5),
    request_timeout: Duration::from_millis(300),
};

async fn start() -> SocketAddr {
    let router = Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = tcp.local_addr().expect("local address");
    tokio::spawn(serve(
        BoundedListener::new(tcp, "test", LIMITS),
        router,
        LIMITS,
    ));
    addr
}

/// Sends `request` and reads until the server closes (bounded by 3 s).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let _ = timeout(Duration::from_secs(3), client.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection within 3 s");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn handlers_see_the_client_address() {
    let addr = start().await;
    let answer = exchange(
        addr,
        b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("127.0.0.1:"), "{answer}");
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_off() {
    let addr = start().await;
    let started = std::time::Instant::now();
    // Half a head, then silence: closed after the header timeout.
    let answer = exchange(addr, b"GET /peer HTTP/1.1\r\nhost: x\r\n").await;
    assert!(!answer.contains("200"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let addr = start().await;
    let answer = exchange(addr, b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n").await;
    // One answer, then the connection closes instead of waiting forever.
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_over_its_time_gets_503() {
    let addr = start().await;
    let started = std::time::Instant::now();
    let answer = exchange(
        addr,
        b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn stopping_the_server_closes_its_open_connections() {
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = tcp.local_addr().expect("local address");
    let router = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn(serve(
        BoundedListener::new(tcp, "test", LIMITS),
        router,
        LIMITS,
    ));
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    let mut answer = [0u8; 12];
    client.read_exact(&mut answer).await.expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    // The keep-alive connection stays open until the server is stopped ...
    server.abort();
    // ... then it closes, well before any timeout.
    let mut rest = Vec::new();
    timeout(Duration::from_millis(200), client.read_to_end(&mut rest))
        .await
        .expect("closed when the server stops")
        .expect("read");
}

/// Refusing before the body is read (an auth middleware) must still reach
/// an HTTP/2 client as the status, not as a reset stream.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_before_the_body_reaches_an_http2_client_whole() {
    use axum::extract::Request;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let router = Router::new().route(
        "/refuse",
        axum::routing::post(|request: Request| async move {
            super::refuse(request, (StatusCode::FORBIDDEN, "no\n").into_response()).await
        }),
    );
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = tcp.local_addr().expect("local address");
    tokio::spawn(serve(
        BoundedListener::new(tcp, "test", LIMITS),
        router,
        LIMITS,
    ));
    let url = format!("http://{addr}/refuse");
    let mut failures = Vec::new();
    for _ in 0..200 {
        let output = tokio::process::Command::new("curl")
            .args([
                "-s",
                "--http2-prior-knowledge",
                "--max-time",
                "3",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_code}", "-H", "content-type: application/json"])
            .args(["-d", "null", &url])
            .output()
            .await
            .expect("curl runs");
        let code = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || code != "403" {
            failures.push(format!("{} {code}", output.status));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 refusals failed: {failures:?}",
        failures.len()
    );
}
