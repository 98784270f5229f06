//! `raftmasq check`: everything that can be known about a host's
//! configuration before starting it. The file's own problems all at once
//! (syntax, types, unknown keys, values: the config crate), then the files
//! it names (token, records), the log filter, and, on the host the file is
//! for, the host itself: the bridge interface, the addresses, the ports.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use raftmasq_config::{Config, ConfigError, Upstream};
use raftmasq_consensus::state::DEFAULT_NETWORK;

/// What `check` found beyond the file's own validity.
#[derive(Debug, Default)]
pub struct Findings {
    /// Make the check fail.
    pub problems: Vec<String>,
    /// Worth knowing, not fatal.
    pub warnings: Vec<String>,
}

/// The addresses of this machine's interfaces, and whether an interface exists.
pub trait Host {
    fn has_interface(&self, name: &str) -> bool;
    fn is_local(&self, address: IpAddr) -> bool;
    /// `Some(reason)` when a listener on `address` could not be opened now.
    fn port_in_use(&self, address: SocketAddr, udp: bool) -> Option<String>;
}

/// Checks the files a valid configuration names, its log filter, and the host.
pub fn check(config: &Config, host: &dyn Host) -> Findings {
    let mut findings = Findings::default();
    if let Err(error) = config.load_token() {
        findings.problems.push(error.to_string());
    }
    if let Err(error) = config.load_tsig_keys() {
        findings.problems.push(error.to_string());
    }
    if config.cluster.insecure_plaintext {
        findings.warnings.push(format!(
            "{}: cluster.insecure_plaintext = true: the cluster link is unencrypted and unauthenticated but for the token; anyone on the underlay reads the token and every lease (docs/security.md)",
            config.source.display()
        ));
    } else if let Err(error) = crate::daemon::cluster_link(config) {
        findings.problems.push(format!("{error:#}"));
    }
    check_admin(config, &mut findings);
    if let Err(error) = crate::logging::check_filter(&config.log.level) {
        findings
            .problems
            .push(format!("{}: log.level: {error}", config.source.display()));
    }
    if let Some(path) = &config.dns.records_file {
        check_records_file(path, &mut findings);
    }
    if config.dns.enabled
        && let Some(warning) = Upstream::of_host(&config.dns.upstream).warning()
    {
        findings.warnings.push(warning);
    }
    if config.lxd.enabled
        && let Err(error) = raftmasq_lxd::client::find_socket(&crate::lxd::settings(config).sockets)
    {
        findings.warnings.push(format!(
            "lxd.enabled: {error}; the node will keep looking for it (names and static addresses from LXD wait until then)"
        ));
    }
    check_host(config, host, &mut findings);
    findings
}

/// The admin credential missing is a warning (the socket and reads on the
/// host still work); an HTTPS listener without a usable certificate would
/// not start, so that is a problem.
fn check_admin(config: &Config, findings: &mut Findings) {
    if let Err(error) = config.load_admin_token() {
        findings.warnings.push(format!(
            "{error}: admin writes over TCP (remote dnsctl, the dashboard) are refused until it exists; create it with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE"
        ));
    }
    if config.node.admin.insecure_plaintext {
        findings.warnings.push(format!(
            "{}: node.admin_insecure_plaintext = true: the admin API and its credential travel in clear off loopback (docs/security.md)",
            config.source.display()
        ));
    }
    if config.node.admin.tls.is_some()
        && let Err(error) = crate::admin::setup::check_tls(config)
    {
        findings.problems.push(format!("{error:#}"));
    }
}

fn check_records_file(path: &Path, findings: &mut Findings) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            if let Err(error) = crate::records_file::parse(&text, path) {
                findings
                    .problems
                    .push(format!("dns.records_file: {error:#}"));
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            findings.warnings.push(format!(
                "dns.records_file {} does not exist (allowed: no static records are added)",
                path.display()
            ))
        }
        Err(error) => findings.problems.push(format!(
            "dns.records_file {}: cannot read: {error}",
            path.display()
        )),
    }
}

