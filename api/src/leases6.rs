//! The DHCPv6 side of `GET /api/v1/leases6` and `dnsctl leases`: the same
//! [`LeaseQuery`] filters and order as the v4 list, applied to
//! [`V6LeaseView`]s, and the DUID filter both lists share.

use std::cmp::Ordering;

use crate::{LeaseQuery, V6LeaseView};

impl LeaseQuery {
    /// The v6 leases the query selects, in its order. The filters mean what
    /// they mean for v4: `mac` the lease's MAC (from the DUID or RFC 6939),
    /// `name` a substring of the DNS name in any case, `duid` the client's
    /// DUID. A v6 lease listed is bound (ended ones are not listed) and no
    /// node records which host saw it, so `state` other than `bound`, and
    /// any `host`, select none. Sort keys without a v6 column (`state`,
    /// `host`) keep the address order; `hostname` sorts by the name.
    pub fn select_v6(&self, mut leases: Vec<V6LeaseView>) -> Result<Vec<V6LeaseView>, String> {
        // The same refusals as the v4 list (bad MAC, state, sort key, DUID).
        self.select(Vec::new())?;
        let mac = self
            .mac
            .as_deref()
            .map(|text| {
                text.parse::<raftmasq_state::MacAddr>()
                    .map(|m| m.to_string())
            })
            .transpose()
            .map_err(|error| error.to_string())?;
        let duid = self.duid.as_deref().map(normalize_duid).transpose()?;
        let name = self.name.as_ref().map(|n| n.to_ascii_lowercase());
        leases.retain(|lease| {
            self.host.is_none()
                // DHCPv6 serves the default network's bridge (`[ipv6]`).
                && self.network.as_deref().is_none_or(|network| network == "default")
                && self.state.as_deref().is_none_or(|state| state == "bound")
                && mac
                    .as_ref()
                    .is_none_or(|mac| lease.mac.as_ref() == Some(mac))
                && duid.as_ref().is_none_or(|duid| lease.duid == *duid)
                && name.as_ref().is_none_or(|name| {
                    lease
                        .name
                        .as_ref()
                        .is_some_and(|value| value.to_ascii_lowercase().contains(name))
                })
        });
        let compare: fn(&V6LeaseView, &V6LeaseView) -> Ordering =
            match self.sort.as_deref().unwrap_or("address") {
                "mac" => |a, b| a.mac.cmp(&b.mac),
                "name" | "hostname" => |a, b| a.name.cmp(&b.name),
                "expires" => |a, b| a.expires_at.cmp(&b.expires_at),
                _ => |a, b| a.address.cmp(&b.address),
            };
        leases.sort_by(|a, b| compare(a, b).then(a.address.cmp(&b.address)));
        Ok(leases)
    }
}

/// A DUID as lowercase hex octets separated by `:` (the form leases show),
/// from hex with `:`, `-` or no separators. At least 2 octets: a DUID's type.
pub fn normalize_duid(text: &str) -> Result<String, String> {
    let digits: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    let bad =
        || format!("bad DUID {text:?}: expected hex octets such as 00:03:00:01:02:42:00:00:00:01");
    if digits.len() < 4
        || !digits.len().is_multiple_of(2)
        || !digits.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(bad());
    }
    let octets: Vec<String> = digits
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_lowercase())
        .collect();
    Ok(octets.join(":"))
}

