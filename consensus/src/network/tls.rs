//! The cluster link's TLS: TLS 1.3 only, both sides authenticated by the
//! cluster CA, and every certificate bound to one node id.
//!
//! **Identity.** A node certificate carries its node id twice: as the URI
//! SAN `raftmasq://node/{id}` (what the server side reads to know who is
//! calling) and as the DNS SAN `node-{id}.raftmasq` (what the client side
//! checks with webpki's own name verification, so the node it reached is the
//! node it meant to reach). The CN `raftmasq node {id}` is for people only.
//! Both extended key usages (server and client authentication) are required,
//! since every node is both.
//!
//! **Reload.** [`ClusterTls`] holds the current configuration; every new
//! connection, inbound or outbound, uses the configuration current at that
//! moment. [`ClusterTls::reload`] re-reads the files and swaps in the new
//! configuration only if the whole set is valid (CA bundle, chain, key
//! matching the certificate, the certificate for this node's id and trusted
//! by the bundle); otherwise the old one stays and the reason is returned.
//! Connections already open keep the session they have.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    client::WebPkiServerVerifier,
};

use crate::types::NodeId;

/// The URI SAN prefix of a node certificate: `raftmasq://node/2`.
pub const NODE_URI_PREFIX: &str = "raftmasq://node/";

/// The URI SAN that names node `id`.
pub fn node_uri(id: NodeId) -> String {
    format!("{NODE_URI_PREFIX}{id}")
}

/// The DNS SAN that names node `id` (checked by the client side).
pub fn node_dns_name(id: NodeId) -> String {
    format!("node-{id}.raftmasq")
}

/// Why a certificate names no node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not a readable X.509 certificate: {0}")]
    Unreadable(String),
    #[error("the certificate names no node (no SAN URI {NODE_URI_PREFIX}ID)")]
    NoNode,
    #[error("the certificate names more than one node: {0:?}")]
    SeveralNodes(Vec<String>),
    #[error("bad node URI {0:?} (expected {NODE_URI_PREFIX}ID with a number ID of 1 or more)")]
    BadUri(String),
}

/// The node id a certificate is issued to: its one `raftmasq://node/ID` SAN.
pub fn node_id_of(certificate: &CertificateDer<'_>) -> Result<NodeId, IdentityError> {
    let cert = webpki::EndEntityCert::try_from(certificate)
        .map_err(|error| IdentityError::Unreadable(error.to_string()))?;
    let uris: Vec<&str> = cert
        .valid_uri_names()
        .filter(|uri| uri.starts_with(NODE_URI_PREFIX))
        .collect();
    match uris.as_slice() {
        [] => Err(IdentityError::NoNode),
        [uri] => uri
            .strip_prefix(NODE_URI_PREFIX)
            .and_then(|id| id.parse::<NodeId>().ok())
            .filter(|id| *id >= 1)
            .ok_or_else(|| IdentityError::BadUri((*uri).to_string())),
        several => Err(IdentityError::SeveralNodes(
            several.iter().map(|uri| (*uri).to_string()).collect(),
        )),
    }
}

/// Where a node's TLS files are (`[cluster.tls]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// The cluster CA certificate(s), PEM; several during a CA rotation.
    pub ca_file: PathBuf,
    /// This node's certificate (then any intermediates), PEM.
    pub cert_file: PathBuf,
    /// This node's private key, PEM, mode 600.
    pub key_file: PathBuf,
    /// Revoked certificates (CRLs, PEM), if any.
    pub crl_file: Option<PathBuf>,
}

