//! The cluster link's TLS, in process: who may connect, who may act as whom,
//! and certificates renewed and rotated under a running cluster without a
//! failed write.

mod support;

use std::time::Duration;

use openraft::ServerState;
use raftmasq_consensus::network::{PeerClient, PeerError, pki};
use raftmasq_consensus::{ClusterLink, ClusterToken, Links, NodeId};
use support::{TOKEN, TestCluster};

/// An HTTPS client presenting `tls`'s certificate, expecting node `target`.
fn client(tls: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client")
}

async fn post(
    http: &reqwest::Client,
    cluster: &TestCluster,
    target: NodeId,
    path: &str,
    body: serde_json::Value,
) -> Result<(u16, String), reqwest::Error> {
    let url = format!("https://{}{path}", cluster.addrs[&target]);
    let response = http
        .post(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

fn vote_as(candidate: NodeId, term: u64) -> serde_json::Value {
    serde_json::json!({"vote": {"leader_id": {"term": term, "node_id": candidate}, "committed": false}, "last_log_id": null})
}

fn append_as(leader: NodeId, term: u64) -> serde_json::Value {
    serde_json::json!({"vote": {"leader_id": {"term": term, "node_id": leader}, "committed": true}, "prev_log_id": null, "entries": [], "leader_commit": null})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_acts_only_for_its_own_node() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let other = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader && *id != follower)
        .expect("a third node");
    let term = cluster.node(follower).metrics().current_term;

    // Node `other`'s real certificate, speaking for someone else.
    let http = client(cluster.tls(other).client_config(follower).expect("tls"));
    for (path, body, what) in [
        ("/raft/vote", vote_as(leader, term + 50), "vote"),
        ("/raft/append", append_as(leader, term + 50), "append"),
        (
            "/cluster/join",
            serde_json::json!({"id": leader, "member": {"cluster_addr": "10.66.0.1:7380"}, "settings": support::settings()}),
            "join",
        ),
    ] {
        let (status, text) = post(&http, &cluster, follower, path, body)
            .await
            .expect("sent");
        assert_eq!(status, 403, "{what}: {text}");
        assert!(
            text.contains(&format!("certificate of node {other} cannot")),
            "{what}: {text}"
        );
    }
    // Nothing changed: same term, same leader.
    let metrics = cluster.node(follower).metrics();
    assert_eq!(metrics.current_term, term);
    assert_eq!(metrics.current_leader, Some(leader));

    // The same certificate speaking for itself is heard (a stale vote is
    // simply not granted: openraft answers, the link does not refuse).
    let (status, text) = post(&http, &cluster, follower, "/raft/vote", vote_as(other, 0))
        .await
        .expect("sent");
    assert_eq!(status, 200, "{text}");

    // A certificate of the CA for a node that is no member: it may ask to
    // join as itself, but it may not read, write, vote as a member or join
    // as another id.
    let stranger = client(cluster.tls(9).client_config(leader).expect("tls"));
    for (path, body) in [
        ("/cluster/write", serde_json::json!({"Expire": {"now": 0}})),
        ("/cluster/read", serde_json::json!(null)),
        ("/cluster/report", serde_json::json!(null)),
        ("/cluster/clock", serde_json::json!(null)),
    ] {
        let (status, text) = post(&stranger, &cluster, leader, path, body)
            .await
            .expect("sent");
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("node 9 is not a member"), "{path}: {text}");
    }
    for (path, body) in [
        ("/raft/vote", vote_as(3, term + 50)),
        (
            "/cluster/join",
            serde_json::json!({"id": 3, "member": {"cluster_addr": "10.66.0.1:7380"}, "settings": support::settings()}),
        ),
    ] {
        let (status, text) = post(&stranger, &cluster, leader, path, body)
            .await
            .expect("sent");
        assert_eq!(status, 403, "{path}: {text}");
    }
    assert_eq!(cluster.node(leader).metrics().state, ServerState::Leader);
    assert!(!cluster.node(leader).is_member(9));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_to_the_ca_and_clients_without_a_certificate_cannot_connect() {
    let cluster = TestCluster::start(1).await;
    cluster.ready().await;
    // A self-signed certificate from another CA, even for a member's id.
    let foreign = tempfile::tempdir().expect("dir");
    let paths = pki::write_node_files(foreign.path(), &support::test_ca(), 1, 1).expect("files");
    let own_ca = raftmasq_consensus::TlsPaths {
        ca_file: cluster.tls(1).paths().ca_file.clone(),
        ..paths
    };
    // The foreign node trusts our CA (so its client verifies our server)
    // but its own certificate is not ours: the handshake fails.
    let impostor = raftmasq_consensus::ClusterTls::load(1, own_ca.clone());
    assert!(
        impostor.is_err(),
        "a certificate of another CA does not even load against ours"
    );
    // An attacker accepts any server; only our side's check matters.
    let cert = std::fs::read(&own_ca.cert_file).expect("cert");
    let key = std::fs::read(&own_ca.key_file).expect("key");
    let refused = post(
        &client(attacker_config(&cert, &key)),
        &cluster,
        1,
        "/cluster/report",
        serde_json::json!(null),
    )
    .await;
    assert!(
        refused.is_err(),
        "a foreign certificate got through: {refused:?}"
    );

    // No certificate at all.
    let bare = reqwest::Client::builder()
        .tls_backend_preconfigured(no_client_cert())
        .build()
        .expect("client");
    let refused = post(
        &bare,
        &cluster,
        1,
        "/cluster/report",
        serde_json::json!(null),
    )
    .await;
    assert!(
        refused.is_err(),
        "a client without a certificate got through"
    );

    // Plain HTTP on the TLS port.
    raftmasq_consensus::network::tls::install_default_provider();
    let plain = reqwest::Client::new();
    let url = format!("http://{}/cluster/report", cluster.addrs[&1]);
    let answer = plain.post(url).json(&()).send().await;
    assert!(
        !answer.map(|r| r.status().is_success()).unwrap_or(false),
        "plain HTTP answered"
    );
    cluster.shutdown().await;
}

/// A client configuration with no client certificate that trusts any server.
fn no_client_cert() -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAny(provider)))
        .with_no_client_auth()
}