/// On the host the file is for (its cluster address is one of this machine's),
/// a missing bridge or a foreign address is a problem; anywhere else the host
/// checks are skipped with a warning saying so.
fn check_host(config: &Config, host: &dyn Host, findings: &mut Findings) {
    let cluster_ip = config.node.cluster_addr.ip();
    if !host.is_local(cluster_ip) {
        findings.warnings.push(format!(
            "node.cluster_addr {cluster_ip} is not an address of this machine: checked the file only, not the host it is for"
        ));
        return;
    }
    if config.dhcp.enabled || config.dns.enabled {
        let interface = &config.dhcp.interface;
        if !host.has_interface(interface) {
            findings.problems.push(format!(
                "dhcp.interface {interface:?}: no such interface on this host (create the bridge first, e.g. `lxc network create`)"
            ));
        }
    }
    let mut addresses: Vec<(String, IpAddr)> =
        vec![("node.admin_addr".into(), config.node.admin_addr.ip())];
    if config.dhcp.enabled {
        addresses.push(("dhcp.address".into(), IpAddr::V4(config.dhcp.address)));
        // A relay-only network's address is where its relay listener binds.
        for (index, network) in config.dhcp.networks.iter().enumerate() {
            if network.enabled && network.is_relay_only() {
                addresses.push((
                    format!("dhcp.networks[{index}].address"),
                    IpAddr::V4(network.address),
                ));
            }
        }
    }
    if config.dns.enabled {
        for (index, listen) in config.dns.listen.iter().enumerate() {
            addresses.push((format!("dns.listen[{index}]"), listen.ip()));
        }
    }
    for (key, address) in addresses {
        if !address.is_unspecified() && !host.is_local(address) {
            findings.problems.push(format!(
                "{key}: {address} is not an address of this host (ip -br address shows them)"
            ));
        }
    }
    // A running node holds these itself: in use is worth a warning, not a failure.
    let mut listeners = vec![
        ("node.cluster_addr", config.node.cluster_addr, false),
        ("node.admin_addr", config.node.admin_addr, false),
    ];
    if config.dns.enabled {
        for listen in &config.dns.listen {
            listeners.push(("dns.listen", *listen, true));
            listeners.push(("dns.listen", *listen, false));
        }
    }
    for (key, address, udp) in listeners {
        if let Some(reason) = host.port_in_use(address, udp) {
            let protocol = if udp { "UDP" } else { "TCP" };
            findings.warnings.push(format!(
                "{key} {address} ({protocol}): {reason} (fine if it is this node, running; otherwise stop what holds it)"
            ));
        }
    }
}

/// This machine.
pub struct ThisHost {
    addresses: Vec<IpAddr>,
}

impl ThisHost {
    pub fn read() -> ThisHost {
        let addresses = nix::ifaddrs::getifaddrs()
            .map(|all| {
                all.filter_map(|interface| {
                    let address = interface.address?;
                    if let Some(v4) = address.as_sockaddr_in() {
                        Some(IpAddr::V4(v4.ip()))
                    } else {
                        address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                    }
                })
                .collect()
            })
            .unwrap_or_default();
        ThisHost { addresses }
    }
}

impl Host for ThisHost {
    fn has_interface(&self, name: &str) -> bool {
        !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
    }

    fn is_local(&self, address: IpAddr) -> bool {
        address.is_loopback() || self.addresses.contains(&address)
    }

    fn port_in_use(&self, address: SocketAddr, udp: bool) -> Option<String> {
        let opened = if udp {
            UdpSocket::bind(address).map(drop)
        } else {
            TcpListener::bind(address).map(drop)
        };
        match opened {
            Ok(()) => None,
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Some("in use".into()),
            // Not root, or the address is not here: nothing to learn about the port.
            Err(_) => None,
        }
    }
}

