//! Which writes come from a browser, and whether from this origin.
//!
//! The dashboard authenticates with the admin token, which its
//! script sends in an `Authorization` header; nothing is ever kept in a
//! cookie, so another site cannot make a browser attach it. Two rules close
//! the rest (see docs/dashboard.md):
//!
//! * a write a browser sends (it carries `Origin` or `Sec-Fetch-Site`) always
//!   needs the token, even on a loopback listener, where `dnsctl` does not;
//! * a browser write from another origin is refused outright, token or not:
//!   `Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin` whose
//!   host and port differ from the `Host` the request was sent to.

use axum::http::{HeaderMap, header};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sender {
    /// No browser headers: `dnsctl`, curl, scripts.
    Tool,
    /// A page of this very listener.
    SameOrigin,
    /// Another site, another port, or an opaque origin: why.
    CrossOrigin(String),
}

pub(crate) fn classify(headers: &HeaderMap) -> Sender {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or("?"));
    let fetch_site = text("sec-fetch-site");
    if origin.is_none() && fetch_site.is_none() {
        return Sender::Tool;
    }
    if let Some(site) = fetch_site
        && site != "same-origin"
        && site != "none"
    {
        return Sender::CrossOrigin(format!("Sec-Fetch-Site: {site}"));
    }
    if let Some(origin) = origin {
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let host = text(header::HOST.as_str());
        match (origin_host, host) {
            (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => {}
            _ => {
                return Sender::CrossOrigin(format!(
                    "Origin {origin} is not this listener ({})",
                    host.unwrap_or("no Host header")
                ));
            }
        }
    }
    Sender::SameOrigin
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{Sender, classify};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn tools_send_no_browser_headers() {
        let tool = headers(&[("host", "127.0.0.1:7381"), ("authorization", "Bearer x")]);
        assert_eq!(classify(&tool), Sender::Tool);
    }

    #[test]
    fn the_dashboard_itself_is_same_origin() {
        let page = headers(&[
            ("host", "127.0.0.1:7381"),
            ("origin", "http://127.0.0.1:7381"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(classify(&page), Sender::SameOrigin);
        let older_browser = headers(&[("host", "lxd1:7381"), ("origin", "http://LXD1:7381")]);
        assert_eq!(classify(&older_browser), Sender::SameOrigin);
    }

    #[test]
    fn another_site_or_port_is_cross_origin() {
        for pairs in [
            vec![
                ("host", "127.0.0.1:7381"),
                ("origin", "http://127.0.0.1:7382"),
                ("sec-fetch-site", "same-site"),
            ],
            vec![("host", "127.0.0.1:7381"), ("sec-fetch-site", "cross-site")],
            vec![
                ("host", "127.0.0.1:7381"),
                ("origin", "http://evil.example"),
            ],
            vec![("host", "127.0.0.1:7381"), ("origin", "null")],
            vec![("origin", "http://127.0.0.1:7381")],
        ] {
            let sender = classify(&headers(&pairs));
            assert!(
                matches!(sender, Sender::CrossOrigin(_)),
                "{pairs:?} gave {sender:?}"
            );
        }
    }
}