/// The DUID inside a DHCPv4 client id of RFC 4361's form (type 255, a
/// 4-octet IAID, then the DUID), as `client_id` is shown: `ff:` then 4
/// octets of IAID. Other client ids carry no DUID.
pub fn duid_of_client_id(client_id: &str) -> Option<&str> {
    // "ff:" + "xx:xx:xx:xx:" = 15 characters.
    let rest = client_id.strip_prefix("ff:")?;
    rest.get(12..)
        .filter(|duid| !duid.is_empty() && rest.as_bytes().get(11) == Some(&b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        last: u16,
        duid: &str,
        mac: Option<&str>,
        name: Option<&str>,
        expires_at: u64,
    ) -> V6LeaseView {
        V6LeaseView {
            address: std::net::Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, last),
            duid: duid.into(),
            iaid: 1,
            mac: mac.map(str::to_string),
            name: name.map(str::to_string),
            expires_at,
        }
    }

    fn sample() -> Vec<V6LeaseView> {
        vec![
            view(
                0x1002,
                "00:03:00:01:02:00:00:00:00:02",
                Some("02:00:00:00:00:02"),
                Some("Web"),
                30,
            ),
            view(
                0x1001,
                "00:03:00:01:02:00:00:00:00:01",
                Some("02:00:00:00:00:01"),
                Some("db"),
                20,
            ),
            view(0x1003, "00:02:00:00:00:09:01", None, None, 10),
        ]
    }

    fn lasts(leases: &[V6LeaseView]) -> Vec<u16> {
        leases.iter().map(|l| l.address.segments()[7]).collect()
    }

    #[test]
    fn v6_leases_filter_by_mac_name_and_duid_like_v4() {
        let all = LeaseQuery::default().select_v6(sample()).expect("ok");
        assert_eq!(lasts(&all), [0x1001, 0x1002, 0x1003]);
        let by_mac = LeaseQuery {
            mac: Some("02-00-00-00-00-01".into()),
            ..Default::default()
        };
        assert_eq!(lasts(&by_mac.select_v6(sample()).expect("ok")), [0x1001]);
        let by_name = LeaseQuery {
            name: Some("WE".into()),
            ..Default::default()
        };
        assert_eq!(lasts(&by_name.select_v6(sample()).expect("ok")), [0x1002]);
        let by_duid = LeaseQuery {
            duid: Some("0002000000090 1".replace(' ', "")),
            ..Default::default()
        };
        assert_eq!(lasts(&by_duid.select_v6(sample()).expect("ok")), [0x1003]);
        let bound = LeaseQuery {
            state: Some("bound".into()),
            ..Default::default()
        };
        assert_eq!(bound.select_v6(sample()).expect("ok").len(), 3);
        let expired = LeaseQuery {
            state: Some("expired".into()),
            ..Default::default()
        };
        assert!(expired.select_v6(sample()).expect("ok").is_empty());
        let host = LeaseQuery {
            host: Some(1),
            ..Default::default()
        };
        assert!(host.select_v6(sample()).expect("ok").is_empty());
        // DHCPv6 leases are the default network's (its bridge carries `[ipv6]`).
        let in_default = LeaseQuery {
            network: Some("default".into()),
            ..Default::default()
        };
        assert_eq!(in_default.select_v6(sample()).expect("ok").len(), 3);
        let in_lab = LeaseQuery {
            network: Some("lab".into()),
            ..Default::default()
        };
        assert!(in_lab.select_v6(sample()).expect("ok").is_empty());
    }

    #[test]
    fn v6_leases_sort_by_name_or_expiry_and_refuse_what_v4_refuses() {
        let by = |key: &str| LeaseQuery {
            sort: Some(key.into()),
            ..Default::default()
        };
        assert_eq!(
            lasts(&by("expires").select_v6(sample()).expect("ok")),
            [0x1003, 0x1001, 0x1002]
        );
        assert_eq!(
            lasts(&by("name").select_v6(sample()).expect("ok")),
            [0x1003, 0x1002, 0x1001]
        );
        assert!(by("colour").select_v6(sample()).is_err());
        let bad = LeaseQuery {
            duid: Some("zz".into()),
            ..Default::default()
        };
        assert!(bad.select_v6(sample()).unwrap_err().contains("bad DUID"));
        let bad_mac = LeaseQuery {
            mac: Some("nope".into()),
            ..Default::default()
        };
        assert!(bad_mac.select_v6(sample()).is_err());
    }

    #[test]
    fn duids_normalise_and_rfc_4361_client_ids_carry_one() {
        assert_eq!(
            normalize_duid("00-03-00-01-AB").as_deref(),
            Ok("00:03:00:01:ab")
        );
        assert_eq!(
            normalize_duid("00030001ab").as_deref(),
            Ok("00:03:00:01:ab")
        );
        assert!(normalize_duid("0").is_err());
        assert!(normalize_duid("000").is_err());
        assert_eq!(
            duid_of_client_id("ff:00:00:00:07:00:03:00:01:02:00:00:00:00:01"),
            Some("00:03:00:01:02:00:00:00:00:01")
        );
        assert_eq!(duid_of_client_id("01:02:00:00:00:00:01"), None);
        assert_eq!(duid_of_client_id("ff:00:00:00:07"), None);
    }

    #[test]
    fn a_v4_lease_matches_the_duid_of_its_rfc_4361_client_id() {
        use raftmasq_state::{ClientId, Lease, LeaseState, MacAddr};
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut id = vec![0xff, 0, 0, 0, 7];
        id.extend([0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
        let lease = Lease {
            address: std::net::Ipv4Addr::new(10, 0, 0, 10),
            client_id: ClientId(id),
            mac,
            requested_hostname: None,
            granted_name: None,
            state: LeaseState::Bound,
            granted_at: 0,
            expires_at: 10,
            seen_by: None,
        };
        let plain = Lease {
            client_id: ClientId::from_mac(mac),
            address: std::net::Ipv4Addr::new(10, 0, 0, 11),
            ..lease.clone()
        };
        let views = vec![
            crate::LeaseView::new(&lease, 0),
            crate::LeaseView::new(&plain, 0),
        ];
        let query = LeaseQuery {
            duid: Some("00:03:00:01:02:00:00:00:00:01".into()),
            ..Default::default()
        };
        let selected = query.select(views).expect("ok");
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].address, std::net::Ipv4Addr::new(10, 0, 0, 10));
    }
}
