//! A TCP listener with caps: at most so many connections at once, overall
//! and per client address. A connection over a cap is accepted and closed at
//! once (it never holds a handle, and the client sees a reset rather than a
//! hang in the backlog). When accepting fails (out of file handles, above
//! all) the loop pauses, doubling up to a second, instead of spinning, and
//! says so once per interval.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use raftmasq_api::metrics::{CONNECTIONS_OPEN, CONNECTIONS_REFUSED};
use tokio::net::{TcpListener, TcpStream};

use crate::idle::Slot;
use crate::{Admission, Admitted, ExponentialBackoff, ListenerLimits, LogLimiter, Refusal};

/// How often the same complaint is logged.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The pauses after a failed accept.
const ACCEPT_BACKOFF: ExponentialBackoff =
    ExponentialBackoff::new(Duration::from_millis(10), Duration::from_secs(1));

/// A capped TCP listener; see the module documentation.
#[derive(Debug)]
pub struct BoundedListener {
    listener: TcpListener,
    name: &'static str,
    limits: ListenerLimits,
    admission: Arc<Mutex<Admission>>,
    accept_backoff: ExponentialBackoff,
    refusals: LogLimiter<IpAddr>,
    accept_errors: LogLimiter<io::ErrorKind>,
}

impl BoundedListener {
    /// `name` (`"cluster"`, `"admin"`, `"dns-tcp"`) labels its log lines.
    pub fn new(listener: TcpListener, name: &'static str, limits: ListenerLimits) -> Self {
        // Every series from the start, at zero: a scrape (and an alert rule)
        // sees the family before the first refusal.
        record_open(name, 0);
        for reason in ["full", "client_full"] {
            metrics::counter!(CONNECTIONS_REFUSED, "listener" => name, "reason" => reason)
                .increment(0);
        }
        BoundedListener {
            listener,
            name,
            limits,
            admission: Arc::new(Mutex::new(Admission::new(
                limits.max_connections,
                limits.max_per_client,
            ))),
            accept_backoff: ACCEPT_BACKOFF,
            refusals: LogLimiter::new(LOG_INTERVAL),
            accept_errors: LogLimiter::new(LOG_INTERVAL),
        }
    }

    /// Another socket under the same caps (and name): a service listening
    /// on several addresses holds at most its caps in all.
    pub fn sharing_caps(&self, listener: TcpListener) -> BoundedListener {
        BoundedListener {
            listener,
            name: self.name,
            limits: self.limits,
            admission: self.admission.clone(),
            accept_backoff: ACCEPT_BACKOFF,
            refusals: LogLimiter::new(LOG_INTERVAL),
            accept_errors: LogLimiter::new(LOG_INTERVAL),
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn limits(&self) -> &ListenerLimits {
        &self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open()
    }

    /// The next connection within the caps.
    pub async fn accept(&mut self) -> (Admitted<TcpStream>, SocketAddr) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    self.accept_failed(&error).await;
                    continue;
                }
            };
            self.accept_backoff.reset();
            let admitted = {
                let mut admission = self
                    .admission
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let admitted = admission.admit(peer.ip());
                record_open(self.name, admission.open());
                admitted
            };
            match admitted {
                Ok(()) => {
                    let slot = Slot {
                        admission: self.admission.clone(),
                        client: peer.ip(),
                        listener: self.name,
                    };
                    return (Admitted::new(stream, self.limits.idle_timeout, slot), peer);
                }
                Err(refusal) => self.refuse(stream, peer, refusal),
            }
        }
    }

    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, refusal: Refusal) {
        // Closed with a reset: no FIN_WAIT/TIME_WAIT left for the refused.
        let _ = stream.set_zero_linger();
        drop(stream);
        metrics::counter!(CONNECTIONS_REFUSED, "listener" => self.name, "reason" => refusal.reason())
            .increment(1);
        if let Some(suppressed) = self.refusals.check(&peer.ip(), std::time::Instant::now()) {
            tracing::warn!(
                listener = self.name,
                %peer,
                %refusal,
                suppressed,
                "connection refused: over the listener's cap"
            );
        }
    }

    async fn accept_failed(&mut self, error: &io::Error) {
        if is_per_connection(error) {
            // The client went away between SYN and accept: nothing to wait for.
            return;
        }
        let pause = self.accept_backoff.next_pause();
        if let Some(suppressed) = self
            .accept_errors
            .check(&error.kind(), std::time::Instant::now())
        {
            tracing::warn!(
                listener = self.name,
                %error,
                pause_ms = pause.as_millis() as u64,
                suppressed,
                "cannot accept connections (out of file handles?): pausing"
            );
        }
        tokio::time::sleep(pause).await;
    }
}

/// Sets the `raftmasq_connections_open` gauge of `listener`.
pub(crate) fn record_open(listener: &'static str, open: usize) {
    metrics::gauge!(CONNECTIONS_OPEN, "listener" => listener).set(open as f64);
}

/// Errors about one connection, not the listener or the process.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests;