/// A client presenting the PEM certificate and key given, trusting any server.
fn attacker_config(cert: &[u8], key: &[u8]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key).expect("key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAny(provider)))
        .with_client_auth_cert(chain, key)
        .expect("client certificate")
}

#[derive(Debug)]
struct AcceptAny(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reaches_only_the_node_it_meant() {
    let cluster = TestCluster::start(2).await;
    cluster.ready().await;
    // Node 1's client, asked for node 2 at node 1's own address: node 1's
    // certificate answers, and the client refuses it.
    let peers = PeerClient::new(
        1,
        ClusterToken::new(TOKEN).expect("token"),
        Links::default(),
        ClusterLink::Tls(cluster.tls(1)),
    );
    let addr = cluster.addrs[&1].to_string();
    let wrong: Result<serde_json::Value, PeerError> = peers
        .post(2, &addr, "/cluster/report", &(), Duration::from_secs(3))
        .await;
    let error = wrong.expect_err("node 1 posing as node 2 accepted");
    assert!(
        error
            .to_string()
            .contains("not valid for name \"node-2.raftmasq\""),
        "the refusal names the mismatch: {error}"
    );
    // The right address works. A fresh client: the refusal has put node 2
    // in this one's backoff for failing members, which is right for a member
    // that fails and beside the point here.
    let peers = PeerClient::new(
        1,
        ClusterToken::new(TOKEN).expect("token"),
        Links::default(),
        ClusterLink::Tls(cluster.tls(1)),
    );
    let right: serde_json::Value = peers
        .post(
            2,
            &cluster.addrs[&2].to_string(),
            "/cluster/report",
            &(),
            Duration::from_secs(3),
        )
        .await
        .expect("node 2 answers");
    assert_eq!(right["id"], 2);
    cluster.shutdown().await;
}

/// Renewal (same key) and rotation (new key, then a new CA) of every node's
/// certificate while writes go on: no write fails, and the nodes end up
/// using the new files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_under_a_running_cluster_without_a_failed_write() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let writer = cluster.node(follower).clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut done = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && done < 2_000 {
                let command = raftmasq_consensus::state::Command::Expire { now: 0 };
                if let Err(error) = writer.write(command).await {
                    panic!("write {done} failed during rotation: {error}");
                }
                done += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        })
    };
    let dir = cluster.tls_dir.path().to_path_buf();
    let generations = |cluster: &TestCluster| -> Vec<u64> {
        cluster.nodes.values().map(node_tls_generation).collect()
    };
    let before = generations(&cluster);

    // Renew every node (same keys), then rotate (new keys), via the files.
    for id in 1..=3u64 {
        let key = std::fs::read_to_string(dir.join(format!("node-{id}.key"))).expect("key");
        let renewed = pki::issue_node(&cluster.ca, id, Some(&key), 1).expect("renew");
        pki::write_file(&dir.join(format!("node-{id}.pem")), &renewed.cert, 0o644).expect("write");
    }
    wait_for_generations(&cluster, &before, 1).await;
    for id in 1..=3u64 {
        let rotated = pki::issue_node(&cluster.ca, id, None, 1).expect("rotate");
        pki::write_file(&dir.join(format!("node-{id}.key")), &rotated.key, 0o600).expect("key");
        pki::write_file(&dir.join(format!("node-{id}.pem")), &rotated.cert, 0o644).expect("cert");
    }
    wait_for_generations(&cluster, &before, 2).await;

    // A CA rotation: both CAs trusted, certificates from the new one, then
    // the old CA dropped.
    let new_ca = pki::new_ca(1).expect("new CA");
    let both = format!("{}{}", cluster.ca.cert, new_ca.cert);
    pki::write_file(&dir.join("ca.pem"), &both, 0o644).expect("bundle");
    wait_for_generations(&cluster, &before, 3).await;
    for id in 1..=3u64 {
        let moved = pki::issue_node(&new_ca, id, None, 1).expect("new CA's certificate");
        pki::write_file(&dir.join(format!("node-{id}.key")), &moved.key, 0o600).expect("key");
        pki::write_file(&dir.join(format!("node-{id}.pem")), &moved.cert, 0o644).expect("cert");
    }
    wait_for_generations(&cluster, &before, 4).await;
    pki::write_file(&dir.join("ca.pem"), &new_ca.cert, 0o644).expect("new CA only");
    wait_for_generations(&cluster, &before, 5).await;

    // New connections now need the new CA: a client with an old-CA
    // certificate is refused, one from the new CA is heard.
    let old_dir = tempfile::tempdir().expect("dir");
    let old = pki::write_node_files(old_dir.path(), &cluster.ca, 1, 1).expect("old");
    assert!(
        raftmasq_consensus::ClusterTls::load(
            1,
            raftmasq_consensus::TlsPaths {
                ca_file: dir.join("ca.pem"),
                ..old
            }
        )
        .is_err(),
        "an old-CA certificate is no longer accepted"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done = writes.await.expect("writer");
    assert!(done > 10, "writes went on during the rotation: {done}");
    // And the cluster still commits over fresh connections.
    let answer = cluster
        .node(leader)
        .write(raftmasq_consensus::state::Command::Expire { now: 0 })
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    cluster.shutdown().await;
}

fn node_tls_generation(node: &raftmasq_consensus::ClusterNode) -> u64 {
    node.tls_generation().unwrap_or(0)
}

/// Waits (bounded) until every node reloaded `steps` times since `before`.
async fn wait_for_generations(cluster: &TestCluster, before: &[u64], steps: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now: Vec<u64> = cluster.nodes.values().map(node_tls_generation).collect();
        if now.iter().zip(before).all(|(n, b)| *n >= b + steps) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "TLS files not reloaded {steps} times: {before:?} -> {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
