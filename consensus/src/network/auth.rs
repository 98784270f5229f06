//! The shared cluster token on the wire: a bearer secret, checked in constant time.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use raftmasq_config::ClusterToken;

/// `Authorization` header value for outgoing requests.
pub fn bearer(token: &ClusterToken) -> String {
    format!("Bearer {}", token.expose())
}

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
            tracing::warn!(path = %request.uri().path(), "cluster request without a valid token refused");
            (StatusCode::UNAUTHORIZED, "missing or wrong cluster token\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_carries_the_secret() {
        let token = ClusterToken::new("s3cret").expect("valid token");
        assert_eq!(bearer(&token), "Bearer s3cret");
    }
}
