//! Who may do what on the admin API (docs/security.md, "The admin API").
//!
//! - The local socket (root, the service user, the `raftmasq` group: checked
//!   on its peer credentials when it connects) may do everything.
//! - Over TCP every write needs the admin credential (`node.admin_token_file`,
//!   never the cluster token), on loopback too; reads need it from off this
//!   host unless `node.admin_public_reads`. Health checks and the dashboard's
//!   static page are open: they hold no data.
//! - A `Host` header naming anything but an address, `localhost` or one of
//!   `node.admin_hostnames` is refused, so a DNS-rebinding page cannot read
//!   the lease table through a browser on the host.
//! - A browser write must come from this listener's own page
//!   (`dashboard::browser`).

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use raftmasq_config::AdminToken;

use super::Failure;
use super::dashboard::browser::{self, Sender};
use super::listen::Caller;

/// The rules of one node's admin API.
#[derive(Debug, Clone)]
pub(crate) struct AccessPolicy {
    /// `None`: the token file could not be read (`token_problem` says why);
    /// every TCP write is refused.
    pub token: Option<AdminToken>,
    pub token_problem: Option<String>,
    pub public_reads: bool,
    /// Lowercase, without port.
    pub hostnames: Vec<String>,
}

/// What a request may do, decided from its caller, headers and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    /// 401: a credential is missing or wrong; the message says which.
    NeedsCredential(String),
    /// 403: refused whatever the credential.
    Forbidden(String),
}

impl AccessPolicy {
    pub(crate) fn decide(
        &self,
        caller: &Caller,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Decision {
        if let Some(host) = self.unknown_host(headers) {
            return Decision::Forbidden(format!(
                "Host {host} is not a name of this node: add it to node.admin_hostnames, or use the address"
            ));
        }
        let is_read = matches!(*method, Method::GET | Method::HEAD);
        if is_read && is_open(path) {
            return Decision::Allow;
        }
        let sender = browser::classify(headers);
        if !is_read && let Sender::CrossOrigin(why) = &sender {
            return Decision::Forbidden(format!(
                "writes from a web page are accepted only from this node's own dashboard ({why})"
            ));
        }
        let on_host = match caller {
            Caller::Socket { .. } => return Decision::Allow,
            Caller::Network { on_host, .. } => *on_host,
        };
        if is_read && (on_host || self.public_reads) {
            return Decision::Allow;
        }
        if self.presents_token(headers) {
            return Decision::Allow;
        }
        Decision::NeedsCredential(self.hint(is_read, &sender))
    }

    fn presents_token(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|secret| token.matches(secret))
    }

    fn hint(&self, is_read: bool, sender: &Sender) -> String {
        if let Some(problem) = &self.token_problem {
            return format!(
                "this node has no admin credential ({problem}); on the host, `dnsctl` uses the admin socket"
            );
        }
        match (sender, is_read) {
            (Sender::SameOrigin, _) => {
                "enter the admin token (node.admin_token_file) under Admin token".to_string()
            }
            (_, true) => "reads from off this host need the admin token (Authorization: Bearer TOKEN, dnsctl --token-file), or node.admin_public_reads = true".to_string(),
            (_, false) => "writes need the admin token (Authorization: Bearer TOKEN, dnsctl --token-file); on the host, `dnsctl` uses the admin socket".to_string(),
        }
    }

    /// The `Host` header's name when it is neither an address, `localhost`
    /// nor a configured name. An address cannot be rebound; a name can.
    fn unknown_host(&self, headers: &HeaderMap) -> Option<String> {
        let host = headers.get(header::HOST)?.to_str().unwrap_or("?");
        let name = host_name(host).to_ascii_lowercase();
        let known = name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.hostnames.contains(&name);
        (!known).then(|| host.to_string())
    }
}

/// Open to everyone: liveness and readiness, and the dashboard's static
/// page and assets (the data it shows comes from the API).
fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/" | "/ui" | "/ui/") || path.starts_with("/ui/")
}

/// `host:port`, `[v6]:port`, `[v6]` or `host` → the name or address alone.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

