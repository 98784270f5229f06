//! LXD's REST API over its unix socket: one HTTP/1.1 request per connection
//! (hyper), and the lifecycle event stream (a websocket, tokio-tungstenite).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Request;
use hyper::header::HOST;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::Error;
use crate::api::{Envelope, Event, Instance};

/// The most an answer may hold (a few thousand instances fit easily).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The first of `candidates` that exists, or why none can be used.
pub fn find_socket(candidates: &[PathBuf]) -> Result<PathBuf, Error> {
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or_else(|| Error::NoSocket {
            tried: candidates.to_vec(),
        })
}

/// A client of one LXD unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn connect(&self) -> Result<UnixStream, Error> {
        UnixStream::connect(&self.socket)
            .await
            .map_err(|source| Error::Connect {
                socket: self.socket.clone(),
                source,
            })
    }

    /// Every instance of every project, with expanded config and devices.
    pub async fn instances(&self) -> Result<Vec<Instance>, Error> {
        self.get("/1.0/instances?recursion=1&all-projects=true")
            .await?
            .ok_or_else(|| Error::Lxd {
                path: "/1.0/instances".into(),
                status: 404,
                message: "not found".into(),
            })
    }

    /// One instance; `None` if LXD does not know it (any more).
    pub async fn instance(&self, project: &str, name: &str) -> Result<Option<Instance>, Error> {
        self.get(&format!(
            "/1.0/instances/{}?project={}",
            encode(name),
            encode(project)
        ))
        .await
    }

    /// GET `path`; `None` for a 404.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Error> {
        let request = async {
            let stream = self.connect().await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| Error::http(path, e))?;
            let connection = tokio::spawn(connection);
            let request = Request::get(path)
                .header(HOST, "lxd")
                .body(Empty::<Bytes>::new())
                .map_err(|e| Error::http(path, e))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| Error::http(path, e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| Error::http(path, e))?
                .to_bytes();
            connection.abort();
            Ok::<_, Error>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, request)
            .await
            .map_err(|_| Error::Timeout {
                path: path.to_string(),
            })??;
        let envelope: Envelope<T> =
            serde_json::from_slice(&body).map_err(|source| Error::Json {
                path: path.to_string(),
                source,
            })?;
        if status == 404 || envelope.error_code == 404 {
            return Ok(None);
        }
        if envelope.kind == "error" || !(200..300).contains(&status) {
            return Err(Error::Lxd {
                path: path.to_string(),
                status: if envelope.error_code != 0 {
                    envelope.error_code
                } else {
                    status
                },
                message: envelope.error,
            });
        }
        envelope.metadata.map(Some).ok_or_else(|| Error::Lxd {
            path: path.to_string(),
            status,
            message: "answer without metadata".into(),
        })
    }

    /// Subscribes to lifecycle events. Subscribe before reading the
    /// instances, so nothing that happens in between is missed.
    pub async fn events(&self) -> Result<Events, Error> {
        let stream = self.connect().await?;
        let connect = tokio_tungstenite::client_async(
            "ws://lxd/1.0/events?type=lifecycle&all-projects=true",
            stream,
        );
        let (socket, _) = tokio::time::timeout(REQUEST_TIMEOUT, connect)
            .await
            .map_err(|_| Error::Timeout {
                path: "/1.0/events".into(),
            })?
            .map_err(|e| Error::WebSocket(e.to_string()))?;
        Ok(Events { socket })
    }
}

/// The lifecycle event stream.
pub struct Events {
    socket: WebSocketStream<UnixStream>,
}

impl Events {
    /// The next event. LXD pings about every 10 s and drops a client that
    /// does not answer: pings are answered here. A message that is not a
    /// lifecycle event is reported as [`Error::Json`] but does not end the
    /// stream (the caller logs it and reads on); the end of the stream and
    /// transport errors do.
    pub async fn next(&mut self) -> Result<Result<Event, Error>, Error> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or(Error::StreamClosed)?
                .map_err(|e| Error::WebSocket(e.to_string()))?;
            let text = match message {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Ping(payload) => {
                    self.socket
                        .send(Message::Pong(payload))
                        .await
                        .map_err(|e| Error::WebSocket(e.to_string()))?;
                    continue;
                }
                Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(_) => return Err(Error::StreamClosed),
            };
            return Ok(serde_json::from_slice(&text).map_err(|source| Error::Json {
                path: "/1.0/events".into(),
                source,
            }));
        }
    }
}

/// Percent-encodes a path segment or query value (instance and project
/// names are plain in practice; this keeps a stray `?` or `&` harmless).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
