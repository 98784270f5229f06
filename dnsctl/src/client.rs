//! Finding the node to talk to, and talking to it: one blocking call per
//! request over a small single-threaded runtime.

use std::time::Duration;

use std::path::{Path, PathBuf};

use raftmasq_config::{AdminToken, Config};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{ApiError, PREFIX};
use crate::cli::Cli;
use crate::error::Error;

/// Reads are answered from memory; writes may wait for a commit (3 s) or a
/// membership change (10 s) on the server.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// What dnsctl talks to, for messages: `host:port` or the socket path.
    pub node: String,
    /// `scheme://authority` requests go to (`http://localhost` on the socket).
    base: String,
    /// The admin credential, sent over TCP (the socket needs none).
    token: Option<AdminToken>,
    /// Why there is no token, to explain a 401.
    token_problem: Option<String>,
}

/// Where the admin API is: the local socket, or TCP with or without TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Socket(PathBuf),
    Tcp { authority: String, https: bool },
}

impl Endpoint {
    /// `--node`: a socket path (`/…`), `https://host:port`, `http://host:port`
    /// or `host:port` (plain HTTP).
    pub fn parse(text: &str) -> Endpoint {
        if text.starts_with('/') {
            return Endpoint::Socket(PathBuf::from(text));
        }
        if let Some(authority) = text.strip_prefix("https://") {
            return Endpoint::Tcp {
                authority: authority.trim_end_matches('/').to_string(),
                https: true,
            };
        }
        let authority = text.strip_prefix("http://").unwrap_or(text);
        Endpoint::Tcp {
            authority: authority.trim_end_matches('/').to_string(),
            https: false,
        }
    }

    /// From the daemon's configuration: its socket when this user may use
    /// it, else `node.admin_addr` (HTTPS when the node serves it).
    pub fn from_config(config: &Config) -> Endpoint {
        if let Some(socket) = &config.node.admin.socket
            && may_connect(socket)
        {
            return Endpoint::Socket(socket.clone());
        }
        Endpoint::Tcp {
            authority: config.node.admin_addr.to_string(),
            https: config.node.admin.tls.is_some(),
        }
    }
}

