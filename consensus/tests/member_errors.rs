//! A member that answers every request with an HTTP error gets a bounded
//! request rate from the leader, and the leader's log stays short (issue 15:
//! it used to be ~3,000 requests and 10,000 log lines a second).

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use raftmasq_consensus::node::MembershipChange;
use raftmasq_consensus::{
    ClusterLink, ClusterNode, ClusterNodeConfig, ClusterToken, Links, Member,
};
use tempfile::TempDir;
use tokio::net::TcpListener;

use support::{TOKEN, WAIT, settings};

/// Counts the log lines written (warnings and errors, every crate).
#[derive(Clone, Default)]
struct LineCounter(Arc<AtomicU64>);

impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|byte| **byte == b'\n').count() as u64;
        self.0.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A "member" on loopback that answers every request with HTTP 500.
async fn failing_member() -> (String, Arc<AtomicU64>) {
    let requests = Arc::new(AtomicU64::new(0));
    let counted = requests.clone();
    let app = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::Relaxed);
            (StatusCode::INTERNAL_SERVER_ERROR, "broken\n")
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, requests)
}

async fn lone_plaintext_leader(dir: &TempDir) -> ClusterNode {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address").to_string();
    let config = ClusterNodeConfig::new(
        1,
        dir.path().to_path_buf(),
        Member::new(addr),
        ClusterToken::new(TOKEN).expect("token"),
        // Plaintext, so the fake member can answer in HTTP (a TLS failure
        // counts the same way: both are the member failing the request).
        ClusterLink::Plaintext,
        settings(),
    );
    let node = ClusterNode::start(config, listener, Links::default())
        .await
        .expect("start the node");
    node.raft()
        .wait(Some(WAIT))
        .current_leader(1, "the lone node leads")
        .await
        .expect("a leader");
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_answering_errors_gets_a_bounded_request_rate_and_few_log_lines() {
    let lines = LineCounter::default();
    let writer = lines.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(move || writer.clone())
        .try_init();

    let dir = TempDir::new().expect("temp dir");
    let leader = lone_plaintext_leader(&dir).await;
    let (member_addr, requests) = failing_member().await;
    leader
        .change_membership(MembershipChange::AddLearner {
            id: 2,
            member: Member::new(member_addr),
        })
        .await
        .expect("the learner is added (without waiting for it)");

    // The leader replicates to the learner, which fails every request.
    let before_lines = lines.0.load(Ordering::Relaxed);
    let before = requests.load(Ordering::Relaxed);
    let window = Duration::from_secs(5);
    tokio::time::sleep(window).await;
    let sent = requests.load(Ordering::Relaxed) - before;
    let logged = lines.0.load(Ordering::Relaxed) - before_lines;

    // Backing off from 50 ms, doubling to 1 s: a handful to reach the cap,
    // then about one a second per kind of request (replication, probes).
    assert!(sent >= 1, "the member is still tried");
    assert!(sent <= 30, "{sent} requests in {window:?}");
    // openraft logs two lines per failed replication; we add one per
    // member and kind of failure per 10 s.
    assert!(logged <= 100, "{logged} log lines in {window:?}");
    leader.shutdown().await;
}
