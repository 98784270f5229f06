//! The admin API on `node.admin_addr`, for `dnsctl` and operators: JSON under
//! `/api/v1`, one module per resource. The JSON types live in
//! `raftmasq_api` so the CLI and the daemon share one definition.
//!
//! Reads come from the local replica (they work while other members are down)
//! unless `?consistent=true` asks for a linearizable read. Writes reach the
//! leader from any node. Who may do what is `access` (the admin credential
//! over TCP, peer credentials on the local socket); where connections come
//! from is `listen`. Errors are `{"error": kind, "message": what to do}` with
//! 400 bad input, 401 credential, 403 refused, 404 unknown, 409 refused by
//! the cluster state, 503 no quorum or leader unreachable.
//!
//! The web dashboard (`/ui/`) lives in `dashboard`.

mod access;
mod conflicts;
pub(crate) mod dashboard;
mod import;
mod leases;
pub(crate) mod listen;
mod members;
mod networks;
pub mod observability;
pub(crate) mod records;
mod reservations;
pub(crate) mod settings;
pub(crate) mod setup;
mod status;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use raftmasq_api::{ApiError, PREFIX};
use raftmasq_consensus::state::{Command, Millis, Rejection, Response as Answer};
use raftmasq_consensus::store::Replica;
use raftmasq_consensus::{ClusterNode, ReadError, WriteError};

#[derive(Clone)]
pub(crate) struct Admin {
    node: ClusterNode,
    history: dashboard::SharedHistory,
    /// The DNS servers leases get: shown in `/status`, and a node is not
    /// ready until the list names every host.
    dns_servers: crate::dhcp::DnsServerSource,
    /// This node's file's cluster-wide values (`settings`).
    file_settings: Arc<settings::FileSettings>,
}

/// Serves the admin API and the dashboard, and keeps the dashboard's history,
/// until the returned future is dropped.
pub(crate) async fn serve(
    node: ClusterNode,
    listener: listen::AdminListener,
    policy: access::AccessPolicy,
    dns_servers: crate::dhcp::DnsServerSource,
    file_settings: settings::FileSettings,
) {
    let history = Arc::new(Mutex::new(dashboard::History::new()));
    let admin = Admin {
        node: node.clone(),
        history: history.clone(),
        dns_servers,
        file_settings: Arc::new(file_settings),
    };
    let recorder = dashboard::recorder::run(node, history, || Some(observability::totals()));
    let limits = listener.limits();
    let app = router(admin, Arc::new(policy));
    tokio::select! {
        () = raftmasq_limits::http::serve(listener, app, limits) => {}
        () = recorder => {}
    }
}

fn router(admin: Admin, policy: Arc<access::AccessPolicy>) -> Router {
    let api = Router::new()
        .merge(status::routes())
        .merge(leases::routes())
        .merge(members::routes())
        .merge(reservations::routes())
        .merge(records::routes())
        .merge(conflicts::routes())
        .merge(import::routes())
        .merge(settings::routes())
        .merge(dashboard::api_routes())
        .layer(axum::extract::DefaultBodyLimit::max(32 << 20))
        .with_state(admin.clone());
    Router::new()
        .merge(observability::routes().with_state(admin.clone()))
        .merge(dashboard::page_routes().with_state(admin))
        .nest(PREFIX, api)
        .layer(middleware::from_fn_with_state(policy, access::check))
}

/// An error answer: status code, stable kind, and a message that says what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    fn internal(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: self.kind.to_string(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

const QUORUM_HINT: &str = "writes and consistent reads need a majority of the members up and connected: check `dnsctl status`";

impl From<WriteError> for Failure {
    fn from(error: WriteError) -> Failure {
        match error {
            WriteError::Internal { .. } => Failure::internal(error.to_string()),
            WriteError::ShuttingDown { .. } => {
                Failure::unavailable(format!("{error}; try another host with --node"))
            }
            _ => Failure::unavailable(format!("{error} — {QUORUM_HINT}")),
        }
    }
}

impl From<ReadError> for Failure {
    fn from(error: ReadError) -> Failure {
        match error {
            ReadError::Write(write) => write.into(),
            other => Failure::unavailable(format!("{other} — {QUORUM_HINT}")),
        }
    }
}

/// A command the state machine refused: the input was bad (400), names
/// something that does not exist (404), or clashes with the state (409).
pub(crate) fn refused(reason: &Rejection) -> Failure {
    let message = reason.to_string();
    match reason {
        Rejection::OutsideSubnet { .. }
        | Rejection::InvalidRecord(_)
        | Rejection::InvalidHostname { .. }
        | Rejection::InvalidSettings(_)
        | Rejection::Retired { .. }
        | Rejection::SettingFixed { .. } => Failure::bad_request(message),
        Rejection::NoSuchLease { .. } | Rejection::NoSuchRecord => Failure::not_found(message),
        Rejection::NoSuchReservation { mac } => Failure::not_found(format!(
            "{message}; `dnsctl reservations list` shows the reservations ({mac} has none)"
        )),
        Rejection::NotInitialized => Failure::unavailable(format!(
            "{message}: the first leader writes the cluster settings once a quorum is up"
        )),
        Rejection::DuplicateReservation { mac, .. } => Failure::conflict(format!(
            "{message}; remove it first with `dnsctl reservations rm {mac}`"
        )),
        _ => Failure::conflict(message),
    }
}

impl Admin {
    /// Runs `read` on the local replica, or linearizably when `consistent`.
    pub(crate) async fn read<T>(
        &self,
        consistent: bool,
        read: impl FnOnce(&Replica) -> T,
    ) -> Result<T, Failure> {
        if consistent {
            Ok(self.node.consistent_read(read).await?)
        } else {
            Ok(read(&self.node.replica().read()))
        }
    }

    /// Cluster time, the node's one clock (e.g. to show ended leases as expired).
    pub(crate) fn now(&self) -> Millis {
        self.node.clock().now_millis()
    }

    /// Commits `command` through the leader; a refusal becomes an error answer.
    pub(crate) async fn commit(&self, command: Command) -> Result<Answer, Failure> {
        match self.node.write(command).await? {
            Answer::Rejected { reason } => Err(refused(&reason)),
            answer => Ok(answer),
        }
    }
}
