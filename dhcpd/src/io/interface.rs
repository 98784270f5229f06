//! What the socket edge needs to know about the interface it serves: its
//! index (for raw frames) and its IPv4 addresses (for the raw frames' source
//! and to tell a directed broadcast from a unicast). Not its MAC: the kernel
//! writes that into each frame as it is at the time (see `raw`).

use std::io;
use std::net::Ipv4Addr;

use nix::ifaddrs::getifaddrs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// `(address, netmask)`, in the order the kernel lists them.
    pub addresses: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl Interface {
    /// Reads `name` from the calling thread's network namespace.
    pub fn lookup(name: &str) -> io::Result<Interface> {
        let mut index = None;
        let mut addresses = Vec::new();
        for entry in getifaddrs().map_err(io::Error::from)? {
            if entry.interface_name != name {
                continue;
            }
            let Some(address) = entry.address else {
                continue;
            };
            if let Some(link) = address.as_link_addr() {
                index = u32::try_from(link.ifindex()).ok();
            } else if let Some(inet) = address.as_sockaddr_in() {
                let netmask = entry
                    .netmask
                    .and_then(|mask| mask.as_sockaddr_in().map(|mask| mask.ip()))
                    .unwrap_or(Ipv4Addr::BROADCAST);
                addresses.push((inet.ip(), netmask));
            }
        }
        let index = match index {
            Some(index) => index,
            None => nix::net::if_::if_nametoindex(name).map_err(|errno| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("interface {name}: {errno}"),
                )
            })?,
        };
        Ok(Interface {
            name: name.to_string(),
            index,
            addresses,
        })
    }

    /// The address raw frames come from: the first IPv4 address.
    pub fn primary_address(&self) -> Option<Ipv4Addr> {
        self.addresses.first().map(|(address, _)| *address)
    }
}
