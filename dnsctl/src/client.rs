//! Finding the node to talk to, and talking to it: one blocking call per
//! request over a small single-threaded runtime.

use std::time::Duration;

use raftmasq_config::{ClusterToken, Config};
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
    /// `host:port` of the admin API.
    pub node: String,
    token: Option<ClusterToken>,
    /// Why there is no token, to explain a 401.
    token_problem: Option<String>,
}

impl Client {
    /// The node from `--node` or the configuration; the token from
    /// `--token-file` or the configuration's `cluster.token_file`.
    pub fn locate(cli: &Cli) -> Result<Client, Error> {
        let config = Config::read(&cli.config);
        let node = match (&cli.node, &config) {
            (Some(node), _) => node.clone(),
            (None, Ok(config)) => config.node.admin_addr.to_string(),
            (None, Err(error)) => {
                return Err(Error::Config {
                    reason: error.to_string(),
                });
            }
        };
        let (token, token_problem) = match (&cli.token_file, &config) {
            (Some(path), _) => (Some(read_token(path)?), None),
            (None, Ok(config)) => match config.load_token() {
                Ok(token) => (Some(token), None),
                Err(error) => (None, Some(error.to_string())),
            },
            (None, Err(_)) => (
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
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
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
        self.call(request)
    }

    /// A write: carries the token when dnsctl has one.
    pub fn write<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .json(body)
            .timeout(WRITE_TIMEOUT);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        self.call(request)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{PREFIX}{path}", self.node)
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
                    (Some(_), _) => " — the token dnsctl sent was refused: check that --token-file (or the configuration's cluster.token_file) holds this cluster's token".to_string(),
                    (None, Some(problem)) => format!(" — dnsctl sent no token: {problem}; pass --token-file FILE or run as a user who can read the token file"),
                    (None, None) => " — dnsctl sent no token: pass --token-file FILE".to_string(),
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

fn read_token(path: &std::path::Path) -> Result<ClusterToken, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    ClusterToken::new(text.trim()).map_err(|reason| Error::Token {
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
    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(super::encode("web-1"), "web-1");
        assert_eq!(super::encode("02:42 a&b=c"), "02%3A42%20a%26b%3Dc");
        assert_eq!(super::encode("é"), "%C3%A9");
    }
}