/// Where the file's cluster-wide keys differ from the cluster's, for every
/// network of the file, asked of the node on this host when it runs: over
/// its admin socket when it has one this user may use (no credential, TLS
/// or not), else over plain HTTP on `node.admin_addr` (the default,
/// loopback: reads need no credential there). Each difference is a warning:
/// the node follows the cluster. A node that is not running (before the
/// first start), one reachable only over HTTPS, or a network the cluster
/// does not have yet, adds nothing: `dnsctl settings show` tells the same.
fn compare_with_running_node(config: &Config) -> Vec<String> {
    let socket = config
        .node
        .admin
        .socket
        .as_deref()
        .filter(|path| std::os::unix::net::UnixStream::connect(path).is_ok());
    let base = match socket {
        Some(_) => "http://localhost/api/v1/settings".to_string(),
        None if config.node.admin.tls.is_some() => return Vec::new(),
        None => format!("http://{}/api/v1/settings", config.node.admin_addr),
    };
    let networks: Vec<String> = std::iter::once(DEFAULT_NETWORK.to_string())
        .chain(config.dhcp.networks.iter().map(|n| n.name.clone()))
        .collect();
    let fetched: anyhow::Result<Vec<raftmasq_api::SettingsView>> = (|| {
        raftmasq_consensus::network::tls::install_default_provider();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2));
            if let Some(path) = socket {
                client = client.unix_socket(path);
            }
            let client = client.build()?;
            let mut views = Vec::new();
            for network in &networks {
                let url = if network == DEFAULT_NETWORK {
                    base.clone()
                } else {
                    format!("{base}?network={network}")
                };
                let response = client.get(&url).send().await?;
                // A network the cluster does not hold yet: nothing to compare.
                if response.status() == reqwest::StatusCode::NOT_FOUND && network != DEFAULT_NETWORK
                {
                    continue;
                }
                let view: raftmasq_api::SettingsView = response.error_for_status()?.json().await?;
                // An older node answers `default`'s whatever was asked.
                if view.network == *network {
                    views.push(view);
                }
            }
            Ok(views)
        })
    })();
    let Ok(views) = fetched else {
        return Vec::new();
    };
    differing(config, &views)
}

