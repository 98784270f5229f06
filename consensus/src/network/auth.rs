//! Who may do what on the cluster listener.
//!
//! - The shared cluster token, a bearer secret checked in constant time, on
//!   every request: over TLS a second factor, in plaintext the only one.
//! - Over TLS, every request is bound to the node id of the client's
//!   certificate ([`PeerIdentity`]): a Raft RPC must be sent by the node it
//!   speaks for ([`check_claim`]: the leader of an AppendEntries or
//!   InstallSnapshot, the candidate of a vote), a join must be for the
//!   certificate's id, and the other endpoints serve members only.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use raftmasq_config::ClusterToken;

use super::PeerIdentity;
use crate::types::NodeId;

/// A request refused for who sent it: HTTP 403 with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, format!("{}\n", self.0)).into_response()
    }
}

/// Refuses a request whose claimed node (`claimed`: the leader or candidate
/// it speaks for, or the id it joins as) is not the node of the client
/// certificate. On a plaintext link there is no certificate and nothing to
/// bind: only the token stands.
pub fn check_claim(
    peer: &PeerIdentity,
    claimed: Option<NodeId>,
    action: &str,
) -> Result<(), Refused> {
    let Some(certified) = peer.node else {
        return Ok(());
    };
    if claimed == Some(certified) {
        return Ok(());
    }
    let claimed = claimed.map_or_else(|| "no node".to_string(), |id| format!("node {id}"));
    tracing::warn!(peer = %peer.addr, certified, %claimed, action, "cluster request refused: the certificate's node is not the one the request speaks for");
    Err(Refused(format!(
        "the certificate of node {certified} cannot {action} as {claimed}"
    )))
}

/// `Authorization` header value for outgoing requests.
pub fn bearer(token: &ClusterToken) -> String {
    format!("Bearer {}", token.expose())
}

static REFUSED_TOKENS: std::sync::LazyLock<raftmasq_limits::SharedLogLimiter<String>> =
    std::sync::LazyLock::new(|| {
        raftmasq_limits::SharedLogLimiter::new(std::time::Duration::from_secs(10))
    });

/// Axum middleware: 401 unless the request carries the cluster token.
pub async fn require_token(
    State(token): State<ClusterToken>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(secret) if token.matches(secret) => next.run(request).await,
        _ => {
            let path = request.uri().path().to_string();
            // A client repeating it gets one line per interval.
            if let Some(suppressed) = REFUSED_TOKENS.check(&path) {
                tracing::warn!(%path, suppressed, "cluster request without a valid token refused");
            }
            let refusal =
                (StatusCode::UNAUTHORIZED, "missing or wrong cluster token\n").into_response();
            raftmasq_limits::http::refuse(request, refusal).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(node: Option<NodeId>) -> PeerIdentity {
        PeerIdentity {
            addr: "10.99.0.66:40000".parse().expect("address"),
            node,
        }
    }

    #[test]
    fn a_certificate_acts_only_for_its_own_node() {
        assert_eq!(check_claim(&peer(Some(2)), Some(2), "vote"), Ok(()));
        let refused = check_claim(&peer(Some(2)), Some(3), "vote").expect_err("refused");
        assert_eq!(refused.0, "the certificate of node 2 cannot vote as node 3");
        assert!(check_claim(&peer(Some(2)), None, "append entries").is_err());
        // Plaintext: the token alone decides.
        assert_eq!(check_claim(&peer(None), Some(3), "vote"), Ok(()));
        let response = refused.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn bearer_carries_the_secret() {
        let token = ClusterToken::new("s3cret").expect("valid token");
        assert_eq!(bearer(&token), "Bearer s3cret");
    }
}
