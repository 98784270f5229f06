//! dnsmasq's DHCPv6 lease lines, imported into the v6 table. dnsmasq writes
//! them after its v4 leases and the `duid SERVER_DUID` line, one per
//! address: `EXPIRY IAID ADDRESS HOSTNAME CLIENT_DUID` (a temporary
//! address's IAID has a `T` before it). Each becomes a strict `BindV6`
//! keyed by the client's DUID and IAID, on the address it had, for the time
//! it had left: its next RENEW names dnsmasq's server DUID, which no host
//! has, so it goes unanswered until the client's REBIND at T2, which the
//! leader answers from the imported binding (as after a failover).

use std::net::Ipv6Addr;
use std::str::FromStr;

use raftmasq_state::v6::{Duid, V6Binding, V6LeaseRequest, V6Leases, V6Range, V6Want, apply_both};
use raftmasq_state::{Command, LeaseTable, Millis, Response};
use serde::{Deserialize, Serialize};

use super::ImportItem;

/// One DHCPv6 line of dnsmasq's lease file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqLease6 {
    pub line: usize,
    /// Unix time (seconds) the lease ends; 0 for an infinite lease.
    pub expires: u64,
    pub iaid: u32,
    pub address: Ipv6Addr,
    pub hostname: Option<String>,
    pub duid: Duid,
}

/// Parses a v6 line (its address has a `:`); an error is the reason it is
/// not imported.
pub(super) fn parse_lease6_line(fields: &[&str], line: usize) -> Result<DnsmasqLease6, String> {
    let [expires, iaid, address, hostname, rest @ ..] = fields else {
        return Err("expected EXPIRY IAID ADDRESS HOSTNAME CLIENT-DUID (a DHCPv6 lease)".into());
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| format!("expiry {expires:?} is not a Unix time"))?;
    if iaid.starts_with('T') {
        return Err(
            "temporary address (IA_TA): raftmasq leases IA_NA addresses only; the client asks again"
                .into(),
        );
    }
    let iaid: u32 = iaid
        .parse()
        .map_err(|_| format!("IAID {iaid:?} is not a number"))?;
    let address =
        Ipv6Addr::from_str(address).map_err(|_| format!("invalid IPv6 address {address:?}"))?;
    let hostname = (*hostname != "*").then(|| hostname.to_string());
    let duid = match rest.first() {
        None | Some(&"*") => {
            return Err("no client DUID: a DHCPv6 lease is keyed by DUID and IAID".into());
        }
        Some(text) => parse_duid(text)?,
    };
    Ok(DnsmasqLease6 {
        line,
        expires,
        iaid,
        address,
        hostname,
        duid,
    })
}

/// `xx:xx:...` as dnsmasq writes a DUID: at least the 2-octet type.
fn parse_duid(text: &str) -> Result<Duid, String> {
    let octets: Result<Vec<u8>, _> = text.split(':').map(|o| u8::from_str_radix(o, 16)).collect();
    match octets {
        Ok(octets) if octets.len() >= 2 && text.split(':').all(|o| o.len() == 2) => {
            Ok(Duid(octets))
        }
        _ => Err(format!(
            "client DUID {text:?} is not hex octets separated by ':'"
        )),
    }
}

