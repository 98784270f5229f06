//! Who holds a port raftmasq cannot bind, and what to do about it.
//!
//! The usual culprit on an LXD host is LXD's own dnsmasq: it keeps listening
//! on `<bridge address>:53` even with `ipv4.dhcp=false dns.mode=none`, and on
//! port 67 while the bridge's DHCP is on. At start, an "address in use" names
//! the process holding the port when it can (the socket's inode in
//! `/proc/net/{udp,tcp}[6]`, then the `/proc/PID/fd` link to that socket) and
//! says the fix. Parsing and wording are pure; reading `/proc` is the edge.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Which socket table to look in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// `/proc/PID/comm`, e.g. `dnsmasq`.
    pub name: String,
}

/// TCP state LISTEN in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// The inodes of the sockets in a `/proc/net/{udp,tcp}[6]` table bound to
/// local port `port` (for TCP: listening ones only). Malformed lines are
/// skipped.
pub fn socket_inodes(table: &str, port: u16, transport: Transport) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let local_port = u16::from_str_radix(hex_port, 16).ok()?;
            let listening = transport == Transport::Udp || *state == TCP_LISTEN;
            (local_port == port && listening && inode != 0).then_some(inode)
        })
        .collect()
}

/// The inode of a `/proc/PID/fd/N` link target `socket:[INODE]`.
pub fn socket_link_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What to say about a port raftmasq could not bind: who holds it (if known)
/// and the fix. `bridge` is `dhcp.interface`, for the LXD command.
pub fn advice(addr: SocketAddr, transport: Transport, holders: &[Holder], bridge: &str) -> String {
    let who = if holders.is_empty() {
        "another process holds it (not found in /proc: it may run in another namespace or need root to see)"
            .to_string()
    } else {
        let names: Vec<String> = holders
            .iter()
            .map(|holder| format!("{} (pid {})", holder.name, holder.pid))
            .collect();
        format!("held by {}", names.join(", "))
    };
    let dnsmasq = holders.is_empty() || holders.iter().any(|holder| holder.name == "dnsmasq");
    let fix = match (addr.port(), dnsmasq) {
        (53, true) => format!(
            "; if this is LXD's dnsmasq (it keeps port 53 even with dns.mode=none), run `lxc network set {bridge} raw.dnsmasq port=0`, or set dns.listen to other addresses"
        ),
        (67, true) => format!(
            "; if this is LXD's dnsmasq, run `lxc network set {bridge} ipv4.dhcp false` and `lxc network set {bridge} raw.dnsmasq port=0`"
        ),
        (547, true) => format!(
            "; if this is LXD's dnsmasq, run `lxc network set {bridge} ipv6.dhcp false` (raftmasq answers DHCPv6 with ipv6.mode = \"stateless\")"
        ),
        _ => "; stop it or choose another address".to_string(),
    };
    format!("{addr}/{transport} is in use: {who}{fix}")
}

/// The processes holding `port` in this network namespace, read from /proc.
/// Best effort: an unreadable entry is skipped.
pub fn find_holders(port: u16, transport: Transport) -> Vec<Holder> {
    let tables: &[&str] = match transport {
        Transport::Udp => &["/proc/net/udp", "/proc/net/udp6"],
        Transport::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let inodes: Vec<u64> = tables
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| socket_inodes(&table, port, transport))
        .collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut holders = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_link_inode(&target.to_string_lossy()))
                .is_some_and(|inode| inodes.contains(&inode))
        });
        if holds {
            let name = std::fs::read_to_string(process.path().join("comm"))
                .map(|comm| comm.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            holders.push(Holder { pid, name });
        }
    }
    holders
}

