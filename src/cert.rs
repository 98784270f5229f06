//! `raftmasq cert`: the cluster CA and the node certificates of the cluster
//! link (docs/security.md, "Certificate lifecycle").

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use raftmasq_consensus::network::pki::{self, Pem};

/// Where `init-ca` writes and the others read the CA by default.
pub const DEFAULT_DIR: &str = "/etc/raftmasq/tls";

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create the cluster CA: DIR/ca.pem (give it to every host) and
    /// DIR/ca.key (mode 600; keep it off the hosts if you can).
    InitCa {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// Replace an existing CA (every node certificate must then be issued again).
        #[arg(long)]
        force: bool,
    },
    /// Issue node N's certificate with a new key.
    Issue(NodeArgs),
    /// Renew node N's certificate, keeping its key (e.g. before it expires).
    Renew(NodeArgs),
    /// Replace node N's key and certificate (e.g. after the key was exposed).
    Rotate(NodeArgs),
    /// Issue the admin listener's HTTPS certificate (server only; it names
    /// no node and cannot join the cluster), for the names and addresses
    /// `dnsctl` and browsers use to reach `node.admin_addr`.
    IssueAdmin(AdminArgs),
    /// Print which node a certificate file is for.
    Show { file: PathBuf },
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// A DNS name the admin API is reached by (repeatable).
    #[arg(long = "name")]
    names: Vec<String>,
    /// An address the admin API is reached by (repeatable), e.g. node.admin_addr's.
    #[arg(long = "ip")]
    addresses: Vec<std::net::IpAddr>,
    #[command(flatten)]
    files: IssuedFiles,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node id the certificate is for (`node.id` of that host).
    #[arg(long)]
    node_id: u64,
    #[command(flatten)]
    files: IssuedFiles,
    /// `issue` over existing files.
    #[arg(long)]
    force: bool,
}

/// Where the CA is and where an issued certificate and key go.
#[derive(Debug, Args)]
pub struct IssuedFiles {
    /// Where ca.pem and ca.key are.
    #[arg(long, default_value = DEFAULT_DIR)]
    ca_dir: PathBuf,
    /// The certificate to write (default: CA_DIR/node-N.pem, or
    /// CA_DIR/admin.pem for `issue-admin`, node.admin_tls.cert_file's default).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The key to write, or with `renew` to keep (default: CA_DIR/node-N.key,
    /// or CA_DIR/admin.key).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Validity in days.
    #[arg(long, default_value_t = 397)]
    days: u32,
    /// Give the written files to this user (and its group), e.g. `raftmasq`,
    /// the user the service runs as. The key stays mode 600.
    #[arg(long)]
    owner: Option<String>,
}

impl IssuedFiles {
    /// The certificate and key paths: as given, else `STEM.pem` and
    /// `STEM.key` in the CA directory.
    fn paths(&self, stem: &str) -> (PathBuf, PathBuf) {
        let cert = self.cert.clone();
        let key = self.key.clone();
        (
            cert.unwrap_or_else(|| self.ca_dir.join(format!("{stem}.pem"))),
            key.unwrap_or_else(|| self.ca_dir.join(format!("{stem}.key"))),
        )
    }
}

pub fn run(command: CertCommand) -> anyhow::Result<()> {
    match command {
        CertCommand::InitCa { dir, days, force } => init_ca(&dir, days, force),
        CertCommand::Issue(args) => node(&args, Mode::Issue),
        CertCommand::Renew(args) => node(&args, Mode::Renew),
        CertCommand::Rotate(args) => node(&args, Mode::Rotate),
        CertCommand::IssueAdmin(args) => admin(&args),
        CertCommand::Show { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let info = pki::describe(&text).map_err(|reason| {
                anyhow::anyhow!(
                    "{}: not a raftmasq node certificate: {reason}",
                    file.display()
                )
            })?;
            println!("{}: node {}", file.display(), info.node_id);
            Ok(())
        }
    }
}