/// What importing one v6 line does to the planning copies `v4` and `v6`.
pub(super) fn plan_lease6(
    v4: &mut LeaseTable,
    v6: &mut V6Leases,
    lease: &DnsmasqLease6,
    now: Millis,
) -> (ImportItem, Option<Command>) {
    let binding = V6Binding {
        duid: lease.duid.clone(),
        iaid: lease.iaid,
    };
    let mac = lease.duid.mac();
    let mut item = ImportItem {
        kind: "lease6".into(),
        line: lease.line,
        source: None,
        mac: mac.map(|m| m.to_string()),
        address: None,
        address6: Some(lease.address),
        hostname: lease.hostname.clone(),
        expires_at: None,
        action: "add".into(),
        reason: None,
    };
    let lease_time_secs = if lease.expires == 0 {
        item.reason = Some("infinite in dnsmasq: imported with the cluster's lease time".into());
        v4.settings().map_or(3600, |s| s.lease_time_secs)
    } else {
        let ends = lease.expires.saturating_mul(1000);
        if ends <= now {
            item.action = "expired".into();
            item.expires_at = Some(ends);
            item.reason = Some("the lease has already ended".into());
            return (item, None);
        }
        // Round up: the client was promised until `expires`, never less.
        (ends - now).div_ceil(1000)
    };
    if let Some(existing) = v6.lease_by_binding(&binding) {
        if existing.address == lease.address {
            item.action = "unchanged".into();
            item.expires_at = Some(existing.expires_at);
            item.reason = Some("already in the cluster".into());
        } else {
            item.action = "conflict".into();
            item.reason = Some(format!(
                "the cluster already leases {} to this DUID and IAID; release it first to import this lease",
                existing.address
            ));
        }
        return (item, None);
    }
    if let Some(other) = v6.lease_by_address(lease.address) {
        item.action = "conflict".into();
        item.reason = Some(format!(
            "{} is leased to another client (DUID {}) in the cluster",
            lease.address, other.binding.duid
        ));
        return (item, None);
    }
    let command = Command::BindV6 {
        request: V6LeaseRequest {
            binding,
            mac,
            fqdn_label: lease.hostname.clone(),
            reserved_name: None,
            // The client's own address or nothing, as a v4 import binds.
            want: V6Want::Reserved(lease.address),
        },
        range: V6Range {
            start: lease.address,
            end: lease.address,
        },
        now,
        lease_time_secs,
    };
    match apply_both(v4, v6, &command) {
        Response::LeaseV6 { lease: granted } => {
            item.expires_at = Some(granted.expires_at);
            let asked = lease.hostname.as_ref().map(|n| n.to_ascii_lowercase());
            if granted.name != asked {
                item.reason = Some(match &granted.name {
                    Some(name) => format!("DNS name {name} granted (the name asked for is taken)"),
                    None if asked.is_some() => "no DNS name: the name asked for is taken".into(),
                    None => "no DNS name".into(),
                });
            }
            (item, Some(command))
        }
        Response::Rejected { reason } => {
            item.action = "conflict".into();
            item.reason = Some(reason.to_string());
            (item, None)
        }
        other => {
            item.action = "conflict".into();
            item.reason = Some(format!("unexpected answer {other:?}"));
            (item, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use raftmasq_state::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};

    use super::*;
    use crate::import::{ImportRequest, parse_lease_file, plan_with_v6};

    const FILE: &str = include_str!("../../tests/fixtures/dnsmasq-v6.leases");
    /// 2024-12-05 12:00:00 UTC: before the fixture's leases end but one.
    const NOW: Millis = 1_733_400_000_000;

    fn v6(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd42, 0x7f0c, 0xa2b, 0, 0, 0, 0, last)
    }

    fn table() -> LeaseTable {
        let mut table = LeaseTable::default();
        let settings = ClusterSettings {
            subnet: "10.161.90.0/24".parse().expect("subnet"),
            ranges: vec![AddressRange {
                start: Ipv4Addr::new(10, 161, 90, 10),
                end: Ipv4Addr::new(10, 161, 90, 200),
            }],
            domain: "lxd".into(),
            lease_time_secs: 3_600,
            decline_quarantine_secs: 600,
            client_identity: ClientIdentity::ClientId,
            duplicate_hostnames: HostnamePolicy::Suffix,
        };
        assert_eq!(
            table.apply(&Command::Initialize { settings }),
            Response::Done
        );
        table
    }

    #[test]
    fn the_v6_lines_after_the_server_duid_parse_with_iaid_and_client_duid() {
        let file = parse_lease_file(FILE);
        assert_eq!(file.leases.len(), 2, "the v4 lines are read as before");
        let addresses: Vec<Ipv6Addr> = file.leases6.iter().map(|l| l.address).collect();
        assert_eq!(addresses, [v6(0x23), v6(0x1c4), v6(0x1d0), v6(0x1f0)]);
        assert_eq!(
            file.leases6[0],
            DnsmasqLease6 {
                line: 4,
                expires: 1_733_401_234,
                iaid: 1_450_514_996,
                address: v6(0x23),
                hostname: Some("c1".into()),
                duid: Duid(vec![
                    0, 4, 0x67, 0x9c, 0x1b, 0x24, 0xd6, 0xb4, 0x43, 0x8a, 0x5e, 0x2e, 0x11, 0xb7,
                    0x0a, 0xfd, 0x47, 0x69
                ]),
            }
        );
        assert_eq!(file.leases6[1].hostname, None);
        assert_eq!(file.leases6[1].duid.mac(), "00:16:3e:00:00:07".parse().ok());
        assert_eq!(file.leases6[2].expires, 0);
        let reasons: Vec<(usize, &str)> = file
            .unsupported
            .iter()
            .map(|u| (u.line, u.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, 3);
        assert!(reasons[0].1.contains("server DUID"));
        assert_eq!(reasons[1].0, 7);
        assert!(reasons[1].1.contains("IA_TA"));
        assert_eq!(reasons[2].0, 8);
        assert!(reasons[2].1.contains("no client DUID"));
    }

    #[test]
    fn malformed_v6_lines_are_reported_with_the_reason() {
        for (line, reason) in [
            ("1733401300 3 fd42::1", "expected EXPIRY IAID"),
            ("soon 3 fd42::1 a 00:03", "not a Unix time"),
            ("1733401300 x3 fd42::1 a 00:03", "IAID"),
            ("1733401300 3 fd42:::1:: a 00:03", "invalid IPv6 address"),
            ("1733401300 3 fd42::1 a 0:3", "not hex octets"),
            ("1733401300 3 fd42::1 a 00", "not hex octets"),
        ] {
            let file = parse_lease_file(line);
            assert!(file.leases6.is_empty(), "{line}");
            assert!(
                file.unsupported[0].reason.contains(reason),
                "{line}: {:?}",
                file.unsupported[0].reason
            );
        }
    }

    #[test]
    fn v6_leases_import_into_the_v6_table_keyed_by_duid_and_iaid() {
        let file = parse_lease_file(FILE);
        let request = ImportRequest {
            leases: file.leases,
            reservations: vec![],
            names: vec![],
            leases6: file.leases6,
            dry_run: false,
        };
        let (mut v4, mut v6_table) = (table(), V6Leases::default());
        let planned = plan_with_v6(&v4, &v6_table, &request, NOW);
        let summary: Vec<(&str, &str)> = planned
            .iter()
            .map(|(item, _)| (item.kind.as_str(), item.action.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("lease", "add"),
                ("lease", "add"),
                ("lease6", "add"),
                ("lease6", "add"),
                ("lease6", "add"),
                ("lease6", "expired"),
            ]
        );
        // A DUID-UUID names no MAC, so c1's v6 lease cannot be shown to be
        // the machine of c1's v4 lease: one name, one owner suffixes it.
        assert!(
            planned[2]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("c1-2")
        );
        assert!(
            planned[4]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("infinite")
        );
        for (_, command) in &planned {
            if let Some(command) = command {
                let response = apply_both(&mut v4, &mut v6_table, command);
                assert!(
                    !matches!(response, Response::Rejected { .. }),
                    "{response:?}"
                );
            }
        }
        assert_eq!(v6_table.len(), 3);
        let dhclient = V6Binding {
            duid: Duid(vec![0, 3, 0, 1, 0, 0x16, 0x3e, 0, 0, 7]),
            iaid: 3,
        };
        let lease = v6_table.lease_by_binding(&dhclient).expect("imported");
        assert_eq!(lease.address, v6(0x1c4));
        // No hostname in the file: the name of the same MAC's v4 lease.
        assert_eq!(lease.name.as_deref(), Some("c7"));
        assert_eq!(
            lease.expires_at, 1_733_401_300_000,
            "the time dnsmasq had left"
        );
        assert_eq!(v6_table.address_of_name_at("c1-2", NOW), Some(v6(0x23)));
        assert_eq!(
            v6_table.lease_by_address(v6(0x1d0)).map(|l| l.expires_at),
            Some(NOW + 3_600_000)
        );

        // Again: nothing to add, nothing overwritten.
        let again = plan_with_v6(&v4, &v6_table, &request, NOW);
        assert!(
            again
                .iter()
                .filter(|(item, _)| item.kind == "lease6" && item.action != "expired")
                .all(|(item, command)| item.action == "unchanged" && command.is_none()),
            "{again:?}"
        );
    }

    #[test]
    fn an_address_another_client_holds_is_a_conflict() {
        let (mut v4, mut v6_table) = (table(), V6Leases::default());
        let line = "1733401300 3 fd42:7f0c:a2b::1c4 a 00:03:00:01:00:16:3e:00:00:07";
        let theirs = parse_lease_file(line).leases6.remove(0);
        let mine = DnsmasqLease6 {
            duid: Duid(vec![0, 3, 0, 1, 0, 0x16, 0x3e, 0, 0, 8]),
            ..theirs.clone()
        };
        let (_, command) = plan_lease6(&mut v4.clone(), &mut v6_table.clone(), &mine, NOW);
        apply_both(&mut v4, &mut v6_table, &command.expect("planned"));
        let (item, command) = plan_lease6(&mut v4, &mut v6_table, &theirs, NOW);
        assert_eq!(item.action, "conflict");
        assert!(command.is_none());
        assert!(item.reason.unwrap_or_default().contains("another client"));
        // The same DUID and IAID on another address: a conflict too.
        let moved = DnsmasqLease6 {
            address: v6(0x1c5),
            ..mine
        };
        let (item, _) = plan_lease6(&mut v4, &mut v6_table, &moved, NOW);
        assert_eq!(item.action, "conflict");
        assert!(item.reason.unwrap_or_default().contains("already leases"));
    }

    /// The plan of a v4 line sees the cluster's v6 names, as the commit
    /// will: a name a v6 lease of another machine holds is suffixed.
    #[test]
    fn a_v4_line_asking_for_a_name_a_v6_lease_holds_is_planned_suffixed() {
        let (mut v4, mut v6_table) = (table(), V6Leases::default());
        let line = "1733401300 3 fd42:7f0c:a2b::1c4 web 00:03:00:01:00:16:3e:00:00:07";
        let held = parse_lease_file(line).leases6.remove(0);
        let (_, command) = plan_lease6(&mut v4.clone(), &mut v6_table.clone(), &held, NOW);
        apply_both(&mut v4, &mut v6_table, &command.expect("planned"));
        let file = parse_lease_file("1733401300 00:16:3e:00:00:08 10.161.90.41 web *");
        let request = ImportRequest {
            leases: file.leases,
            reservations: vec![],
            names: vec![],
            leases6: vec![],
            dry_run: true,
        };
        let planned = plan_with_v6(&v4, &v6_table, &request, NOW);
        assert_eq!(planned[0].0.action, "add");
        assert!(
            planned[0]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("web-2"),
            "{:?}",
            planned[0].0
        );
    }
}
