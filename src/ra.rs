//! Router advertisements in the daemon: `[ipv6]` mapped to the `ra` crate's
//! advertisement, on `dhcp.interface`. Every host advertises (see
//! ra/DESIGN.md, "Who advertises"), leader or not.

use std::time::Duration;

use raftmasq_config::{Config, Ipv6Mode};
use raftmasq_ra::{Advertisement, PrefixFlags, RaServer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The advertisement `config` describes (its source MAC is filled in by the
/// server); `None` when IPv6 or advertisements are off.
pub fn advertisement(config: &Config) -> Option<(Advertisement, Duration)> {
    let ipv6 = config.ipv6.as_ref().filter(|v6| v6.router_advertisements)?;
    // RFC 4861 §4.2/§4.6.2: stateful hosts take addresses only from DHCPv6
    // (M set, the prefix not autonomous); stateless ones form their own and
    // ask DHCPv6 for options (O set).
    let flags = PrefixFlags {
        on_link: true,
        autonomous: ipv6.mode != Ipv6Mode::Stateful,
    };
    // Name this host as a DNS server only if it serves DNS, unless the
    // operator listed the servers.
    let dns_servers = if config.dns.enabled || ipv6.dns_servers.is_some() {
        ipv6.advertised_dns_servers()
    } else {
        Vec::new()
    };
    let advert = Advertisement {
        source_mac: [0; 6],
        prefix: ipv6.prefix.network(),
        prefix_len: ipv6.prefix.prefix_len(),
        flags,
        router_lifetime: ipv6.router_lifetime,
        mtu: ipv6.mtu,
        dns_servers,
        search_domains: vec![config.dns.domain.clone()],
        // RFC 8106 §5.1: at least MaxRtrAdvInterval; three intervals ride
        // out two lost advertisements.
        dns_lifetime: ipv6.interval * 3,
        managed: ipv6.mode == Ipv6Mode::Stateful,
        other_config: ipv6.mode != Ipv6Mode::Slaac,
    };
    Some((advert, ipv6.interval))
}

/// Whether this host's bridge takes the other hosts' advertisements (as a
/// client would): `accept_ra` 2, or 1 without forwarding. Then it installs
/// default routes via the other hosts and forms an address of its own on
/// the bridge. LXD sets `accept_ra` 2 on its bridges when `ipv6.routing` is
/// on (the default), which is harmless with one host per segment but not
/// on a shared one.
pub fn bridge_takes_others_advertisements(accept_ra: &str, forwarding: &str) -> bool {
    match accept_ra.trim() {
        "2" => true,
        "1" => forwarding.trim() == "0",
        _ => false,
    }
}

fn warn_if_bridge_takes_advertisements(interface: &str) {
    let read =
        |key: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{interface}/{key}"));
    if let (Ok(accept_ra), Ok(forwarding)) = (read("accept_ra"), read("forwarding"))
        && bridge_takes_others_advertisements(&accept_ra, &forwarding)
    {
        let fix = format!("net.ipv6.conf.{interface}.accept_ra=0");
        tracing::warn!(
            interface,
            accept_ra = accept_ra.trim(),
            fix,
            "this host's bridge accepts the other hosts' router advertisements: it would route \
             through them and form an address of its own; set the sysctl named in `fix` \
             (docs/quickstart-lxd.md, IPv6)"
        );
    }
}

/// Starts advertising when `[ipv6]` says so; the task sends a final
/// advertisement (router lifetime 0) when `shutdown` is cancelled.
pub fn start(
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some((advert, interval)) = advertisement(config) else {
        return Ok(None);
    };
    warn_if_bridge_takes_advertisements(&config.dhcp.interface);
    let server = RaServer::new(config.dhcp.interface.clone(), advert, interval);
    Ok(Some(server.start(shutdown)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bridge_that_routes_by_others_advertisements_is_noticed() {
        assert!(bridge_takes_others_advertisements("2\n", "1\n"));
        assert!(bridge_takes_others_advertisements("1\n", "0\n"));
        assert!(!bridge_takes_others_advertisements("1\n", "1\n"));
        assert!(!bridge_takes_others_advertisements("0\n", "0\n"));
    }

    #[test]
    fn slaac_advertises_the_prefix_on_link_and_autonomous_with_this_host_as_dns() {
        let text = format!(
            "{}\n[ipv6]\nenabled = true\nprefix = \"fd42:1::/64\"\naddress = \"fd42:1::2\"\ninterval = \"60s\"\nmtu = 1450\n",
            include_str!("../examples/lxd1.toml")
        );
        let config = Config::from_toml(&text, "lxd1.toml").unwrap();
        let (advert, interval) = advertisement(&config).unwrap();
        assert_eq!(interval, Duration::from_secs(60));
        assert_eq!(advert.router_lifetime, Duration::from_secs(180));
        assert_eq!(advert.dns_lifetime, Duration::from_secs(180));
        assert!(advert.flags.on_link && advert.flags.autonomous);
        assert_eq!(
            advert.dns_servers,
            vec!["fd42:1::2".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(advert.search_domains, vec!["lxd".to_string()]);
        assert_eq!(advert.mtu, Some(1450));
        assert!(!advert.managed && !advert.other_config);
    }

    #[test]
    fn stateless_sets_o_and_stateful_sets_m_with_the_prefix_not_autonomous() {
        let base = format!(
            "{}\n[ipv6]\nenabled = true\nprefix = \"fd42:1::/64\"\naddress = \"fd42:1::2\"\n",
            include_str!("../examples/lxd1.toml")
        );
        let stateless =
            Config::from_toml(&format!("{base}mode = \"stateless\"\n"), "lxd1.toml").unwrap();
        let (advert, _) = advertisement(&stateless).unwrap();
        assert!(advert.flags.autonomous && advert.other_config && !advert.managed);
        let stateful = Config::from_toml(
            &format!("{base}mode = \"stateful\"\nrange = \"fd42:1::1000-fd42:1::1fff\"\n"),
            "lxd1.toml",
        )
        .unwrap();
        let (advert, _) = advertisement(&stateful).unwrap();
        assert!(advert.flags.on_link && !advert.flags.autonomous);
        assert!(advert.managed && advert.other_config);
    }
}