pub(crate) async fn check(
    State(policy): State<Arc<AccessPolicy>>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let decision = policy.decide(&caller, request.method(), &path, request.headers());
    match decision {
        Decision::Allow => next.run(request).await,
        Decision::NeedsCredential(hint) => {
            tracing::warn!(%path, ?caller, "admin request without a valid admin token refused");
            raftmasq_limits::http::refuse(
                request,
                Failure::new(StatusCode::UNAUTHORIZED, "unauthorized", hint).into_response(),
            )
            .await
        }
        Decision::Forbidden(why) => {
            tracing::warn!(%path, ?caller, %why, "admin request refused");
            raftmasq_limits::http::refuse(
                request,
                Failure::new(StatusCode::FORBIDDEN, "forbidden", why).into_response(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "admin-secret-0123";

    fn policy() -> AccessPolicy {
        AccessPolicy {
            token: Some(AdminToken::new(SECRET).unwrap()),
            token_problem: None,
            public_reads: false,
            hostnames: vec!["dns1.example".into()],
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn remote() -> Caller {
        Caller::Network {
            peer: "10.99.0.2:40000".parse().unwrap(),
            on_host: false,
        }
    }

    fn loopback() -> Caller {
        Caller::Network {
            peer: "127.0.0.1:40000".parse().unwrap(),
            on_host: true,
        }
    }

    fn bearer(secret: &str) -> String {
        format!("Bearer {secret}")
    }

    #[test]
    fn writes_need_the_admin_token_on_loopback_too() {
        let policy = policy();
        let post = Method::POST;
        let path = "/api/v1/commands";
        let none = headers(&[("host", "127.0.0.1:7381")]);
        assert!(matches!(
            policy.decide(&loopback(), &post, path, &none),
            Decision::NeedsCredential(_)
        ));
        let wrong = headers(&[
            ("host", "127.0.0.1:7381"),
            ("authorization", &bearer("cluster-token")),
        ]);
        assert!(matches!(
            policy.decide(&loopback(), &post, path, &wrong),
            Decision::NeedsCredential(_)
        ));
        let right = headers(&[
            ("host", "127.0.0.1:7381"),
            ("authorization", &bearer(SECRET)),
        ]);
        assert_eq!(
            policy.decide(&loopback(), &post, path, &right),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(&remote(), &post, path, &right),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(&Caller::Socket { uid: 0 }, &post, path, &none),
            Decision::Allow
        );
    }

    #[test]
    fn reads_from_off_the_host_need_the_token_unless_public() {
        let mut policy = policy();
        let get = Method::GET;
        let plain = headers(&[("host", "10.99.0.1:7381")]);
        assert_eq!(
            policy.decide(&loopback(), &get, "/api/v1/leases", &plain),
            Decision::Allow
        );
        assert!(matches!(
            policy.decide(&remote(), &get, "/api/v1/leases", &plain),
            Decision::NeedsCredential(_)
        ));
        assert!(matches!(
            policy.decide(&remote(), &get, "/metrics", &plain),
            Decision::NeedsCredential(_)
        ));
        let signed = headers(&[
            ("host", "10.99.0.1:7381"),
            ("authorization", &bearer(SECRET)),
        ]);
        assert_eq!(
            policy.decide(&remote(), &get, "/api/v1/leases", &signed),
            Decision::Allow
        );
        for open in ["/healthz", "/readyz", "/ui/", "/ui/app.js"] {
            assert_eq!(
                policy.decide(&remote(), &get, open, &plain),
                Decision::Allow,
                "{open}"
            );
        }
        policy.public_reads = true;
        assert_eq!(
            policy.decide(&remote(), &get, "/api/v1/leases", &plain),
            Decision::Allow
        );
        assert!(matches!(
            policy.decide(&remote(), &Method::DELETE, "/api/v1/leases/x", &plain),
            Decision::NeedsCredential(_)
        ));
    }

    #[test]
    fn unknown_host_names_are_refused_addresses_and_configured_names_pass() {
        let policy = policy();
        let get = Method::GET;
        for host in [
            "127.0.0.1:7381",
            "[::1]:7381",
            "localhost:7381",
            "DNS1.example:7381",
            "10.99.0.1",
            "localhost",
        ] {
            let map = headers(&[("host", host)]);
            assert_eq!(
                policy.decide(&loopback(), &get, "/api/v1/leases", &map),
                Decision::Allow,
                "{host}"
            );
        }
        for host in [
            "rebind.attacker.example:7381",
            "dns2.example",
            "localhost.attacker.example",
        ] {
            let map = headers(&[("host", host), ("authorization", &bearer(SECRET))]);
            assert!(
                matches!(
                    policy.decide(&loopback(), &get, "/api/v1/leases", &map),
                    Decision::Forbidden(_)
                ),
                "{host}"
            );
        }
        // Even the open pages: a rebinding page learns nothing at all.
        let map = headers(&[("host", "rebind.attacker.example")]);
        assert!(matches!(
            policy.decide(&loopback(), &get, "/healthz", &map),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn cross_origin_browser_writes_are_refused_even_with_the_token() {
        let policy = policy();
        let map = headers(&[
            ("host", "127.0.0.1:7381"),
            ("origin", "http://evil.example"),
            ("authorization", &bearer(SECRET)),
        ]);
        assert!(matches!(
            policy.decide(&loopback(), &Method::POST, "/api/v1/commands", &map),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn without_a_token_file_the_refusal_says_why() {
        let policy = AccessPolicy {
            token: None,
            token_problem: Some("token file /etc/raftmasq/admin.token does not exist".into()),
            ..policy()
        };
        let map = headers(&[
            ("host", "127.0.0.1:7381"),
            ("authorization", &bearer(SECRET)),
        ]);
        match policy.decide(&loopback(), &Method::POST, "/api/v1/commands", &map) {
            Decision::NeedsCredential(hint) => assert!(hint.contains("does not exist"), "{hint}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("a.example:80"), "a.example");
        assert_eq!(host_name("[::1]:7381"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("a.example"), "a.example");
    }
}
