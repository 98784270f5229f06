//! dnsmasq as a reference DHCP server in a host namespace: the yardstick for
//! the client helpers, the benchmark and `dnsctl import-dnsmasq`.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{BRIDGE, Host, NsProcess, wait_until};

/// LXD's dnsmasq command line (see [`Dnsmasq::start_like_lxd`]).
pub fn lxd_command_line(
    listen: &str,
    net: &Path,
    (first, last): (Ipv4Addr, Ipv4Addr),
    expiry: &str,
    conf_file: &Path,
) -> Vec<String> {
    vec![
        "dnsmasq".to_string(),
        "--keep-in-foreground".into(),
        "--strict-order".into(),
        "--bind-interfaces".into(),
        "--except-interface=lo".into(),
        "--pid-file=".into(),
        "--no-ping".into(),
        format!("--interface={BRIDGE}"),
        "--dhcp-rapid-commit".into(),
        format!("--listen-address={listen}"),
        "--dhcp-no-override".into(),
        "--dhcp-authoritative".into(),
        format!("--dhcp-leasefile={}", net.join("dnsmasq.leases").display()),
        format!("--dhcp-hostsfile={}", net.join("dnsmasq.hosts").display()),
        "--dhcp-range".into(),
        format!("{first},{last},{expiry}"),
        "-s".into(),
        "lxd".into(),
        "--interface-name".into(),
        format!("_gateway.lxd,{BRIDGE}"),
        "-S".into(),
        "/lxd/".into(),
        format!("--conf-file={}", conf_file.display()),
        "-u".into(),
        "root".into(),
        "-g".into(),
        "root".into(),
        "--log-facility=-".into(),
        "--log-dhcp".into(),
    ]
}

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

    /// Starts dnsmasq on `host`'s bridge the way LXD 5.0 starts it for a
    /// managed bridge with `ipv4.dhcp` on and `dns.mode` managed
    /// (lxd/network/driver_bridge.go `setup`), with the network's directory
    /// `net` as LXD's `networks/BRIDGE` (`dnsmasq.leases`, `dnsmasq.hosts/`).
    /// Differences, none of which touches DHCP or DNS: `conf_file` stands for
    /// LXD's `dnsmasq.raw` (`raw.dnsmasq`; `/dev/null` for none, which also
    /// keeps the machine's /etc/dnsmasq.d out), no `--quiet-*` (as LXD in
    /// debug mode), the log on stderr, and root instead of LXD's unprivileged
    /// user (the files live in the test's directory).
    pub fn start_like_lxd(
        host: &Host,
        net: &Path,
        (first, last): (Ipv4Addr, Ipv4Addr),
        expiry: &str,
        conf_file: &Path,
    ) -> io::Result<Dnsmasq> {
        fs::create_dir_all(net.join("dnsmasq.hosts"))?;
        let lease_file = net.join("dnsmasq.leases");
        let args = lxd_command_line(
            &host.bridge_address(),
            net,
            (first, last),
            expiry,
            conf_file,
        );
        let log = net.join(format!("dnsmasq-{}.log", crate::wall_ms()));
        let process = host.spawn(&args, &log)?;
        let dnsmasq = Dnsmasq {
            process,
            lease_file,
        };
        // Bound and serving once it names its range.
        if !wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            dnsmasq.log().contains("DHCP, IP range")
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