/// One warning per key where `config` differs from the cluster's values
/// of a network in `views`, named where the file writes it, with the
/// command that applies the file's value.
fn differing(config: &Config, views: &[raftmasq_api::SettingsView]) -> Vec<String> {
    let file = crate::file_settings::FileSettings::from_config(config.source.clone(), config);
    views
        .iter()
        .filter(|view| !view.cluster.is_empty())
        .flat_map(|view| {
            let network = view.network.as_str();
            let ours = if network == DEFAULT_NETWORK {
                Some(&file.settings)
            } else {
                file.network(network).map(|n| &n.settings)
            };
            let mut cluster = ours.cloned();
            for setting in &view.cluster {
                if let Some(current) = &cluster
                    && let Ok(value) =
                        raftmasq_config::with_cluster_value(current, &setting.key, &setting.value)
                {
                    cluster = Some(value);
                }
            }
            cluster
                .and_then(|cluster| file.differences_in(network, &cluster))
                .unwrap_or_default()
                .into_iter()
                .map(|d| {
                    format!(
                        "{}: the cluster has {}, this file {}; the node follows the cluster: {} makes the file's value the cluster's, or edit the file",
                        crate::file_settings::described_key(network, &d),
                        d.cluster,
                        d.other,
                        crate::file_settings::apply_command(network, &config.source),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The exit status and output of `raftmasq check FILE`.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let config = match Config::read(path) {
        Ok(config) => config,
        Err(error @ ConfigError::Invalid { .. }) => {
            anyhow::bail!("{error}\n{} problem(s)", error.problems().len())
        }
        Err(error) => return Err(error.into()),
    };
    let mut findings = check(&config, &ThisHost::read());
    findings.warnings.extend(compare_with_running_node(&config));
    for warning in &findings.warnings {
        eprintln!("{}: warning: {warning}", path.display());
    }
    if !findings.problems.is_empty() {
        anyhow::bail!(
            "{}\n{} problem(s)",
            findings.problems.join("\n"),
            findings.problems.len()
        );
    }
    println!(
        "{}: ok (node {}, cluster of {} peers)",
        path.display(),
        config.node.id,
        config.cluster.peers.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    struct FakeHost {
        interfaces: BTreeSet<&'static str>,
        addresses: Vec<IpAddr>,
        busy: Vec<(SocketAddr, bool)>,
    }

    impl FakeHost {
        /// Host 1 of the examples, with every address and interface its
        /// file names and no port taken.
        fn lxd1() -> FakeHost {
            FakeHost {
                interfaces: BTreeSet::from(["lxdbr0"]),
                addresses: vec![ip("10.99.0.1"), ip("172.16.0.1"), ip("127.0.0.1")],
                busy: Vec::new(),
            }
        }
    }

    impl Host for FakeHost {
        fn has_interface(&self, name: &str) -> bool {
            self.interfaces.contains(name)
        }
        fn is_local(&self, address: IpAddr) -> bool {
            self.addresses.contains(&address)
        }
        fn port_in_use(&self, address: SocketAddr, udp: bool) -> Option<String> {
            self.busy
                .contains(&(address, udp))
                .then(|| "in use".to_string())
        }
    }

    fn config(dir: &Path, extra_dns: &str, level: &str) -> Config {
        let ca = raftmasq_consensus::network::pki::new_ca(1).unwrap();
        let tls = raftmasq_consensus::network::pki::write_node_files(&dir.join("tls"), &ca, 1, 1)
            .unwrap();
        config_with(dir, extra_dns, level, &tls_section(&tls))
    }

    fn tls_section(tls: &raftmasq_consensus::TlsPaths) -> String {
        format!(
            "[cluster.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            tls.ca_file.display(),
            tls.cert_file.display(),
            tls.key_file.display()
        )
    }

    fn config_with(dir: &Path, extra_dns: &str, level: &str, cluster_tls: &str) -> Config {
        let token = dir.join("token");
        std::fs::write(&token, "secret\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let admin_token = dir.join("admin.token");
        std::fs::write(&admin_token, "admin-secret\n").unwrap();
        std::fs::set_permissions(&admin_token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!(
            r#"
[node]
id = 1
data_dir = "{data}"
cluster_addr = "10.99.0.1:7380"
admin_token_file = "{admin_token}"
[cluster]
token_file = "{token}"
peers = ["1=10.99.0.1:7380 bridge=172.16.0.1"]
{cluster_tls}
[dhcp]
interface = "lxdbr0"
address = "172.16.0.1"
subnet = "172.16.0.0/16"
range = "172.16.0.10-172.16.0.250"
[dns]
domain = "lxd"
upstream = ["10.99.0.254"]
listen = ["172.16.0.1:53", "10.99.0.1:53"]
{extra_dns}
[log]
level = "{level}"
"#,
            data = dir.join("data").display(),
            token = token.display(),
            admin_token = admin_token.display(),
        );
        Config::from_toml(&text, dir.join("host.toml")).unwrap()
    }

    /// Answers the first HTTP request on `socket` with `body` (JSON), then
    /// stops; connections that send nothing (the caller's probe whether it
    /// may connect) are skipped, at most three.
    fn serve_once(socket: &Path, body: String) -> std::thread::JoinHandle<()> {
        use std::io::{Read, Write};
        let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            for _ in 0..3 {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).unwrap() {
                        0 => break,
                        n => request.extend_from_slice(&chunk[..n]),
                    }
                }
                if request.is_empty() {
                    continue;
                }
                assert!(request.starts_with(b"GET /api/v1/settings "));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).unwrap();
                return;
            }
            panic!("no request came");
        })
    }

    #[test]
    fn a_running_node_behind_https_is_asked_over_its_admin_socket() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), "", "info");
        config.node.admin.tls = Some(raftmasq_config::AdminTlsFiles {
            cert_file: dir.path().join("admin.pem"),
            key_file: dir.path().join("admin.key"),
        });
        let socket = dir.path().join("admin.sock");
        // No socket yet: an HTTPS-only node is not asked.
        config.node.admin.socket = Some(socket.clone());
        assert!(compare_with_running_node(&config).is_empty());

        let cluster_lease_time = config.cluster_settings().lease_time_secs * 3;
        let view = raftmasq_api::SettingsView {
            node_id: 1,
            cluster: vec![raftmasq_api::SettingValue {
                key: "dhcp.lease_time".into(),
                value: format!("{cluster_lease_time}s"),
                fixed: None,
            }],
            file: "host.toml".into(),
            file_differs: Vec::new(),
            network: "default".into(),
            networks: vec!["default".into()],
        };
        let server = serve_once(&socket, serde_json::to_string(&view).unwrap());
        let warnings = compare_with_running_node(&config);
        server.join().unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("dhcp.lease_time")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_networks_differences_are_named_where_the_file_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let lab = "[[dhcp.networks]]\nname = \"lab\"\ninterface = \"lxdbr1\"\naddress = \"172.20.0.1\"\nsubnet = \"172.20.0.0/24\"\nrange = \"172.20.0.100-172.20.0.199\"\n";
        let config = config(dir.path(), lab, "info");
        let view = |network: &str, values: &[(&str, &str)]| raftmasq_api::SettingsView {
            node_id: 1,
            cluster: values
                .iter()
                .map(|(key, value)| raftmasq_api::SettingValue {
                    key: (*key).into(),
                    value: (*value).into(),
                    fixed: None,
                })
                .collect(),
            file: "host.toml".into(),
            file_differs: Vec::new(),
            network: network.into(),
            networks: vec!["default".into(), "lab".into(), "far".into()],
        };
        let lease_time =
            raftmasq_config::cluster_value(&config.cluster_settings(), "dhcp.lease_time").unwrap();
        let views = [
            view("default", &[("dhcp.lease_time", &lease_time)]),
            view(
                "lab",
                &[
                    ("dhcp.ranges", "172.20.0.100-172.20.0.250"),
                    ("dhcp.lease_time", "3h"),
                ],
            ),
            // A network this file does not have: another host's.
            view("far", &[("dhcp.lease_time", "9h")]),
        ];
        let warnings = differing(&config, &views);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let source = config.source.display();
        assert_eq!(
            warnings[0],
            format!(
                "dhcp.networks[0].ranges (network lab): the cluster has 172.20.0.100-172.20.0.250, this file 172.20.0.100-172.20.0.199; the node follows the cluster: dnsctl settings apply --network lab --from {source} makes the file's value the cluster's, or edit the file"
            )
        );
        assert!(
            warnings[1].starts_with("dhcp.lease_time (network lab, from [dhcp]")
                && warnings[1].contains("the cluster has 3h"),
            "{warnings:?}"
        );
    }

    #[test]
    fn admin_credential_and_certificate_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), "", "info");
        let host = FakeHost::lxd1();
        std::fs::remove_file(dir.path().join("admin.token")).unwrap();
        let findings = check(&config, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        assert!(
            findings
                .warnings
                .iter()
                .any(|w| w.contains("node.admin_token_file") && w.contains("refused")),
            "{:?}",
            findings.warnings
        );
        config.node.admin.tls = Some(raftmasq_config::AdminTlsFiles {
            cert_file: dir.path().join("admin.pem"),
            key_file: dir.path().join("admin.key"),
        });
        let findings = check(&config, &host);
        assert!(
            findings
                .problems
                .iter()
                .any(|p| p.contains("node.admin_tls.cert_file") && p.contains("issue-admin")),
            "{:?}",
            findings.problems
        );
        let ca = raftmasq_consensus::network::pki::new_ca(1).unwrap();
        let issued = raftmasq_consensus::network::pki::issue_admin(
            &ca,
            &["dns1.example".to_string()],
            &[ip("10.99.0.1")],
            1,
        )
        .unwrap();
        std::fs::write(dir.path().join("admin.pem"), &issued.cert).unwrap();
        std::fs::write(dir.path().join("admin.key"), &issued.key).unwrap();
        let findings = check(&config, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
    }

    #[test]
    fn an_enabled_lxd_without_its_socket_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), "", "info");
        let host = FakeHost::lxd1();
        assert!(check(&config, &host).warnings.is_empty());
        let socket = dir.path().join("missing.socket");
        config.lxd.enabled = true;
        config.lxd.socket = Some(socket.clone());
        let findings = check(&config, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        let warnings = findings.warnings.join("\n");
        assert!(
            warnings.contains(&format!(
                "lxd.enabled: no LXD socket found (tried {})",
                socket.display()
            )),
            "{warnings}"
        );
        std::fs::write(&socket, "").unwrap();
        assert!(check(&config, &host).warnings.is_empty());
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn on_its_host_every_problem_of_files_filter_and_host_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records.toml");
        std::fs::write(
            &records,
            "[[record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"not-an-ip\"\n",
        )
        .unwrap();
        let config = config(
            dir.path(),
            &format!("records_file = \"{}\"", records.display()),
            "info,raftmasq=loud",
        );
        let host = FakeHost {
            interfaces: BTreeSet::new(),
            addresses: vec![ip("10.99.0.1"), ip("127.0.0.1")],
            busy: vec![("10.99.0.1:53".parse().unwrap(), true)],
        };
        let findings = check(&config, &host);
        let all = findings.problems.join("\n");
        assert!(all.contains("dns.records_file"), "{all}");
        assert!(all.contains("log.level"), "{all}");
        assert!(
            all.contains("dhcp.interface \"lxdbr0\": no such interface"),
            "{all}"
        );
        assert!(
            all.contains("dhcp.address: 172.16.0.1 is not an address of this host"),
            "{all}"
        );
        assert!(
            all.contains("dns.listen[0]: 172.16.0.1 is not an address"),
            "{all}"
        );
        assert_eq!(findings.problems.len(), 5, "{all}");
        let warnings = findings.warnings.join("\n");
        assert!(
            warnings.contains("dns.listen 10.99.0.1:53 (UDP): in use"),
            "{warnings}"
        );
    }

    #[test]
    fn a_relay_only_networks_address_must_be_this_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), "", "info");
        let rack = |address: &str| raftmasq_config::NetworkConfig {
            name: "rack4".into(),
            enabled: true,
            interface: None,
            address: address.parse().unwrap(),
            subnet: "172.31.0.0/24".parse().unwrap(),
            ranges: vec![raftmasq_consensus::state::AddressRange {
                start: "172.31.0.10".parse().unwrap(),
                end: "172.31.0.200".parse().unwrap(),
            }],
            routers: vec!["172.31.0.1".parse().unwrap()],
            domain: None,
            options: Vec::new(),
            lease_time: None,
            decline_quarantine: None,
            duplicate_hostnames: None,
        };
        config.dhcp.networks = vec![rack("10.99.0.1")];
        let all = check(&config, &FakeHost::lxd1()).problems.join("\n");
        assert!(!all.contains("dhcp.networks"), "{all}");
        config.dhcp.networks = vec![rack("10.99.0.9")];
        let all = check(&config, &FakeHost::lxd1()).problems.join("\n");
        assert!(
            all.contains("dhcp.networks[0].address: 10.99.0.9 is not an address of this host"),
            "{all}"
        );
    }

    #[test]
    fn the_cluster_link_needs_its_certificate_unless_plaintext_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::lxd1();
        // The default paths (/etc/raftmasq/tls) hold nothing here.
        let missing = config_with(dir.path(), "", "info", "");
        let all = check(&missing, &host).problems.join("\n");
        assert!(all.contains("[cluster.tls]"), "{all}");
        assert!(all.contains("raftmasq cert issue --node-id 1"), "{all}");
        // A certificate for another node is refused by name.
        let ca = raftmasq_consensus::network::pki::new_ca(1).unwrap();
        let other =
            raftmasq_consensus::network::pki::write_node_files(&dir.path().join("t2"), &ca, 2, 1)
                .unwrap();
        let wrong = config_with(dir.path(), "", "info", &tls_section(&other));
        let all = check(&wrong, &host).problems.join("\n");
        assert!(all.contains("is for node 2, but this is node 1"), "{all}");
        // The opt-out: no certificate needed, and a loud warning.
        let plain = config_with(dir.path(), "", "info", "insecure_plaintext = true\n");
        let findings = check(&plain, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        assert!(
            findings
                .warnings
                .iter()
                .any(|w| w.contains("cluster.insecure_plaintext = true")),
            "{:?}",
            findings.warnings
        );
    }

    #[test]
    fn elsewhere_only_the_file_is_checked_and_that_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "", "info");
        let host = FakeHost {
            interfaces: BTreeSet::new(),
            addresses: vec![ip("192.0.2.7")],
            busy: Vec::new(),
        };
        let findings = check(&config, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        assert!(
            findings
                .warnings
                .iter()
                .any(|w| w.contains("not an address of this machine")),
            "{:?}",
            findings.warnings
        );
    }

    #[test]
    fn a_tsig_secret_others_can_read_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("office-xfr.key");
        std::fs::write(&secret, "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\n").unwrap();
        let keyed = format!(
            "tsig_keys = [{{ name = \"office-xfr\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}]",
            secret.display()
        );
        let config = config(dir.path(), &keyed, "info");
        let host = FakeHost::lxd1();
        for (mode, problem) in [(0o640, true), (0o600, false)] {
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
            let all = check(&config, &host).problems.join("\n");
            assert_eq!(
                all.contains("dns.tsig_keys[0].secret_file") && all.contains("chmod 600"),
                problem,
                "mode {mode:o}: {all}"
            );
        }
    }

    #[test]
    fn a_correct_host_passes() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "", "info");
        let host = FakeHost::lxd1();
        let findings = check(&config, &host);
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    }
}