fn init_ca(dir: &Path, days: u32, force: bool) -> anyhow::Result<()> {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    if !force && (cert.exists() || key.exists()) {
        bail!(
            "{} already has a CA; every node certificate depends on it. Use --force to replace it",
            dir.display()
        );
    }
    create_dir(dir)?;
    let ca = pki::new_ca(days)?;
    write(&key, &ca.key, 0o600)?;
    write(&cert, &ca.cert, 0o644)?;
    println!(
        "cluster CA written: {} (copy to every host as cluster.tls.ca_file) and {} (secret)",
        cert.display(),
        key.display()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Issue,
    Renew,
    Rotate,
}

fn node(args: &NodeArgs, mode: Mode) -> anyhow::Result<()> {
    let files = &args.files;
    let ca = read_ca(&files.ca_dir)?;
    let id = args.node_id;
    let (cert, key) = files.paths(&format!("node-{id}"));
    let kept_key = match mode {
        Mode::Issue => {
            if !args.force && (cert.exists() || key.exists()) {
                bail!(
                    "{} or {} exists: use `raftmasq cert renew` (same key) or `rotate` (new key), or --force",
                    cert.display(),
                    key.display()
                );
            }
            None
        }
        Mode::Renew => {
            Some(std::fs::read_to_string(&key).with_context(|| {
                format!("cannot read node {id}'s key {} to renew", key.display())
            })?)
        }
        Mode::Rotate => None,
    };
    if let Some(parent) = cert.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    let issued = pki::issue_node(&ca, id, kept_key.as_deref(), files.days)?;
    // The key first: a node reloading between the two writes sees a key
    // that does not match its certificate, keeps its old pair, and loads
    // the new one when the certificate lands.
    if mode != Mode::Renew {
        write(&key, &issued.key, 0o600)?;
    }
    write(&cert, &issued.cert, 0o644)?;
    if let Some(owner) = &files.owner {
        chown(owner, &[&key, &cert])?;
    }
    let done = match mode {
        Mode::Issue => "issued",
        Mode::Renew => "renewed (same key)",
        Mode::Rotate => "rotated (new key)",
    };
    println!(
        "node {id}: certificate {done}, valid {} days: {} and {}",
        files.days,
        cert.display(),
        key.display()
    );
    Ok(())
}

fn admin(args: &AdminArgs) -> anyhow::Result<()> {
    if args.names.is_empty() && args.addresses.is_empty() {
        bail!("give at least one --name or --ip the admin API is reached by");
    }
    let files = &args.files;
    let ca = read_ca(&files.ca_dir)?;
    let (cert, key) = files.paths("admin");
    if let Some(parent) = cert.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    let issued = pki::issue_admin(&ca, &args.names, &args.addresses, files.days)?;
    write(&key, &issued.key, 0o600)?;
    write(&cert, &issued.cert, 0o644)?;
    if let Some(owner) = &files.owner {
        chown(owner, &[&key, &cert])?;
    }
    println!(
        "admin certificate issued, valid {} days: {} and {} (node.admin_tls.cert_file, key_file; dnsctl trusts it with --ca-file {})",
        files.days,
        cert.display(),
        key.display(),
        files.ca_dir.join("ca.pem").display()
    );
    Ok(())
}

fn read_ca(dir: &Path) -> anyhow::Result<Pem> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (create the CA with `raftmasq cert init-ca --dir {}`)",
                path.display(),
                dir.display()
            )
        })
    };
    Ok(Pem {
        cert: read("ca.pem")?,
        key: read("ca.key")?,
    })
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn write(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    pki::write_file(path, contents, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn chown(owner: &str, paths: &[&Path]) -> anyhow::Result<()> {
    let user = nix::unistd::User::from_name(owner)
        .with_context(|| format!("cannot look up user {owner}"))?
        .ok_or_else(|| anyhow::anyhow!("no user {owner} on this host"))?;
    for path in paths {
        nix::unistd::chown(*path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("cannot give {} to {owner}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn args(dir: &Path, id: u64) -> NodeArgs {
        NodeArgs {
            node_id: id,
            files: IssuedFiles {
                ca_dir: dir.to_path_buf(),
                cert: None,
                key: None,
                days: 30,
                owner: None,
            },
            force: false,
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn init_issue_renew_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        init_ca(dir, 30, false).unwrap();
        assert_eq!(mode(&dir.join("ca.key")), 0o600);
        assert!(init_ca(dir, 30, false).is_err(), "an existing CA is kept");

        node(&args(dir, 2), Mode::Issue).unwrap();
        let (cert, key) = (dir.join("node-2.pem"), dir.join("node-2.key"));
        assert_eq!(mode(&key), 0o600);
        let read = |path: &Path| std::fs::read_to_string(path).unwrap();
        assert_eq!(pki::describe(&read(&cert)).unwrap().node_id, 2);
        assert!(
            node(&args(dir, 2), Mode::Issue).is_err(),
            "no silent overwrite"
        );

        let first = (read(&cert), read(&key));
        node(&args(dir, 2), Mode::Renew).unwrap();
        assert_eq!(read(&key), first.1, "renew keeps the key");
        assert_ne!(read(&cert), first.0);
        node(&args(dir, 2), Mode::Rotate).unwrap();
        assert_ne!(read(&key), first.1, "rotate replaces the key");
        assert_eq!(mode(&key), 0o600);

        // What the daemon loads: the issued files work as node 2's TLS.
        let paths = raftmasq_consensus::TlsPaths {
            ca_file: dir.join("ca.pem"),
            cert_file: cert,
            key_file: key,
            crl_file: None,
        };
        raftmasq_consensus::ClusterTls::load(2, paths).unwrap();
    }
}
