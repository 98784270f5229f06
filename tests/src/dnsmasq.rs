//! dnsmasq as a reference DHCP server in a host namespace: the yardstick for
//! the client helpers, the benchmark and `dnsctl import-dnsmasq`.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{BRIDGE, Host, NsProcess, wait_until};

/// A lease as dnsmasq writes it: `expiry mac address hostname client-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqLease {
    /// Unix time the lease expires.
    pub expires: u64,
    pub mac: String,
    pub address: Ipv4Addr,
    /// `None` for dnsmasq's `*`.
    pub hostname: Option<String>,
}

/// dnsmasq serving DHCP (DNS off) on a host's bridge; killed on drop.
pub struct Dnsmasq {
    process: NsProcess,
    pub lease_file: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq on `host`'s `lxdbr0` handing out `first..=last` (mask
    /// 255.255.0.0) for `lease` (dnsmasq syntax, e.g. "2m": its minimum),
    /// telling clients domain `lxd` and DNS server = the host's bridge
    /// address. `extra` arguments are appended (e.g. `--dhcp-host=...`).
    pub fn start(
        host: &Host,
        dir: &Path,
        (first, last): (Ipv4Addr, Ipv4Addr),
        lease: &str,
        extra: &[&str],
    ) -> io::Result<Dnsmasq> {
        let dir = dir.join(format!("dnsmasq-h{}", host.index));
        fs::create_dir_all(&dir)?;
        let lease_file = dir.join("leases");
        let mut args = vec![
            "dnsmasq".to_string(),
            "--no-daemon".into(),
            "--conf-file=/dev/null".into(),
            "--port=0".into(),
            format!("--interface={BRIDGE}"),
            "--bind-interfaces".into(),
            format!("--dhcp-range={first},{last},255.255.0.0,{lease}"),
            format!("--dhcp-leasefile={}", lease_file.display()),
            format!("--pid-file={}", dir.join("pid").display()),
            "--domain=lxd".into(),
            format!("--dhcp-option=option:dns-server,{}", host.bridge_address()),
            "--dhcp-authoritative".into(),
            "--log-dhcp".into(),
            "--log-facility=-".into(),
            // Stay root: the lease file lives in the test's directory.
            "--user=root".into(),
            "--group=root".into(),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let process = host.spawn(&args, &dir.join("log"))?;
        let dnsmasq = Dnsmasq {
            process,
            lease_file,
        };
        // dnsmasq writes its (empty) lease file once its sockets are bound.
        if !wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            dnsmasq.lease_file.exists()
        }) {
            return Err(io::Error::other(format!(
                "dnsmasq did not start:\n{}",
                dnsmasq.log()
            )));
        }
        Ok(dnsmasq)
    }

    pub fn leases(&self) -> Vec<DnsmasqLease> {
        fs::read_to_string(&self.lease_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [expires, mac, address, hostname, ..] = fields.as_slice() else {
                    return None;
                };
                Some(DnsmasqLease {
                    expires: expires.parse().ok()?,
                    mac: mac.to_ascii_lowercase(),
                    address: address.parse().ok()?,
                    hostname: (*hostname != "*").then(|| hostname.to_string()),
                })
            })
            .collect()
    }

    pub fn lease_for(&self, mac: &str) -> Option<DnsmasqLease> {
        let mac = mac.to_ascii_lowercase();
        self.leases().into_iter().find(|lease| lease.mac == mac)
    }

    pub fn log(&self) -> String {
        self.process.log_text()
    }
}