/// Why TLS material was not (re)loaded. Each message names the file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path}: {reason}")]
    Invalid {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "key file {path} is readable or writable by group or others (mode {mode:03o}); run: chmod 600 {path}"
    )]
    KeyMode { path: PathBuf, mode: u32 },
    #[error(
        "certificate {path} is for node {found}, but this is node {expected}: issue one with `raftmasq cert issue --node-id {expected}`"
    )]
    WrongNode {
        path: PathBuf,
        expected: NodeId,
        found: NodeId,
    },
    #[error("certificate {path} is not accepted with the CA in {ca}: {reason}")]
    Untrusted {
        path: PathBuf,
        ca: PathBuf,
        reason: String,
    },
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// One consistent set of files, checked.
struct Loaded {
    server: Arc<ServerConfig>,
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// What the files looked like when read, to notice a change.
    stamp: Vec<Option<(SystemTime, u64)>>,
}

/// This node's TLS for the cluster link, shared by its listener and its
/// client; cheap to clone, clones share reloads.
#[derive(Clone)]
pub struct ClusterTls {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    paths: TlsPaths,
    current: RwLock<Arc<Loaded>>,
    /// Bumped on every successful reload; clients made before are rebuilt.
    generation: AtomicU64,
    /// Serialises reloads.
    reloading: Mutex<()>,
}

impl fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterTls")
            .field("id", &self.inner.id)
            .field("paths", &self.inner.paths)
            .field("generation", &self.generation())
            .finish()
    }
}

/// Makes ring the process's default rustls provider, unless one is set:
/// reqwest builds a TLS configuration for every client, even one that only
/// speaks plain HTTP, and needs a provider for it. Call before building any
/// reqwest client; calling again does nothing.
pub fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Err: another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ClusterTls {
    /// Reads and checks the files of node `id`.
    pub fn load(id: NodeId, paths: TlsPaths) -> Result<Self, TlsError> {
        let loaded = load(id, &paths)?;
        Ok(ClusterTls {
            inner: Arc::new(Inner {
                id,
                paths,
                current: RwLock::new(Arc::new(loaded)),
                generation: AtomicU64::new(1),
                reloading: Mutex::new(()),
            }),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.id
    }

    pub fn paths(&self) -> &TlsPaths {
        &self.inner.paths
    }

    /// Counts successful loads (1 after [`ClusterTls::load`]).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Re-reads the files. On success new connections use them (and the
    /// generation goes up); on error nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let _one_at_a_time = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let loaded = load(self.inner.id, &self.inner.paths)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether any of the files changed (modification time or size) since
    /// they were last loaded.
    pub fn files_changed(&self) -> bool {
        stamp(&self.inner.paths) != self.current().stamp
    }

    /// The files' modification times and sizes now (compare with a later
    /// one to tell whether they changed again).
    pub fn stamp_now(&self) -> Vec<Option<(SystemTime, u64)>> {
        stamp(&self.inner.paths)
    }

    fn current(&self) -> Arc<Loaded> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The server side of a new inbound connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current().server.clone())
    }

    /// A client configuration that accepts only node `target`'s certificate.
    pub fn client_config(&self, target: NodeId) -> Result<ClientConfig, TlsError> {
        let loaded = self.current();
        client_config(&loaded, target)
    }
}

