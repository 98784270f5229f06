//! Operator DHCP options (`[dhcp.options]` by name, `[[dhcp.option]]` by code),
//! validated here and pre-encoded so the DHCP server only copies bytes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::error::Problems;
use crate::model::BootConfig;
use crate::names;
use crate::net;
use crate::raw::{RawNamedOptions, RawOption};

/// RFC 2132 §2: the length octet bounds every option's data.
pub const MAX_PAYLOAD: usize = 255;

/// Option codes named by `[dhcp.options]`.
pub const MTU: u8 = 26;
pub const NTP_SERVERS: u8 = 42;
pub const DOMAIN_SEARCH: u8 = 119;
pub const CLASSLESS_STATIC_ROUTES: u8 = 121;
/// RFC 2132 §9.4.
pub const TFTP_SERVER_NAME: u8 = 66;
/// RFC 2132 §9.5.
pub const BOOTFILE_NAME: u8 = 67;

/// The `type` of a `[[dhcp.option]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    Addresses,
    Address,
    String,
    U8,
    U16,
    U32,
    Bool,
    Bytes,
}

/// A typed option value; [`DhcpOptionValue::payload`] gives its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionValue {
    Addresses(Vec<Ipv4Addr>),
    Address(Ipv4Addr),
    String(String),
    U8(u8),
    U16(u16),
    U32(u32),
    Bool(bool),
    Bytes(Vec<u8>),
    /// RFC 3397 domain search list, names lowercased without trailing dot.
    DomainSearch(Vec<String>),
    /// RFC 3442 classless static routes.
    ClasslessStaticRoutes(Vec<StaticRoute>),
}

/// One RFC 3442 route: `destination` has no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticRoute {
    pub destination: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// A validated option: a code the server does not own and a value whose
/// encoding fits in one option (≤ 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOptionValue {
    code: u8,
    value: OptionValue,
}

impl DhcpOptionValue {
    /// Checks the code and the encoded length; the error is the reason.
    pub fn new(code: u8, value: OptionValue) -> Result<Self, String> {
        if let Some(reason) = reserved(code) {
            return Err(format!("option {code} cannot be set here: {reason}"));
        }
        let option = DhcpOptionValue { code, value };
        let length = option.payload().len();
        if length > MAX_PAYLOAD {
            return Err(format!(
                "option {code} encodes to {length} bytes; one option holds at most {MAX_PAYLOAD}"
            ));
        }
        Ok(option)
    }

    pub fn code(&self) -> u8 {
        self.code
    }

    pub fn value(&self) -> &OptionValue {
        &self.value
    }

    /// The option's data: what follows the code and length octets.
    pub fn payload(&self) -> Vec<u8> {
        match &self.value {
            OptionValue::Addresses(list) => list.iter().flat_map(|a| a.octets()).collect(),
            OptionValue::Address(address) => address.octets().to_vec(),
            OptionValue::String(text) => text.as_bytes().to_vec(),
            OptionValue::U8(n) => vec![*n],
            OptionValue::U16(n) => n.to_be_bytes().to_vec(),
            OptionValue::U32(n) => n.to_be_bytes().to_vec(),
            OptionValue::Bool(b) => vec![u8::from(*b)],
            OptionValue::Bytes(bytes) => bytes.clone(),
            OptionValue::DomainSearch(names) => encode_domain_search(names),
            OptionValue::ClasslessStaticRoutes(routes) => encode_routes(routes),
        }
    }

    /// The whole option as it goes in the packet: code, length, data.
    pub fn encode(&self) -> Vec<u8> {
        let payload = self.payload();
        let mut out = Vec::with_capacity(payload.len() + 2);
        out.push(self.code);
        // `new` bounded the payload to 255 bytes.
        out.push(u8::try_from(payload.len()).unwrap_or(u8::MAX));
        out.extend(payload);
        out
    }
}

