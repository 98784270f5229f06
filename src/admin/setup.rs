//! Builds the admin API's edge from the configuration: the listener (HTTPS
//! off loopback, the local socket) and the access policy.

use std::sync::Arc;

use anyhow::Context;
use raftmasq_config::{AdminTlsFiles, Config};
use raftmasq_limits::BoundedListener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::access::AccessPolicy;
use super::listen::{AdminListener, LocalSocket};

/// The admin listener on `tcp` and on `node.admin_socket`.
pub(crate) fn listener(config: &Config, tcp: BoundedListener) -> anyhow::Result<AdminListener> {
    let admin = &config.node.admin;
    let tls = match &admin.tls {
        Some(files) => Some(acceptor(files)?),
        None => None,
    };
    if admin.insecure_plaintext {
        tracing::error!(
            admin_addr = %config.node.admin_addr,
            "node.admin_insecure_plaintext: the admin API is served in clear off loopback; its credential can be read on the network"
        );
    }
    // DHCP and DNS matter more than the socket: without it the node still
    // serves, and dnsctl can use node.admin_addr with the admin token.
    let socket = admin.socket.as_ref().and_then(|path| {
        LocalSocket::bind(path, &admin.socket_group)
            .inspect_err(|error| {
                tracing::error!(error = %format!("{error:#}"), "no admin socket: dnsctl on this host needs --token-file and node.admin_addr");
            })
            .ok()
    });
    Ok(AdminListener::new(tcp, tls, socket)?)
}

/// The access rules, with the admin credential read now: a node without
/// one still serves the socket, reads on the host and health checks.
pub(crate) fn policy(config: &Config) -> AccessPolicy {
    let (token, token_problem) = match config.load_admin_token() {
        Ok(token) => (Some(token), None),
        Err(error) => {
            tracing::warn!(%error, "no admin credential: admin writes over TCP are refused (dnsctl on this host uses the admin socket)");
            (None, Some(error.to_string()))
        }
    };
    AccessPolicy {
        token,
        token_problem,
        public_reads: config.node.admin.public_reads,
        hostnames: config.node.admin.hostnames.clone(),
    }
}

/// Whether the HTTPS listener's certificate and key load (`raftmasq check`).
pub(crate) fn check_tls(config: &Config) -> anyhow::Result<()> {
    match &config.node.admin.tls {
        Some(files) => acceptor(files).map(drop),
        None => Ok(()),
    }
}

fn acceptor(files: &AdminTlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "node.admin_tls.cert_file {}: cannot read the certificate (issue one with `raftmasq cert issue-admin`, or set node.admin_insecure_plaintext)",
                files.cert_file.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file).with_context(|| {
        format!(
            "node.admin_tls.key_file {}: cannot read the key",
            files.key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "node.admin_tls: {} does not match {}",
                files.key_file.display(),
                files.cert_file.display()
            )
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}