fn read_pem<T>(
    what: &'static str,
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, TlsError> {
    let bytes = std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    parse(&bytes).map_err(|reason| TlsError::Invalid {
        what,
        path: path.to_path_buf(),
        reason,
    })
}

fn certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not PEM certificates: {error}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

fn check_key_mode(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|error| TlsError::Read {
        what: "key file",
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyMode {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

fn stamp(paths: &TlsPaths) -> Vec<Option<(SystemTime, u64)>> {
    [
        Some(&paths.ca_file),
        Some(&paths.cert_file),
        Some(&paths.key_file),
        paths.crl_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    })
    .collect()
}

fn load(id: NodeId, paths: &TlsPaths) -> Result<Loaded, TlsError> {
    let stamp = stamp(paths);
    let provider = provider();
    let ca = read_pem("CA file", &paths.ca_file, certificates)?;
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert).map_err(|error| TlsError::Invalid {
            what: "CA file",
            path: paths.ca_file.clone(),
            reason: error.to_string(),
        })?;
    }
    let roots = Arc::new(roots);
    let chain = read_pem("certificate file", &paths.cert_file, certificates)?;
    check_key_mode(&paths.key_file)?;
    let key = read_pem("key file", &paths.key_file, |bytes| {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|error| format!("no PEM private key: {error}"))
    })?;
    let crls = match &paths.crl_file {
        None => Vec::new(),
        Some(path) => read_pem("CRL file", path, |bytes| {
            CertificateRevocationListDer::pem_slice_iter(bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("not PEM CRLs: {error}"))
        })?,
    };
    let found = node_id_of(&chain[0]).map_err(|error| TlsError::Invalid {
        what: "certificate file",
        path: paths.cert_file.clone(),
        reason: error.to_string(),
    })?;
    if found != id {
        return Err(TlsError::WrongNode {
            path: paths.cert_file.clone(),
            expected: id,
            found,
        });
    }
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|error| TlsError::Invalid {
            what: "key file",
            path: paths.key_file.clone(),
            reason: error.to_string(),
        })?;
    CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|error| TlsError::Invalid {
            what: "key file",
            path: paths.key_file.clone(),
            reason: format!("does not belong to {}: {error}", paths.cert_file.display()),
        })?;

    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .with_crls(crls.clone())
            .build()
            .map_err(|error| TlsError::Config(error.to_string()))?;
    // Our own certificate must pass what the peers will check: trusted by
    // the bundle, in its validity period, both usages, not revoked.
    let now = UnixTime::now();
    let untrusted = |error: rustls::Error| TlsError::Untrusted {
        path: paths.cert_file.clone(),
        ca: paths.ca_file.clone(),
        reason: error.to_string(),
    };
    client_verifier
        .verify_client_cert(&chain[0], &chain[1..], now)
        .map_err(untrusted)?;
    let loaded_for_check = Loaded {
        server: Arc::new(
            ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|error| TlsError::Config(error.to_string()))?
                .with_client_cert_verifier(client_verifier)
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(|error| TlsError::Config(error.to_string()))?,
        ),
        roots,
        crls,
        chain,
        key: Arc::new(key),
        stamp,
    };
    let server_check = server_verifier(&loaded_for_check)?;
    let name = ServerName::try_from(node_dns_name(id))
        .map_err(|error| TlsError::Config(error.to_string()))?;
    server_check
        .verify_server_cert(
            &loaded_for_check.chain[0],
            &loaded_for_check.chain[1..],
            &name,
            &[],
            now,
        )
        .map_err(untrusted)?;
    let mut loaded = loaded_for_check;
    if let Some(server) = Arc::get_mut(&mut loaded.server) {
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(loaded)
}

fn server_verifier(loaded: &Loaded) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(loaded.roots.clone(), provider())
        .with_crls(loaded.crls.clone())
        .build()
        .map_err(|error| TlsError::Config(error.to_string()))
}

fn client_config(loaded: &Loaded, target: NodeId) -> Result<ClientConfig, TlsError> {
    let verifier = ExpectNode {
        inner: server_verifier(loaded)?,
        name: ServerName::try_from(node_dns_name(target))
            .map_err(|error| TlsError::Config(error.to_string()))?,
        target,
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| TlsError::Config(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(loaded.chain.clone(), loaded.key.clone_key())
        .map_err(|error| TlsError::Config(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts exactly one node's certificate, whatever address it was reached
/// at: the chain is checked by webpki against the cluster CA, for the DNS
/// SAN of `target`, and the URI SAN must name `target` too.
#[derive(Debug)]
struct ExpectNode {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
    target: NodeId,
}

impl ServerCertVerifier for ExpectNode {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)?;
        match node_id_of(end_entity) {
            Ok(id) if id == self.target => Ok(ServerCertVerified::assertion()),
            Ok(other) => Err(rustls::Error::General(format!(
                "the peer is node {other}, not node {} as dialled",
                self.target
            ))),
            Err(error) => Err(rustls::Error::General(error.to_string())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
