//! A second bridge on every host of a [`Testbed`], a VXLAN overlay of its own
//! (another VNI on the same port), for a cluster serving two networks: what a
//! cloud with `lxdbr0` and a second bridge or VLAN looks like. The links live
//! in the hosts' namespaces and go with them.

use std::io;

use crate::netns::{Testbed, VXLAN_PORT};

/// One extra bridge: its name, VXLAN id and /24.
#[derive(Debug, Clone, Copy)]
pub struct SecondBridge {
    /// At most 15 bytes (IFNAMSIZ), e.g. `lxdbr1`.
    pub name: &'static str,
    /// The VXLAN device's name on every host, e.g. `vx1`.
    pub vxlan: &'static str,
    /// Not the testbed's own [`crate::netns::VNI`].
    pub vni: u32,
    /// The first three octets of the /24, e.g. `172.20.0`; host N is `.N`.
    pub prefix24: &'static str,
    /// The fourth octet of the bridges' fixed MACs, `02:16:3e:XX:ff:HH`.
    pub mac_octet: u8,
}

impl SecondBridge {
    /// Host `host`'s address on this bridge.
    pub fn address(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix24)
    }

    pub fn subnet(&self) -> String {
        format!("{}.0/24", self.prefix24)
    }
}

/// Adds `bridge` to every host of `testbed`: the bridge with a fixed MAC and
/// the host's address, its VXLAN port, and a flood entry to every other host.
pub fn add(testbed: &Testbed, bridge: &SecondBridge) -> io::Result<()> {
    for host in testbed.hosts() {
        let ns = &host.netns;
        let mac = format!("02:16:3e:{:02x}:ff:{:02x}", bridge.mac_octet, host.index);
        ns.ip(["link", "add", bridge.name, "type", "bridge"])?;
        ns.ip(["link", "set", bridge.name, "address", &mac])?;
        ns.ip([
            "addr",
            "add",
            &format!("{}/24", bridge.address(host.index)),
            "dev",
            bridge.name,
        ])?;
        ns.ip([
            "link",
            "add",
            bridge.vxlan,
            "mtu",
            "1500",
            "type",
            "vxlan",
            "id",
            &bridge.vni.to_string(),
            "dstport",
            &VXLAN_PORT.to_string(),
            "local",
            &host.underlay_address(),
            "dev",
            crate::netns::UNDERLAY_INTERFACE,
            "nolearning",
        ])?;
        ns.ip(["link", "set", bridge.vxlan, "master", bridge.name])?;
        ns.ip(["link", "set", bridge.vxlan, "up"])?;
        ns.ip(["link", "set", bridge.name, "up"])?;
        for other in testbed.hosts().iter().filter(|o| o.index != host.index) {
            ns.exec(&[
                "bridge",
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                bridge.vxlan,
                "dst",
                &other.underlay_address(),
            ])?;
        }
    }
    Ok(())
}