/// Why an option code is not the operator's to set, if it is not: the one
/// table of the codes the server sets itself (or only clients send). The
/// config refuses each of them with this reason, and the DHCP server
/// (`raftmasq_dhcpd`'s option planner) leaves out any operator value for one.
pub fn reserved(code: u8) -> Option<&'static str> {
    Some(match code {
        0 | 255 => "pad and end are packet framing, not options",
        1 => "the subnet mask is derived from dhcp.subnet",
        3 => "the router is set by dhcp.router",
        6 => "the DNS servers are set by dhcp.dns_servers",
        12 => "the host name is the client's own",
        15 => "the domain name is set by dns.domain",
        50 => "the requested address is sent by clients only",
        51 => "the lease time is set by dhcp.lease_time",
        52 => "option overload is decided by the packet encoder",
        53 => "the message type is set per reply",
        54 => "the server identifier is this host's dhcp.address",
        55 => "the parameter request list is sent by clients only",
        56 => "the message is the server's explanation in a NAK",
        57 => "the maximum message size is sent by clients only",
        58 | 59 => "the renewal (T1) and rebinding (T2) times follow dhcp.lease_time",
        61 => "the client identifier is sent by clients only",
        80 => "rapid commit is answered per RFC 4039; turn it off with dhcp.rapid_commit",
        81 => "the client FQDN reply is built from the name the cluster grants",
        82 => "relay agent information is added by relays and echoed by the server",
        118 => "subnet selection is sent by clients or relays and echoed by the server (RFC 3011)",
        _ => return None,
    })
}

/// `[dhcp.options]`'s boot fields; each problem under its own key.
pub(crate) fn boot(named: &RawNamedOptions, problems: &mut Problems<'_>) -> BootConfig {
    let next_server = named.next_server.as_deref().and_then(|text| {
        let address = net::ipv4(text).and_then(|address| {
            if address.is_unspecified() || address.is_broadcast() {
                Err(format!(
                    "{address} is not a server's address; omit the key for none"
                ))
            } else {
                Ok(address)
            }
        });
        address
            .map_err(|reason| problems.add("dhcp.options.next_server", reason))
            .ok()
    });
    let mut text = |key: &str, value: &Option<String>| {
        value.as_deref().and_then(|value| {
            boot_text(value)
                .map(str::to_string)
                .map_err(|reason| problems.add(key, reason))
                .ok()
        })
    };
    BootConfig {
        next_server,
        server_name: text("dhcp.options.server_name", &named.server_name),
        boot_file: text("dhcp.options.boot_file", &named.boot_file),
    }
}

