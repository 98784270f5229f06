//! Stateless DHCPv6 in the daemon (stateful: `src/dhcp6_stateful.rs`):
//! `[ipv6] mode = "stateless"` mapped to
//! the `dhcp6` crate's service on `dhcp.interface`. Every host answers (see
//! dhcp6/DESIGN.md, "Who answers"), leader or not: the answer is the same
//! configuration on every host and needs no replicated state.

use std::str::FromStr;

use anyhow::Context;
use raftmasq_config::{Config, Ipv6Mode};
use raftmasq_dhcp6::{Dhcp6Server, SERVER_PORT, StatelessService, server_duid};
use tokio_util::sync::CancellationToken;

use crate::port_holder::{self, Transport};

/// The service `config` describes for a bridge with MAC `mac`; `None`
/// when IPv6 is off or its mode is not stateless.
pub fn service(config: &Config, mac: [u8; 6]) -> anyhow::Result<Option<StatelessService>> {
    if !config
        .ipv6
        .as_ref()
        .is_some_and(|v6| v6.mode == Ipv6Mode::Stateless)
    {
        return Ok(None);
    }
    information_service(config, mac)
}

/// The Information-request encoder for either mode (`None` when `[ipv6]`
/// serves no DHCPv6): the stateless server answers with it, and the
/// stateful one hands it the Information-requests its decision answers,
/// so one encoder answers them in both modes (dhcp6/DESIGN.md).
pub fn information_service(
    config: &Config,
    mac: [u8; 6],
) -> anyhow::Result<Option<StatelessService>> {
    let Some(ipv6) = config.ipv6.as_ref().filter(|v6| v6.mode.serves_dhcpv6()) else {
        return Ok(None);
    };
    // The same servers and domain as the router advertisements name
    // (src/ra.rs), so RDNSS and DHCPv6 clients agree.
    let dns_servers = if config.dns.enabled || ipv6.dns_servers.is_some() {
        ipv6.advertised_dns_servers()
    } else {
        Vec::new()
    };
    let domain = dhcproto::Name::from_str(&format!("{}.", config.dns.domain))
        .with_context(|| format!("dns.domain {:?} is not a DNS name", config.dns.domain))?;
    Ok(Some(StatelessService::new(
        server_duid(mac),
        dns_servers,
        vec![domain],
    )))
}

/// Starts answering DHCPv6 when `[ipv6]` says so.
pub fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !config
        .ipv6
        .as_ref()
        .is_some_and(|v6| v6.mode.serves_dhcpv6())
    {
        return Ok(());
    }
    let interface = &config.dhcp.interface;
    let mac = raftmasq_ra::interface_mac(interface).with_context(|| {
        format!(
            "cannot read the MAC of dhcp.interface {interface:?} for the DHCPv6 server identifier"
        )
    })?;
    let Some(service) = service(config, mac)? else {
        return Ok(());
    };
    Dhcp6Server::new(interface.clone(), SERVER_PORT, service)
        .start(shutdown)
        .map_err(|error| {
            let any = std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, SERVER_PORT));
            port_holder::explain(error, any, Transport::Udp, interface)
        })
        .with_context(|| {
            format!("cannot serve DHCPv6 on dhcp.interface {interface:?} port {SERVER_PORT} (needs root or CAP_NET_BIND_SERVICE)")
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use dhcproto::v6::{
        Decodable, Decoder, DhcpOption, Encodable, Message, MessageType, OptionCode,
    };
    use raftmasq_dhcp6::Outcome;

    use super::*;

    fn config(ipv6: &str) -> Config {
        let text = format!(
            "{}\n[ipv6]\nenabled = true\nprefix = \"fd42:1::/64\"\naddress = \"fd42:1::2\"\n{ipv6}\n",
            include_str!("../examples/lxd1.toml")
        );
        Config::from_toml(&text, "lxd1.toml").unwrap()
    }

    #[test]
    fn only_the_stateless_mode_answers() {
        assert!(service(&config(""), [2, 0, 0, 0, 0, 1]).unwrap().is_none());
        assert!(
            service(&config("mode = \"stateless\""), [2, 0, 0, 0, 0, 1])
                .unwrap()
                .is_some()
        );
    }

    /// One encoder: an Information-request gets the same bytes from the
    /// stateful server (which hands it to `information_service`) as from
    /// the stateless one.
    #[test]
    fn information_requests_are_answered_alike_in_both_modes() {
        let mac = [2, 0, 0, 0, 0, 1];
        let stateful = config("mode = \"stateful\"\nrange = \"fd42:1::1000-fd42:1::1fff\"");
        assert!(
            service(&stateful, mac).unwrap().is_none(),
            "no stateless server"
        );
        let stateful = information_service(&stateful, mac).unwrap().unwrap();
        let stateless = service(&config("mode = \"stateless\""), mac)
            .unwrap()
            .unwrap();
        let mut request = Message::new_with_id(MessageType::InformationRequest, [4, 5, 6]);
        request
            .opts_mut()
            .insert(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 9]));
        let bytes = request.to_vec().unwrap();
        let (Outcome::Answer(a), Outcome::Answer(b)) =
            (stateful.answer(&bytes), stateless.answer(&bytes))
        else {
            panic!("both modes answer");
        };
        assert_eq!(a, b);
        assert!(
            information_service(&config(""), mac).unwrap().is_none(),
            "RA only"
        );
    }

    #[test]
    fn the_answer_names_this_host_and_the_cluster_domain() {
        let service = service(&config("mode = \"stateless\""), [2, 0, 0, 0, 0, 1])
            .unwrap()
            .unwrap();
        assert_eq!(service.server_id(), server_duid([2, 0, 0, 0, 0, 1]));
        let request = Message::new_with_id(MessageType::InformationRequest, [1, 2, 3])
            .to_vec()
            .unwrap();
        let Outcome::Answer(answer) = service.answer(&request) else {
            panic!("no answer");
        };
        let reply = Message::decode(&mut Decoder::new(&answer.bytes)).unwrap();
        assert_eq!(
            reply.opts().get(OptionCode::DomainNameServers),
            Some(&DhcpOption::DomainNameServers(vec![
                "fd42:1::2".parse().unwrap()
            ]))
        );
        assert_eq!(
            reply.opts().get(OptionCode::DomainSearchList),
            Some(&DhcpOption::DomainSearchList(vec![
                dhcproto::Name::from_str("lxd.").unwrap()
            ]))
        );
    }
}
