//! A network's dynamic pools as written: `range = "a-b"` (one), or
//! `ranges = ["a-b", "c-d"]` (several; `[]` for none: the network serves
//! reservations and INFORM only, like a dnsmasq `dhcp-range` in `static`
//! mode). Each range is checked where it is written (`dhcp.ranges[1]`), the
//! list as a whole where the list is.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use raftmasq_state::{AddressRange, MAX_RANGES};

use crate::error::Problems;
use crate::net;

/// One range and the key it was written at, for later checks' messages.
#[derive(Debug, Clone)]
pub(crate) struct KeyedRange {
    pub range: AddressRange,
    pub key: String,
}

/// The ranges of the section at `prefix` (`dhcp`, `dhcp.networks[0]`),
/// ascending; `None` when a problem was reported.
pub(crate) fn parse(
    problems: &mut Problems<'_>,
    prefix: &str,
    range: Option<&str>,
    ranges: Option<&[String]>,
) -> Option<Vec<KeyedRange>> {
    let keyed = match (range, ranges) {
        (Some(_), Some(_)) => {
            problems.add(
                &format!("{prefix}.ranges"),
                "write `range` (one pool) or `ranges` (several, or [] for none), not both",
            );
            return None;
        }
        (None, None) => {
            problems.add(
                &format!("{prefix}.range"),
                "missing: the dynamic pool, e.g. range = \"172.16.0.10-172.16.255.254\"; ranges = [\"...\", \"...\"] for several, ranges = [] for none (reservations and INFORM only)",
            );
            return None;
        }
        (Some(text), None) => {
            let key = format!("{prefix}.range");
            match net::range(text) {
                Ok(range) => vec![KeyedRange { range, key }],
                Err(reason) => {
                    problems.add(&key, reason);
                    return None;
                }
            }
        }
        (None, Some(list)) => {
            let mut keyed = Vec::with_capacity(list.len());
            let mut bad = false;
            for (index, text) in list.iter().enumerate() {
                let key = format!("{prefix}.ranges[{index}]");
                match net::range(text) {
                    Ok(range) => keyed.push(KeyedRange { range, key }),
                    Err(reason) => {
                        problems.add(&key, reason);
                        bad = true;
                    }
                }
            }
            if bad {
                return None;
            }
            keyed
        }
    };
    match sorted_disjoint(keyed) {
        Ok(keyed) => Some(keyed),
        Err(reason) => {
            problems.add(&format!("{prefix}.ranges"), reason);
            None
        }
    }
}

/// The ranges ascending; two that share an address, or more than
/// [`MAX_RANGES`], are refused.
fn sorted_disjoint(mut keyed: Vec<KeyedRange>) -> Result<Vec<KeyedRange>, String> {
    if keyed.len() > MAX_RANGES {
        return Err(format!(
            "{} ranges; at most {MAX_RANGES} per network",
            keyed.len()
        ));
    }
    keyed.sort_by_key(|k| k.range.start);
    for pair in keyed.windows(2) {
        if pair[1].range.start <= pair[0].range.end {
            return Err(format!(
                "{} ({}) and {} ({}) overlap; an address belongs to one range",
                pair[0].range, pair[0].key, pair[1].range, pair[1].key
            ));
        }
    }
    Ok(keyed)
}

/// Each range inside `subnet` and clear of `taken` (network, broadcast, the
/// host's own address, a written router...), reported at its own key;
/// `subnet_key` is how the messages name the subnet's key.
pub(crate) fn check_in_subnet(
    problems: &mut Problems<'_>,
    ranges: &[KeyedRange],
    subnet: Ipv4Net,
    subnet_key: &str,
    taken: &[(Ipv4Addr, String)],
) {
    for keyed in ranges {
        for problem in crate::validate::range_problems(keyed.range, subnet, taken) {
            problems.add(&keyed.key, problem.replace("dhcp.subnet", subnet_key));
        }
    }
}

/// The ranges without their keys.
pub(crate) fn plain(ranges: &[KeyedRange]) -> Vec<AddressRange> {
    ranges.iter().map(|k| k.range).collect()
}

/// A live value of `dhcp.ranges` (`dnsctl settings set`): `a-b, c-d`, a
/// single range, or `none` for no dynamic pool. Ascending and disjoint as in
/// the file.
pub(crate) fn parse_list(text: &str) -> Result<Vec<AddressRange>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") || text.is_empty() {
        return Ok(Vec::new());
    }
    let keyed = text
        .split(',')
        .enumerate()
        .map(|(index, part)| {
            net::range(part).map(|range| KeyedRange {
                range,
                key: format!("range {}", index + 1),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    sorted_disjoint(keyed).map(|keyed| plain(&keyed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_list_parses_sorted_and_refuses_overlaps() {
        let list = parse_list("10.0.0.50-10.0.0.60, 10.0.0.10-10.0.0.20").unwrap();
        assert_eq!(
            list.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.10-10.0.0.20", "10.0.0.50-10.0.0.60"]
        );
        assert_eq!(parse_list("none").unwrap(), Vec::new());
        assert_eq!(parse_list("10.0.0.10-10.0.0.20").unwrap().len(), 1);
        let overlap = parse_list("10.0.0.10-10.0.0.20,10.0.0.20-10.0.0.30").unwrap_err();
        assert!(overlap.contains("overlap"), "{overlap}");
        assert!(parse_list("10.0.0.10-10.0.0.20,bad").is_err());
    }
}