/// A boot server name or file name: 1–255 bytes (one option's worth; the
/// header fields hold 63 and 127), no NUL or control characters, which
/// would end or garble the NUL-terminated header field.
fn boot_text(text: &str) -> Result<&str, String> {
    if text.is_empty() {
        return Err("the name is empty; omit the key instead".into());
    }
    if text.len() > MAX_PAYLOAD {
        return Err(format!(
            "{} bytes; at most {MAX_PAYLOAD} fit option 66/67",
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(text)
}

/// RFC 1035 §4.1.4 name encoding with compression, as RFC 3397 §2 asks;
/// pointers are offsets into this option's data.
fn encode_domain_search(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for name in names {
        let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
        let mut pointer = None;
        for i in 0..labels.len() {
            let suffix = labels[i..].join(".");
            if let Some((_, offset)) = seen.iter().find(|(s, _)| *s == suffix) {
                pointer = Some(*offset);
                break;
            }
            // A pointer holds 14 bits of offset.
            if out.len() < 0x4000 {
                seen.push((suffix, out.len()));
            }
            let label = labels[i].as_bytes();
            out.push(u8::try_from(label.len()).unwrap_or(63));
            out.extend_from_slice(label);
        }
        match pointer {
            Some(offset) => {
                out.push(0xC0 | ((offset >> 8) as u8 & 0x3F));
                out.push((offset & 0xFF) as u8);
            }
            None => out.push(0),
        }
    }
    out
}

/// RFC 3442 §2: prefix length, the significant octets of the destination, router.
fn encode_routes(routes: &[StaticRoute]) -> Vec<u8> {
    let mut out = Vec::new();
    for route in routes {
        let width = route.destination.prefix_len();
        out.push(width);
        let significant = usize::from(width).div_ceil(8);
        out.extend_from_slice(&route.destination.network().octets()[..significant]);
        out.extend_from_slice(&route.gateway.octets());
    }
    out
}

/// `"DEST_CIDR via GATEWAY"`.
fn parse_route(text: &str, subnet: Option<Ipv4Net>) -> Result<StaticRoute, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [destination, "via", gateway] = words.as_slice() else {
        return Err(format!(
            "`{text}` is not a route like \"10.0.0.0/8 via 172.16.0.1\""
        ));
    };
    let destination: Ipv4Net = destination
        .parse()
        .map_err(|_| format!("`{text}`: `{destination}` is not an IPv4 CIDR"))?;
    if destination.trunc() != destination {
        return Err(format!(
            "`{text}`: {destination} has host bits set; did you mean {}?",
            destination.trunc()
        ));
    }
    let gateway = net::ipv4(gateway).map_err(|reason| format!("`{text}`: {reason}"))?;
    if let Some(subnet) = subnet
        && !subnet.contains(&gateway)
    {
        return Err(format!(
            "`{text}`: gateway {gateway} is outside dhcp.subnet {subnet}, so clients cannot reach it"
        ));
    }
    Ok(StaticRoute {
        destination,
        gateway,
    })
}

/// Parses `01:02:0a` (one or two digits per octet when separated by `:`, `-`
/// or spaces, as dnsmasq accepts) or `01020a` (two digits per octet).
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("`{text}` is not hex bytes like \"01:02:0a\" or \"01020a\"");
    let octet = |digits: &str| {
        if digits.is_empty() || digits.len() > 2 {
            return Err(invalid());
        }
        u8::from_str_radix(digits, 16).map_err(|_| invalid())
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.contains([':', '-', ' ']) {
        return trimmed.split([':', '-', ' ']).map(octet).collect();
    }
    if !trimmed.len().is_multiple_of(2) {
        return Err(format!(
            "`{text}` has an odd number of hex digits; write bytes like \"01:02:0a\" or \"01020a\""
        ));
    }
    (0..trimmed.len())
        .step_by(2)
        .map(|i| trimmed.get(i..i + 2).ok_or_else(invalid).and_then(octet))
        .collect()
}

fn addresses(items: &[String], what: &str) -> Result<Vec<Ipv4Addr>, String> {
    if items.is_empty() {
        return Err(format!("{what} needs at least one address"));
    }
    items.iter().map(|item| net::ipv4(item)).collect()
}

/// Converts a generic option's TOML value according to its declared type.
fn typed_value(kind: OptionType, value: &toml::Value) -> Result<OptionValue, String> {
    let integer = |max: i64| -> Result<i64, String> {
        match value.as_integer() {
            Some(n) if (0..=max).contains(&n) => Ok(n),
            Some(n) => Err(format!("{n} is out of range 0..={max}")),
            None => Err(format!("expected an integer, found {}", value.type_str())),
        }
    };
    let string = || -> Result<&str, String> {
        value
            .as_str()
            .ok_or_else(|| format!("expected a string, found {}", value.type_str()))
    };
    Ok(match kind {
        OptionType::Addresses => {
            let array = value.as_array().ok_or_else(|| {
                format!("expected a list of addresses, found {}", value.type_str())
            })?;
            let items = array
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_string).ok_or_else(|| {
                        format!("expected address strings, found {}", item.type_str())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            OptionValue::Addresses(addresses(&items, "the list")?)
        }
        OptionType::Address => OptionValue::Address(net::ipv4(string()?)?),
        OptionType::String => {
            let text = string()?;
            if text.is_empty() {
                return Err("the string is empty".into());
            }
            OptionValue::String(text.to_string())
        }
        OptionType::U8 => OptionValue::U8(integer(u8::MAX.into())? as u8),
        OptionType::U16 => OptionValue::U16(integer(u16::MAX.into())? as u16),
        OptionType::U32 => OptionValue::U32(integer(u32::MAX.into())? as u32),
        OptionType::Bool => OptionValue::Bool(
            value
                .as_bool()
                .ok_or_else(|| format!("expected true or false, found {}", value.type_str()))?,
        ),
        OptionType::Bytes => OptionValue::Bytes(parse_hex(string()?)?),
    })
}

/// Validates both option tables; each problem is reported under its own key.
/// `subnet` (when valid) bounds static-route gateways.
pub(crate) fn validate(
    named: &RawNamedOptions,
    generic: &[RawOption],
    subnet: Option<Ipv4Net>,
    problems: &mut Problems<'_>,
) -> Vec<DhcpOptionValue> {
    validate_under("dhcp", named, generic, subnet, problems)
}

/// [`validate`] for the tables under `section` (`dhcp`, or
/// `dhcp.networks[i]` for a network's own options), keys named after it.
pub(crate) fn validate_under(
    section: &str,
    named: &RawNamedOptions,
    generic: &[RawOption],
    subnet: Option<Ipv4Net>,
    problems: &mut Problems<'_>,
) -> Vec<DhcpOptionValue> {
    let mut out: Vec<(String, DhcpOptionValue)> = Vec::new();
    let mut push =
        |key: String, code: u8, value: Result<OptionValue, String>, problems: &mut Problems<'_>| {
            match value.and_then(|value| DhcpOptionValue::new(code, value)) {
                Ok(option) => out.push((key, option)),
                Err(reason) => problems.add(&key, reason),
            }
        };

    if let Some(mtu) = named.mtu {
        // RFC 1122 / RFC 2132 §5.1: 68 is the smallest MTU an IPv4 host must accept.
        let value = match u16::try_from(mtu) {
            Ok(mtu) if mtu >= 68 => Ok(OptionValue::U16(mtu)),
            _ => Err(format!("{mtu} is not an MTU: use 68..=65535")),
        };
        push(format!("{section}.options.mtu"), MTU, value, problems);
    }
    if let Some(servers) = &named.ntp_servers {
        let value = addresses(servers, "ntp_servers").map(OptionValue::Addresses);
        push(
            format!("{section}.options.ntp_servers"),
            NTP_SERVERS,
            value,
            problems,
        );
    }
    if let Some(search) = &named.domain_search {
        let value = if search.is_empty() {
            Err("domain_search needs at least one name; omit the key instead".into())
        } else {
            search
                .iter()
                .map(|name| names::domain(name))
                .collect::<Result<Vec<_>, _>>()
                .map(OptionValue::DomainSearch)
        };
        push(
            format!("{section}.options.domain_search"),
            DOMAIN_SEARCH,
            value,
            problems,
        );
    }
    if let Some(routes) = &named.classless_static_routes {
        let value = routes
            .iter()
            .map(|route| parse_route(route, subnet))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|routes| {
                if routes.is_empty() {
                    Err(
                        "classless_static_routes needs at least one route; omit the key instead"
                            .into(),
                    )
                } else if !routes.iter().any(|r| r.destination.prefix_len() == 0) {
                    // RFC 3442 §2: a client that receives option 121 ignores option 3.
                    Err(
                        "clients that get option 121 ignore the router option (RFC 3442), so \
                         include a default route such as \"0.0.0.0/0 via <dhcp.router>\""
                            .into(),
                    )
                } else {
                    Ok(OptionValue::ClasslessStaticRoutes(routes))
                }
            });
        push(
            format!("{section}.options.classless_static_routes"),
            CLASSLESS_STATIC_ROUTES,
            value,
            problems,
        );
    }

    for (key, code, text) in [
        (
            format!("{section}.options.tftp_server_name"),
            TFTP_SERVER_NAME,
            &named.tftp_server_name,
        ),
        (
            format!("{section}.options.bootfile_name"),
            BOOTFILE_NAME,
            &named.bootfile_name,
        ),
    ] {
        if let Some(text) = text {
            let value = boot_text(text).map(|text| OptionValue::String(text.to_string()));
            push(key, code, value, problems);
        }
    }

    for (index, option) in generic.iter().enumerate() {
        let key = |field: &str| format!("{section}.option[{index}].{field}");
        let code = match u8::try_from(option.code) {
            Ok(code) if (1..=254).contains(&code) => code,
            _ => {
                problems.add(
                    &key("code"),
                    format!("{} is not an option code: use 1..=254", option.code),
                );
                continue;
            }
        };
        if let Some(reason) = reserved(code) {
            problems.add(
                &key("code"),
                format!("option {code} cannot be set here: {reason}"),
            );
            continue;
        }
        push(
            key("value"),
            code,
            typed_value(option.kind, &option.value),
            problems,
        );
    }

    // One code, one value: a later table silently winning would hide a mistake.
    let mut options = Vec::with_capacity(out.len());
    for (index, (key, option)) in out.iter().enumerate() {
        if let Some((first, _)) = out[..index].iter().find(|(_, o)| o.code == option.code) {
            problems.add(
                key,
                format!("option {} is already set by {first}", option.code),
            );
        } else {
            options.push(option.clone());
        }
    }
    options
}

#[cfg(test)]
mod tests;