/// Whether this process may connect to the socket at `path`: it exists and
/// the user may write it (connect(2) needs write permission).
fn may_connect(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

impl Client {
    /// The node from `--node` or the configuration (its admin socket when
    /// this user may use it); the admin token from `--token-file` or the
    /// configuration's `node.admin_token_file`.
    pub fn locate(cli: &Cli) -> Result<Client, Error> {
        let config = Config::read(&cli.config);
        let endpoint = match (&cli.node, &config) {
            (Some(node), _) => Endpoint::parse(node),
            (None, Ok(config)) => Endpoint::from_config(config),
            (None, Err(error)) => {
                return Err(Error::Config {
                    reason: error.to_string(),
                });
            }
        };
        let (token, token_problem) = match (&cli.token_file, &config, &endpoint) {
            (Some(path), _, _) => (Some(read_token(path)?), None),
            (None, _, Endpoint::Socket(_)) => (None, None),
            (None, Ok(config), _) => match config.load_admin_token() {
                Ok(token) => (Some(token), None),
                Err(error) => (None, Some(error.to_string())),
            },
            (None, Err(_), _) => (
                None,
                Some(format!(
                    "no --token-file given and {} is not readable",
                    cli.config.display()
                )),
            ),
        };
        // reqwest needs a TLS provider even for plain HTTP.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        let (node, base) = match &endpoint {
            Endpoint::Socket(path) => {
                builder = builder.unix_socket(path.as_path());
                (path.display().to_string(), "http://localhost".to_string())
            }
            Endpoint::Tcp { authority, https } => {
                if *https {
                    builder = trust(builder, cli, config.as_ref().ok())?;
                }
                let scheme = if *https { "https" } else { "http" };
                (authority.clone(), format!("{scheme}://{authority}"))
            }
        };
        let http = builder
            .build()
            .map_err(|error| Error::Runtime(std::io::Error::other(error)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Client {
            http,
            runtime,
            node,
            base,
            token,
            token_problem,
        })
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let mut url = self.url(path);
        for (index, (key, value)) in query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode(value));
        }
        let request = self.http.get(url).timeout(READ_TIMEOUT);
        self.call(self.authorized(request))
    }

    /// A write.
    pub fn write<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let request = self
            .http
            .request(method, self.url(path))
            .json(body)
            .timeout(WRITE_TIMEOUT);
        self.call(self.authorized(request))
    }

    /// Every request carries the admin token when dnsctl has one: writes
    /// need it over TCP, and so do reads from off the node's host.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{PREFIX}{path}", self.base)
    }

    fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Error> {
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|error| self.transport(&error))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|error| self.transport(&error))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|error| Error::Decode {
                    node: self.node.clone(),
                    reason: error.to_string(),
                });
            }
            let api: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
                error: "http".into(),
                message: format!(
                    "node {} answered HTTP {status}: {}",
                    self.node,
                    String::from_utf8_lossy(&bytes).trim()
                ),
            });
            if status == StatusCode::UNAUTHORIZED {
                let hint = match (&self.token, &self.token_problem) {
                    (Some(_), _) => " — the token dnsctl sent was refused: check that --token-file (or the configuration's node.admin_token_file) holds this node's admin token".to_string(),
                    (None, Some(problem)) => format!(" — dnsctl sent no admin token: {problem}; run dnsctl on the host as root or a member of the raftmasq group (admin socket), or pass --token-file FILE"),
                    (None, None) => " — dnsctl sent no admin token: pass --token-file FILE".to_string(),
                };
                return Err(Error::Unauthorized {
                    message: api.message,
                    hint,
                });
            }
            Err(Error::Api {
                status: status.as_u16(),
                kind: api.error,
                message: api.message,
            })
        })
    }

    fn transport(&self, error: &reqwest::Error) -> Error {
        if error.is_timeout() {
            return Error::Timeout {
                node: self.node.clone(),
                secs: WRITE_TIMEOUT.as_secs(),
            };
        }
        // The innermost cause is the useful part ("Connection refused").
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        Error::Unreachable {
            node: self.node.clone(),
            reason,
        }
    }
}

/// HTTPS: the CA from `--ca-file`, else the configuration's cluster CA
/// (`raftmasq cert issue-admin` signs with it), else the system's roots.
fn trust(
    builder: reqwest::ClientBuilder,
    cli: &Cli,
    config: Option<&Config>,
) -> Result<reqwest::ClientBuilder, Error> {
    let path = match (&cli.ca_file, config) {
        (Some(path), _) => path.clone(),
        (None, Some(config)) if config.cluster.tls.ca_file.is_file() => {
            config.cluster.tls.ca_file.clone()
        }
        (None, _) => return Ok(builder),
    };
    let pem = std::fs::read(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| Error::Token {
            path: path.clone(),
            reason: format!("not a PEM certificate bundle: {error}"),
        })?;
    Ok(certificates
        .into_iter()
        .fold(builder, |builder, certificate| {
            builder.add_root_certificate(certificate)
        }))
}

fn read_token(path: &Path) -> Result<AdminToken, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    AdminToken::new(text.trim()).map_err(|reason| Error::Token {
        path: path.to_path_buf(),
        reason,
    })
}

/// Percent-encodes a query value (RFC 3986: everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn node_argument_names_a_socket_or_an_address() {
        assert_eq!(
            Endpoint::parse("/run/raftmasq/admin.sock"),
            Endpoint::Socket("/run/raftmasq/admin.sock".into())
        );
        let tcp = |authority: &str, https| Endpoint::Tcp {
            authority: authority.to_string(),
            https,
        };
        assert_eq!(
            Endpoint::parse("10.99.0.1:7381"),
            tcp("10.99.0.1:7381", false)
        );
        assert_eq!(
            Endpoint::parse("http://10.99.0.1:7381/"),
            tcp("10.99.0.1:7381", false)
        );
        assert_eq!(
            Endpoint::parse("https://dns1.example:7381"),
            tcp("dns1.example:7381", true)
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(super::encode("web-1"), "web-1");
        assert_eq!(super::encode("02:42 a&b=c"), "02%3A42%20a%26b%3Dc");
        assert_eq!(super::encode("é"), "%C3%A9");
    }
}