/// `error` from binding `addr`, with the holder and the fix when the address
/// is in use; other errors unchanged.
pub fn explain(
    error: io::Error,
    addr: SocketAddr,
    transport: Transport,
    bridge: &str,
) -> anyhow::Error {
    if error.kind() != io::ErrorKind::AddrInUse {
        return error.into();
    }
    let holders = find_holders(addr.port(), transport);
    let advice = advice(addr, transport, &holders, bridge);
    tracing::error!(%addr, %transport, holders = ?holders, "{advice}");
    anyhow::Error::new(error).context(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  123: 010010AC:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40123 2 0000000000000000 0\n\
  124: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40124 2 0000000000000000 0\n\
  125: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40125 2 0000000000000000 0\n\
  garbage line\n";

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 010010AC:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0\n\
   1: 010010AC:0035 050010AC:D431 01 00000000:00000000 00:00000000 00000000     0        0 50002 1 0000000000000000 100 0 0 10 0\n";

    #[test]
    fn udp_sockets_on_the_port_are_found_by_inode() {
        assert_eq!(socket_inodes(UDP, 53, Transport::Udp), vec![40123]);
        assert_eq!(socket_inodes(UDP, 67, Transport::Udp), vec![40124]);
        assert_eq!(socket_inodes(UDP, 5353, Transport::Udp), Vec::<u64>::new());
    }

    #[test]
    fn only_listening_tcp_sockets_count() {
        assert_eq!(socket_inodes(TCP, 53, Transport::Tcp), vec![50001]);
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_link_inode("socket:[40123]"), Some(40123));
        assert_eq!(socket_link_inode("pipe:[40123]"), None);
        assert_eq!(socket_link_inode("/dev/null"), None);
    }

    #[test]
    fn dnsmasq_on_port_53_gets_the_lxd_fix() {
        let holders = [Holder {
            pid: 4242,
            name: "dnsmasq".into(),
        }];
        let text = advice(
            "172.16.0.1:53".parse().expect("addr"),
            Transport::Udp,
            &holders,
            "lxdbr0",
        );
        assert!(
            text.contains("172.16.0.1:53/udp is in use: held by dnsmasq (pid 4242)"),
            "{text}"
        );
        assert!(
            text.contains("lxc network set lxdbr0 raw.dnsmasq port=0"),
            "{text}"
        );
    }

    #[test]
    fn dnsmasq_on_port_67_gets_the_dhcp_fix() {
        let holders = [Holder {
            pid: 7,
            name: "dnsmasq".into(),
        }];
        let text = advice(
            "0.0.0.0:67".parse().expect("addr"),
            Transport::Udp,
            &holders,
            "br1",
        );
        assert!(
            text.contains("lxc network set br1 ipv4.dhcp false"),
            "{text}"
        );
    }

    #[test]
    fn dnsmasq_on_port_547_gets_the_dhcpv6_fix() {
        let holders = [Holder {
            pid: 8,
            name: "dnsmasq".into(),
        }];
        let text = advice(
            "[::]:547".parse().expect("addr"),
            Transport::Udp,
            &holders,
            "br1",
        );
        assert!(
            text.contains("[::]:547/udp is in use: held by dnsmasq (pid 8)"),
            "{text}"
        );
        assert!(
            text.contains("lxc network set br1 ipv6.dhcp false"),
            "{text}"
        );
    }

    #[test]
    fn another_holder_is_named_without_the_lxd_fix() {
        let holders = [Holder {
            pid: 9,
            name: "named".into(),
        }];
        let text = advice(
            "10.0.0.1:53".parse().expect("addr"),
            Transport::Tcp,
            &holders,
            "lxdbr0",
        );
        assert!(text.contains("held by named (pid 9)"), "{text}");
        assert!(!text.contains("lxc network"), "{text}");
    }

    #[test]
    fn an_unknown_holder_still_gets_the_fix() {
        let text = advice(
            "10.0.0.1:53".parse().expect("addr"),
            Transport::Udp,
            &[],
            "lxdbr0",
        );
        assert!(text.contains("another process holds it"), "{text}");
        assert!(text.contains("raw.dnsmasq port=0"), "{text}");
    }

    #[test]
    fn a_holder_in_this_namespace_is_found() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        let holders = find_holders(port, Transport::Udp);
        assert!(
            holders
                .iter()
                .any(|holder| holder.pid == std::process::id()),
            "{holders:?}"
        );
    }
}
