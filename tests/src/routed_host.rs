//! A routed host beside the testbed: on the underlay, but NOT on the shared
//! L2 overlay. It has its own bridge and subnet, forwards between them, and
//! runs Debian's `isc-dhcp-relay` (`dhcrelay`) on that bridge, pointed at
//! the cluster hosts' underlay addresses.
//!
//! ```text
//!                    underlay namespace: bridge ubr0
//!     ┌──────────────┬──────────────┬──────────────┐
//!   h1 10.99.0.1   h2 10.99.0.2   h3 10.99.0.3   h4 10.99.0.4 (routes, dhcrelay)
//!   (lxdbr0, VXLAN: one L2 segment)               rbr0 172.31.0.1/24
//!                                                   │
//!                                               containers
//! ```
//!
//! Each cluster host gets a route to [`SUBNET`] via host 4's underlay
//! address, so that replies to the relay (giaddr) and to its clients (a
//! unicast renewal) find their way. Namespace names carry the testbed's
//! prefix; the namespace (and its processes, the relay among them) is
//! removed on drop; the relay is killed first.

use std::io;
use std::path::Path;

use crate::netns::{CONTAINER_INTERFACE, Container, Netns, NsProcess, Testbed, UNDERLAY_INTERFACE};

/// The routed host's bridge.
pub const BRIDGE: &str = "rbr0";
/// Its subnet, which only the relay reaches.
pub const SUBNET: &str = "172.31.0.0/24";
/// Host 4's address on its bridge: the relay's giaddr and the clients' router.
pub const GATEWAY: &str = "172.31.0.1";

pub struct RoutedHost {
    // Field order is drop order: the relay (killed), then the host.
    relay: Option<NsProcess>,
    pub index: u8,
    pub netns: Netns,
}

impl RoutedHost {
    /// Host `index` (after the testbed's hosts, e.g. 4) as `{prefix}h{index}`:
    /// underlay address 10.99.0.`index`, bridge [`BRIDGE`] with [`GATEWAY`],
    /// forwarding on; and a route to [`SUBNET`] on every testbed host.
    pub fn build(testbed: &Testbed, index: u8) -> io::Result<RoutedHost> {
        let netns = Netns::create(&format!("{}h{index}", testbed.prefix()))?;
        let peer = format!("h{index}");
        netns.ip([
            "link",
            "add",
            UNDERLAY_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            testbed.underlay().name(),
        ])?;
        testbed
            .underlay()
            .ip(["link", "set", &peer, "master", "ubr0"])?;
        testbed.underlay().ip(["link", "set", &peer, "up"])?;
        netns.ip([
            "addr",
            "add",
            &format!("{}/24", underlay_address(index)),
            "dev",
            UNDERLAY_INTERFACE,
        ])?;
        netns.ip(["link", "set", UNDERLAY_INTERFACE, "up"])?;
        netns.ip(["link", "add", BRIDGE, "type", "bridge"])?;
        netns.ip(["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE])?;
        netns.ip(["link", "set", BRIDGE, "up"])?;
        netns.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        for host in testbed.hosts() {
            host.netns
                .ip(["route", "add", SUBNET, "via", &underlay_address(index)])?;
        }
        Ok(RoutedHost {
            relay: None,
            index,
            netns,
        })
    }

    /// 10.99.0.`index`.
    pub fn underlay_address(&self) -> String {
        underlay_address(self.index)
    }

    /// A container `{prefix}{name}` on [`BRIDGE`] (MAC `mac`, up, no
    /// address); the caller drops it before this host.
    pub fn add_container(&self, testbed: &Testbed, name: &str, mac: &str) -> io::Result<Container> {
        let netns = Netns::create(&format!("{}{name}", testbed.prefix()))?;
        let host_port = format!("v-{name}");
        self.netns.ip([
            "link",
            "add",
            &host_port,
            "type",
            "veth",
            "peer",
            "name",
            CONTAINER_INTERFACE,
            "netns",
            netns.name(),
        ])?;
        netns.ip(["link", "set", CONTAINER_INTERFACE, "address", mac])?;
        netns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])?;
        netns.ip(["link", "set", CONTAINER_INTERFACE, "up"])?;
        self.netns
            .ip(["link", "set", &host_port, "master", BRIDGE])?;
        self.netns.ip(["link", "set", &host_port, "up"])?;
        Ok(Container {
            name: name.to_string(),
            host: self.index,
            mac: mac.to_string(),
            host_port,
            netns,
        })
    }

    /// Starts `dhcrelay -4 -d -a` (option 82 with the circuit id added, and
    /// required back in replies) downstream on [`BRIDGE`], upstream on the
    /// underlay, relaying to `servers`; its pid file and log under `dir`.
    pub fn start_relay(&mut self, servers: &[String], dir: &Path) -> io::Result<()> {
        let pid_file = dir.join("dhcrelay.pid");
        let pid_file = pid_file.to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "dhcrelay",
            "-4",
            "-d",
            "-a",
            "-pf",
            &pid_file,
            "-id",
            BRIDGE,
            "-iu",
            UNDERLAY_INTERFACE,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(servers.iter().cloned());
        self.relay = Some(self.netns.spawn(&args, &dir.join("dhcrelay.log"))?);
        Ok(())
    }

    /// Stops the relay (SIGKILL): only routed unicast reaches the cluster.
    pub fn stop_relay(&mut self) {
        if let Some(mut relay) = self.relay.take() {
            relay.kill();
        }
    }

    /// Whether the relay still runs.
    pub fn relay_running(&mut self) -> bool {
        self.relay.as_mut().is_some_and(NsProcess::is_running)
    }

    /// The relay's output so far.
    pub fn relay_log(&self) -> String {
        self.relay
            .as_ref()
            .map(NsProcess::log_text)
            .unwrap_or_default()
    }
}

fn underlay_address(index: u8) -> String {
    format!("10.99.0.{index}")
}
