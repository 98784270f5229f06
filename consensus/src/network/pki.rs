//! Making the cluster's certificates (rcgen, ECDSA P-256): the CA, and one
//! certificate per node whose SANs name its id (see `tls`). Used by
//! `raftmasq cert` and by the test fixtures, which make a CA per cluster.
//!
//! The CA's subject is derived from its key (`raftmasq cluster CA` plus a
//! fingerprint of the public key), so a node certificate can be signed with
//! only the CA's key and certificate at hand, and two CAs (old and new, while
//! rotating) never share a subject.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;

use super::tls::{TlsPaths, node_dns_name, node_id_of, node_uri};
use crate::types::NodeId;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the CA certificate is not PEM: {0}")]
    CaCertificate(String),
    #[error(
        "the CA key does not belong to the CA certificate (a certificate signed with it is not accepted by it): {0}"
    )]
    Mismatch(String),
    #[error("node id must be 1 or more")]
    NodeId,
    #[error("validity must be 1 day or more")]
    Validity,
    #[error("cannot write the files: {0}")]
    Io(std::io::Error),
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Backdated so a host whose clock is a little behind accepts a fresh certificate.
const BACKDATE: Duration = Duration::from_secs(3_600);

fn validity(params: &mut CertificateParams, days: u32) -> Result<(), PkiError> {
    if days == 0 {
        return Err(PkiError::Validity);
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::from_secs(u64::from(days) * 86_400);
    Ok(())
}

/// A serial number unique enough for a small cluster: the time in
/// nanoseconds and the node id.
fn serial(id: NodeId) -> SerialNumber {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&nanos.to_be_bytes()[4..]);
    bytes.extend_from_slice(&id.to_be_bytes());
    SerialNumber::from(bytes)
}

fn ca_params(key: &KeyPair, days: u32) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let fingerprint: String = key
        .public_key_raw()
        .iter()
        .skip(1)
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("raftmasq cluster CA {fingerprint}"),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days)?;
    Ok(params)
}

/// A new cluster CA, valid for `days`.
pub fn new_ca(days: u32) -> Result<Pem, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params(&key, days)?;
    params.serial_number = Some(serial(0));
    let cert = params.self_signed(&key)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A certificate for node `id`, signed by `ca`, valid for `days`. With
/// `key_pem` the node keeps its key (renewal); without, a new key is made
/// (issue, rotation).
pub fn issue_node(ca: &Pem, id: NodeId, key_pem: Option<&str>, days: u32) -> Result<Pem, PkiError> {
    if id == 0 {
        return Err(PkiError::NodeId);
    }
    let ca_key = KeyPair::from_pem(&ca.key)?;
    let issuer = Issuer::new(ca_params(&ca_key, days)?, ca_key);
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate()?,
    };
    let mut params = CertificateParams::new(vec![node_dns_name(id)])?;
    params
        .subject_alt_names
        .push(SanType::URI(node_uri(id).try_into()?));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("raftmasq node {id}"));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial(id));
    validity(&mut params, days)?;
    let cert = params.signed_by(&key, &issuer)?;
    check_signed_by(ca, cert.der())?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A server-only certificate for the admin listener (HTTPS for `dnsctl` and
/// the dashboard), for the given host names and addresses, signed by `ca`.
/// It names no node, so it cannot be used on the cluster link.
pub fn issue_admin(
    ca: &Pem,
    names: &[String],
    addresses: &[std::net::IpAddr],
    days: u32,
) -> Result<Pem, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key)?;
    let issuer = Issuer::new(ca_params(&ca_key, days)?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .subject_alt_names
        .extend(addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    let common_name = names
        .first()
        .cloned()
        .or_else(|| addresses.first().map(ToString::to_string))
        .unwrap_or_else(|| "raftmasq admin".to_string());
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial(0));
    validity(&mut params, days)?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Fails unless `leaf` is accepted by the CA certificate in `ca` (catches a
/// CA key that is not the CA certificate's).
fn check_signed_by(ca: &Pem, leaf: &CertificateDer<'_>) -> Result<(), PkiError> {
    let ca_cert = CertificateDer::from_pem_slice(ca.cert.as_bytes())
        .map_err(|error| PkiError::CaCertificate(error.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca_cert)
        .map_err(|error| PkiError::CaCertificate(error.to_string()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
            .build()
            .map_err(|error| PkiError::Mismatch(error.to_string()))?;
    verifier
        .verify_client_cert(leaf, &[], rustls::pki_types::UnixTime::now())
        .map(drop)
        .map_err(|error| PkiError::Mismatch(error.to_string()))
}

/// Writes `contents` to `path` with `mode`, atomically: a temporary file in
/// the same directory, made with that mode from the start, synced, then
/// renamed over `path` (a running node never reads half a file).
pub fn write_file(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file name", path.display())))?;
    let temporary = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Writes the CA certificate (`ca.pem`) and node `id`'s certificate and key
/// (`node-{id}.pem`, `node-{id}.key`, mode 600) into `dir`, and returns
/// their paths: what a node's `[cluster.tls]` names. For fixtures and demos.
pub fn write_node_files(dir: &Path, ca: &Pem, id: NodeId, days: u32) -> Result<TlsPaths, PkiError> {
    let node = issue_node(ca, id, None, days)?;
    std::fs::create_dir_all(dir).map_err(PkiError::Io)?;
    let paths = TlsPaths {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join(format!("node-{id}.pem")),
        key_file: dir.join(format!("node-{id}.key")),
        crl_file: None,
    };
    write_file(&paths.ca_file, &ca.cert, 0o644).map_err(PkiError::Io)?;
    write_file(&paths.cert_file, &node.cert, 0o644).map_err(PkiError::Io)?;
    write_file(&paths.key_file, &node.key, 0o600).map_err(PkiError::Io)?;
    Ok(paths)
}

/// What `raftmasq cert show` prints about a node certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertInfo {
    pub node_id: NodeId,
}

/// The node id of the first certificate of a PEM file's text.
pub fn describe(cert_pem: &str) -> Result<NodeCertInfo, String> {
    let cert =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|error| error.to_string())?;
    let node_id = node_id_of(&cert).map_err(|error| error.to_string())?;
    Ok(NodeCertInfo { node_id })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_node_certificate_names_its_id_and_chains_to_its_ca() {
        let ca = new_ca(30).unwrap();
        let node = issue_node(&ca, 7, None, 10).unwrap();
        assert_eq!(describe(&node.cert).unwrap().node_id, 7);
        // Renewal keeps the key; a new issue does not.
        let renewed = issue_node(&ca, 7, Some(&node.key), 10).unwrap();
        assert_eq!(renewed.key, node.key);
        assert_ne!(renewed.cert, node.cert);
        assert_ne!(issue_node(&ca, 7, None, 10).unwrap().key, node.key);
    }

    #[test]
    fn a_foreign_ca_key_is_refused() {
        let ca = new_ca(30).unwrap();
        let other = new_ca(30).unwrap();
        let mixed = Pem {
            cert: ca.cert.clone(),
            key: other.key,
        };
        let error = issue_node(&mixed, 2, None, 10).unwrap_err();
        assert!(matches!(error, PkiError::Mismatch(_)), "{error}");
        assert!(matches!(
            issue_node(&ca, 0, None, 10).unwrap_err(),
            PkiError::NodeId
        ));
        assert!(matches!(
            issue_node(&ca, 2, None, 0).unwrap_err(),
            PkiError::Validity
        ));
    }
}
