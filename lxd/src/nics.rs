//! Which instance NICs sit on the served bridge, and what LXD says about each
//! (its MAC, its DNS name, its static address). Pure: instances in, a map by
//! MAC out, with a reason for everything left out.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use raftmasq_state::{MacAddr, is_valid_label};
use serde::{Deserialize, Serialize};

use crate::api::{DEFAULT_PROJECT, Instance};

/// Instance config key for a NIC's static address where LXD refuses the NIC's
/// own `ipv4.address`, which in LXD 5.0 is both deployment modes: a managed
/// bridge with `ipv4.dhcp=false` and no `security.ipv4_filtering`, and any
/// unmanaged parent. `user.raftmasq.ipv4.DEVICE`, or `user.raftmasq.ipv4` for
/// every NIC of the instance on the bridge.
pub const STATIC_KEY: &str = "user.raftmasq.ipv4";

/// One instance NIC on the bridge, as LXD describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub project: String,
    pub instance: String,
    pub device: String,
    /// The DNS label of the MAC; `None` when the instance cannot be named
    /// (the reason is among [`Desired::problems`]).
    pub name: Option<String>,
    /// The static address set in LXD, if any.
    pub static_v4: Option<Ipv4Addr>,
}

/// What LXD says should be true of the cluster, by MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub nics: BTreeMap<MacAddr, Nic>,
    /// Everything left out or only partly used, with the reason.
    pub problems: Vec<Problem>,
}

/// Why (part of) an instance NIC is not used. Each is logged by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The NIC has no MAC yet, or an unreadable one.
    BadMac {
        instance: String,
        device: String,
        value: Option<String>,
    },
    /// The instance name is not a DNS label (1-63 letters, digits, hyphens).
    InvalidName { instance: String },
    /// A project name that is not a DNS label: the instance cannot be
    /// named `NAME.PROJECT` as LXD names it.
    InvalidProject { instance: String, project: String },
    /// The static address key does not hold an IPv4 address.
    BadStatic {
        instance: String,
        key: String,
        value: String,
    },
    /// Two NICs with one MAC: the first (by project, then name) is used.
    DuplicateMac {
        mac: MacAddr,
        instance: String,
        kept: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadMac {
                instance,
                device,
                value: None,
            } => write!(f, "instance {instance} NIC {device}: no MAC address yet"),
            Problem::BadMac {
                instance,
                device,
                value: Some(value),
            } => write!(
                f,
                "instance {instance} NIC {device}: {value:?} is not a MAC address"
            ),
            Problem::InvalidName { instance } => write!(
                f,
                "instance name {instance:?} is not a DNS label (1-63 letters, digits or hyphens): its NICs keep the client's own hostname"
            ),
            Problem::InvalidProject { instance, project } => write!(
                f,
                "instance {instance} is in project {project:?}, which is not a DNS label: it cannot be named {instance}.PROJECT; its NICs keep the client's own hostname"
            ),
            Problem::BadStatic {
                instance,
                key,
                value,
            } => write!(
                f,
                "instance {instance}: {key} = {value:?} is not an IPv4 address; no reservation"
            ),
            Problem::DuplicateMac {
                mac,
                instance,
                kept,
            } => write!(
                f,
                "instance {instance} has MAC {mac}, already seen on instance {kept}; ignored"
            ),
        }
    }
}

/// The NICs of `instances` on `bridge`: `type=nic` with `network=BRIDGE`, or
/// `nictype=bridged` with `parent=BRIDGE`.
pub fn desired<'a>(instances: impl IntoIterator<Item = &'a Instance>, bridge: &str) -> Desired {
    let mut out = Desired::default();
    for instance in instances {
        let name = instance_label(instance, &mut out.problems);
        let mut on_bridge = instance
            .expanded_devices
            .iter()
            .filter(|(_, device)| is_on_bridge(device, bridge))
            .peekable();
        if on_bridge.peek().is_none() {
            continue;
        }
        for (device_name, device) in on_bridge {
            let Some(mac) = nic_mac(instance, device_name, device, &mut out.problems) else {
                continue;
            };
            let static_v4 = static_address(instance, device_name, device, &mut out.problems);
            if let Some(kept) = out.nics.get(&mac) {
                out.problems.push(Problem::DuplicateMac {
                    mac,
                    instance: instance.name.clone(),
                    kept: kept.instance.clone(),
                });
                continue;
            }
            out.nics.insert(
                mac,
                Nic {
                    project: instance.project.clone(),
                    instance: instance.name.clone(),
                    device: device_name.clone(),
                    name: name.clone(),
                    static_v4,
                },
            );
        }
    }
    out
}

fn is_on_bridge(device: &BTreeMap<String, String>, bridge: &str) -> bool {
    let get = |key: &str| device.get(key).map(String::as_str);
    get("type") == Some("nic")
        && (get("network") == Some(bridge)
            || (get("nictype") == Some("bridged") && get("parent") == Some(bridge)))
}

/// The instance's DNS name, lowercased (DNS is case-blind and the table
/// keeps names in lowercase): its name in the default project, and
/// `NAME.PROJECT` in another, as LXD's own DNS names it.
fn instance_label(instance: &Instance, problems: &mut Vec<Problem>) -> Option<String> {
    if !is_valid_label(&instance.name) {
        problems.push(Problem::InvalidName {
            instance: instance.name.clone(),
        });
        return None;
    }
    if instance.project == DEFAULT_PROJECT {
        return Some(instance.name.to_ascii_lowercase());
    }
    if !is_valid_label(&instance.project) {
        problems.push(Problem::InvalidProject {
            instance: instance.name.clone(),
            project: instance.project.clone(),
        });
        return None;
    }
    Some(format!("{}.{}", instance.name, instance.project).to_ascii_lowercase())
}

/// The device's own `hwaddr` if set, else the `volatile.DEVICE.hwaddr` LXD
/// generated at creation.
fn nic_mac(
    instance: &Instance,
    device_name: &str,
    device: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<MacAddr> {
    let value = device
        .get("hwaddr")
        .or_else(|| {
            instance
                .expanded_config
                .get(&format!("volatile.{device_name}.hwaddr"))
        })
        .filter(|v| !v.is_empty());
    let parsed = value.and_then(|v| v.parse::<MacAddr>().ok());
    if parsed.is_none() {
        problems.push(Problem::BadMac {
            instance: instance.name.clone(),
            device: device_name.to_string(),
            value: value.cloned(),
        });
    }
    parsed
}

/// The NIC's `ipv4.address`, else `user.raftmasq.ipv4.DEVICE`, else
/// `user.raftmasq.ipv4`. An empty value is no address.
fn static_address(
    instance: &Instance,
    device_name: &str,
    device: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<Ipv4Addr> {
    let per_device = format!("{STATIC_KEY}.{device_name}");
    let (key, value) = [
        ("ipv4.address", device.get("ipv4.address")),
        (
            per_device.as_str(),
            instance.expanded_config.get(&per_device),
        ),
        (STATIC_KEY, instance.expanded_config.get(STATIC_KEY)),
    ]
    .into_iter()
    .find_map(|(key, value)| {
        let value = value?.trim();
        (!value.is_empty()).then_some((key, value))
    })?;
    match value.parse() {
        Ok(address) => Some(address),
        Err(_) => {
            problems.push(Problem::BadStatic {
                instance: instance.name.clone(),
                key: key.to_string(),
                value: value.to_string(),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests;
