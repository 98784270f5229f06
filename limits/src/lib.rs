//! Limits on every listener (issue 15): an attacker's idle connections must
//! not take the file handles that UDP DNS, forwarding, storage and `dnsctl`
//! need, and a failing peer or a repeating client must not fill the log.
//!
//! - [`BoundedListener`]: a TCP listener that admits at most so many
//!   connections overall and per client address (closing the rest at once),
//!   never spins when accepting fails, and ends connections that stay silent.
//! - [`http::serve`] (feature `http`): serves an axum router on any such
//!   listener with a header-read timeout and a whole-request timeout.
//! - [`LogLimiter`]: one warning per key per interval, with a count of the
//!   suppressed ones.
//! - [`ExponentialBackoff`]: pauses that double up to a cap, reset on success.
//! - [`handles`]: the file-handle budget the caps must fit in.
//!
//! Everything that decides is pure and takes the time as an argument; the
//! I/O wrappers only hold a lock and delegate.

mod admission;
mod backoff;
pub mod handles;
#[cfg(feature = "http")]
pub mod http;
mod idle;
mod limits;
mod listener;
mod log_limit;

pub use admission::{Admission, Refusal};
pub use backoff::ExponentialBackoff;
pub use idle::Admitted;
pub use limits::ListenerLimits;
pub use listener::BoundedListener;
pub use log_limit::{LogLimiter, SharedLogLimiter};
