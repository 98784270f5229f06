//! Serves an axum router on a listener of admitted connections, with the
//! limits `axum::serve` does not have: a header-read timeout (hyper's timer
//! starts when it waits for a request head, so it also ends idle keep-alive
//! connections), a bound on concurrent HTTP/2 streams, and a whole-request
//! timeout (head to response head, body reading included). The caps and the
//! idle timeout come with the connections (see [`crate::BoundedListener`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::watch;
use tower_service::Service;

use crate::ListenerLimits;

/// Concurrent requests on one HTTP/2 connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// Serves `router` on `listener` forever; each request carries
/// `ConnectInfo<L::Addr>` for the handlers.
pub async fn serve<L>(mut listener: L, router: Router, limits: ListenerLimits)
where
    L: Listener,
    L::Addr: Clone + Send + Sync + std::fmt::Debug + 'static,
{
    let router = router.layer(middleware::from_fn_with_state(
        limits.request_timeout,
        limit_request_time,
    ));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        // Pings only reach a client that still reads: a dead one is closed.
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    // Dropped with this future: every open connection then finishes its
    // requests and closes, as with `axum::serve`. A stopped node must not
    // keep answering its peers on the connections it had.
    let (_serving, stopped) = watch::channel(());
    loop {
        let (io, addr) = listener.accept().await;
        let router = router.clone();
        let builder = builder.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let peer = addr.clone();
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer.clone()));
                router.clone().call(request)
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(peer = ?addr, %error, "http connection ended");
            }
        });
    }
}

/// How much of a refused request's body is read before the refusal.
const REFUSED_BODY_READ: usize = 64 << 10;
/// How long a refused request's body is waited for.
const REFUSED_BODY_WAIT: Duration = Duration::from_secs(1);

/// Answers `refusal` to `request` after reading (a bounded part of) its body.
///
/// A refusal sent before the body is read ends the HTTP/2 stream with a
/// RST_STREAM while the client may still be sending: curl then reports a
/// stream error (exit 92) instead of the status and reason, and a peer
/// sees a transport failure where it was told why (reproduced 2 times in
/// 200 refusals). Reading at most 64 KiB within a second costs an
/// unauthenticated client no more than its headers did.
pub async fn refuse(request: Request, refusal: Response) -> Response {
    let body = request.into_body();
    let _ = tokio::time::timeout(
        REFUSED_BODY_WAIT,
        axum::body::to_bytes(body, REFUSED_BODY_READ),
    )
    .await;
    refusal
}

async fn limit_request_time(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            tracing::warn!(%path, limit_ms = limit.as_millis() as u64, "request took too long: abandoned");
            (StatusCode::SERVICE_UNAVAILABLE, "request took too long\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests;

impl Listener for crate::BoundedListener {
    type Io = crate::Admitted<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        crate::BoundedListener::accept(self).await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        crate::BoundedListener::local_addr(self)
    }
}
