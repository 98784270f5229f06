//! A fake LXD on a unix socket (hyper server; the event stream is a real
//! websocket upgrade), a fake cluster over a real `LeaseTable`, and a log
//! capture, for the watcher's tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use raftmasq_state::{
    AddressRange, ClusterSettings, Command, HostnamePolicy, LeaseTable, Response as Answer,
};
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

/// What the fake answers; tests change it while the watcher runs.
#[derive(Default)]
pub struct Script {
    /// Body of `/1.0/instances?recursion=1...`, sent as is (garbage allowed).
    pub instances: String,
    /// HTTP status for the instance list.
    pub status: u16,
    /// Bodies of `/1.0/instances/NAME` by name; missing: LXD's 404.
    pub instance: BTreeMap<String, String>,
    /// Paths requested, in order.
    pub requests: Vec<String>,
    /// Event stream connections accepted.
    pub subscriptions: usize,
    /// Pongs received (answers to our pings).
    pub pongs: usize,
}

pub struct FakeLxd {
    pub socket: PathBuf,
    pub script: Arc<Mutex<Script>>,
    events: broadcast::Sender<Message>,
    stop: CancellationToken,
}

pub fn sync(metadata: &str) -> String {
    format!(
        r#"{{"type":"sync","status":"Success","status_code":200,"error_code":0,"error":"","metadata":{metadata}}}"#
    )
}

pub fn instance_json(name: &str, mac: &str, extra_config: &str) -> String {
    format!(
        r#"{{"name":"{name}","project":"default","status":"Running","expanded_config":{{"volatile.eth0.hwaddr":"{mac}"{extra_config}}},"expanded_devices":{{"eth0":{{"type":"nic","network":"lxdbr0","name":"eth0"}},"root":{{"type":"disk","path":"/"}}}}}}"#
    )
}

pub fn event_json(action: &str, name: &str, context: &str) -> String {
    format!(
        r#"{{"type":"lifecycle","timestamp":"2026-12-03T12:00:00Z","project":"default","metadata":{{"action":"{action}","source":"/1.0/instances/{name}","context":{{{context}}}}}}}"#
    )
}

impl FakeLxd {
    /// Serves on `socket` until dropped.
    pub fn start(socket: &Path, script: Arc<Mutex<Script>>) -> FakeLxd {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).unwrap();
        let (events, _) = broadcast::channel(64);
        let stop = CancellationToken::new();
        let fake = FakeLxd {
            socket: socket.to_path_buf(),
            script: script.clone(),
            events: events.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => return,
                    },
                };
                let script = script.clone();
                let events = events.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        answer(request, script.clone(), events.clone(), stop.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        fake
    }

    /// Sends one websocket message to every subscriber.
    pub fn send(&self, message: Message) {
        let _ = self.events.send(message);
    }

    pub fn event(&self, json: String) {
        self.send(Message::text(json));
    }

    pub fn set_instances(&self, instances: &[String]) {
        let mut script = self.script.lock().unwrap();
        script.instances = sync(&format!("[{}]", instances.join(",")));
        script.status = 200;
    }

    pub fn subscriptions(&self) -> usize {
        self.script.lock().unwrap().subscriptions
    }

    /// Stops accepting and closes every event stream (LXD going away).
    pub fn stop(&self) {
        self.stop.cancel();
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for FakeLxd {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(
    mut request: Request<Incoming>,
    script: Arc<Mutex<Script>>,
    events: broadcast::Sender<Message>,
    stop: CancellationToken,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    script.lock().unwrap().requests.push(path.clone());
    if path.starts_with("/1.0/events") {
        let key = request
            .headers()
            .get("sec-websocket-key")
            .map(|k| derive_accept_key(k.as_bytes()))
            .unwrap_or_default();
        script.lock().unwrap().subscriptions += 1;
        let upgrade = hyper::upgrade::on(&mut request);
        let mut receiver = events.subscribe();
        let script = script.clone();
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => { let _ = socket.close(None).await; return; }
                    message = receiver.recv() => {
                        let Ok(message) = message else { return };
                        if socket.send(message).await.is_err() { return; }
                    }
                    incoming = socket.next() => match incoming {
                        Some(Ok(Message::Pong(_))) => script.lock().unwrap().pongs += 1,
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    },
                }
            }
        });
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", key)
            .body(Full::new(Bytes::new()))
            .unwrap();
        return Ok(response);
    }
    let script = script.lock().unwrap();
    let (status, body) = if path.starts_with("/1.0/instances?") {
        (script.status, script.instances.clone())
    } else if let Some(rest) = path.strip_prefix("/1.0/instances/") {
        let name = rest.split('?').next().unwrap_or_default();
        match script.instance.get(name) {
            Some(body) => (200, body.clone()),
            None => (
                404,
                r#"{"type":"error","error":"Instance not found","error_code":404,"metadata":null}"#
                    .to_string(),
            ),
        }
    } else {
        (
            404,
            r#"{"type":"error","error":"not found","error_code":404}"#.to_string(),
        )
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

/// A cluster of one: a real table, every write applied at once.
#[derive(Clone)]
pub struct FakeCluster {
    pub table: Arc<Mutex<LeaseTable>>,
    pub writes: Arc<Mutex<Vec<Command>>>,
}

impl FakeCluster {
    pub fn new() -> FakeCluster {
        let mut table = LeaseTable::default();
        table.apply(&Command::Initialize {
            settings: ClusterSettings {
                subnet: "172.16.0.0/16".parse().unwrap(),
                ranges: vec![AddressRange {
                    start: Ipv4Addr::new(172, 16, 1, 0),
                    end: Ipv4Addr::new(172, 16, 1, 255),
                }],
                domain: "lxd".into(),
                lease_time_secs: 120,
                duplicate_hostnames: HostnamePolicy::Suffix,
                decline_quarantine_secs: 60,
                client_identity: Default::default(),
            },
        });
        FakeCluster {
            table: Arc::new(Mutex::new(table)),
            writes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn writes(&self) -> Vec<Command> {
        self.writes.lock().unwrap().clone()
    }
}

impl raftmasq_lxd::Cluster for FakeCluster {
    fn read<T>(&self, f: impl FnOnce(&LeaseTable) -> T) -> T {
        f(&self.table.lock().unwrap())
    }

    async fn write(&self, command: Command) -> Result<Answer, String> {
        self.writes.lock().unwrap().push(command.clone());
        Ok(self.table.lock().unwrap().apply(&command))
    }

    async fn initialized(&self) {}
}

/// Fast retries for tests.
pub fn settings(socket: &Path) -> raftmasq_lxd::Settings {
    let mut settings = raftmasq_lxd::Settings::new(vec![socket.to_path_buf()], "lxdbr0");
    settings.min_backoff = Duration::from_millis(20);
    settings.max_backoff = Duration::from_millis(100);
    settings.write_retry = Duration::from_millis(50);
    settings
}

/// Waits up to 5 s (in 10 ms steps) for `condition`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Captures the log lines of the current test (one subscriber per test
/// thread, `#[tokio::test]` runs on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn install() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
