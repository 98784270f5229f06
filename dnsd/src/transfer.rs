//! The contents of a zone for AXFR (RFC 5936): SOA first and last, then
//! everything in between. This is the one place that walks every lease; it
//! runs only for an allowed secondary. The zones hold what lookups answer:
//! the DHCPv6 lease names (AAAA, and ip6.arpa PTRs in stateful mode) too.

use hickory_proto::rr::Record;
use raftmasq_state::v6::V6Lease;
use raftmasq_state::{LeaseState, RecordData};

use crate::lookup::View;
use crate::rrs;
use crate::zones::{Zone, ZoneKind};

pub(crate) fn zone_records(view: &View<'_>, zone: &Zone) -> Vec<Record> {
    let config = view.config;
    let apex = zone.name();
    let soa = rrs::soa(config, zone, view.serial, rrs::INFRA_TTL);
    let mut records = vec![soa.clone()];
    records.extend(rrs::ns_records(config, &apex));
    let live = view
        .table
        .leases()
        .filter(|l| l.state == LeaseState::Bound && l.expires_at > view.now);
    match zone.kind {
        ZoneKind::Forward => {
            records.extend(rrs::glue(config, zone));
            // Every network of the domain: each name is in one table, so
            // the zone carries it once.
            let siblings = view.siblings.iter().flat_map(|table| table.leases());
            let live = live.chain(
                siblings.filter(|l| l.state == LeaseState::Bound && l.expires_at > view.now),
            );
            for lease in live {
                let Some(label) = &lease.granted_name else {
                    continue;
                };
                let fqdn = format!("{label}.{}", config.domain);
                let statics = view.table.records_named(&fqdn);
                let hidden = statics.iter().any(|r| {
                    matches!(r.data, RecordData::Cname { .. })
                        || r.data
                            == RecordData::A {
                                address: lease.address,
                            }
                });
                if !hidden && let Some(owner) = rrs::absolute(&fqdn) {
                    records.push(rrs::a(owner.clone(), config.ttl, lease.address));
                }
                if let Some(v6) = crate::lookup::slaac_address_of_lease(view, lease.address)
                    && !statics.iter().any(|r| {
                        matches!(r.data, RecordData::Cname { .. })
                            || r.data == RecordData::Aaaa { address: v6 }
                    })
                    && let Some(owner) = rrs::absolute(&fqdn)
                {
                    records.push(rrs::aaaa(owner, config.ttl, v6));
                }
            }
            records.extend(v6_lease_aaaas(view));
            for record in view.table.records() {
                if zone.relative(&record.name).is_some()
                    && let Some(owner) = rrs::absolute(&record.name)
                    && let Some(rr) = rrs::static_record(owner, config.ttl, record)
                {
                    records.push(rr);
                }
            }
        }
        ZoneKind::Reverse { subnet, .. } => {
            for lease in live.filter(|l| subnet.contains(&l.address)) {
                if let Some(label) = &lease.granted_name
                    && let Some(owner) = rrs::absolute(&crate::zones::ptr_name(lease.address))
                    && let Some(target) = rrs::absolute(&format!("{label}.{}", config.domain))
                {
                    records.push(rrs::ptr(owner, config.ttl, target));
                }
            }
        }
        ZoneKind::Reverse6 { prefix } if config.ipv6_leases => {
            records.extend(v6_lease_ptrs(view, prefix));
        }
        ZoneKind::Reverse6 { prefix } => {
            // One PTR per EUI-64 address; with several leases of one MAC
            // the lowest address's name, as lookups answer.
            let mut seen = std::collections::HashSet::new();
            for lease in live {
                let address = crate::slaac::address(prefix, lease.mac);
                if let Some(label) = &lease.granted_name
                    && seen.insert(address)
                    && let Some(owner) = rrs::absolute(&crate::zones::ptr6_name(address))
                    && let Some(target) = rrs::absolute(&format!("{label}.{}", config.domain))
                {
                    records.push(rrs::ptr(owner, config.ttl, target));
                }
            }
        }
    }
    records.push(soa);
    records
}

/// The live DHCPv6 leases of `view`, in address order.
fn live_v6_leases<'v>(view: &View<'v>) -> impl Iterator<Item = &'v V6Lease> + 'v {
    let now = view.now;
    view.v6
        .into_iter()
        .flat_map(|v6| v6.leases())
        .filter(move |lease| lease.expires_at > now)
}

/// The AAAA of each named DHCPv6 lease, as lookups answer them: hidden by a
/// static CNAME of the name or by the same static AAAA.
fn v6_lease_aaaas(view: &View<'_>) -> Vec<Record> {
    let config = view.config;
    let mut records = Vec::new();
    for lease in live_v6_leases(view) {
        let Some(label) = &lease.name else {
            continue;
        };
        let fqdn = format!("{label}.{}", config.domain);
        let hidden = view.table.records_named(&fqdn).iter().any(|r| {
            matches!(r.data, RecordData::Cname { .. })
                || r.data
                    == RecordData::Aaaa {
                        address: lease.address,
                    }
        });
        if !hidden && let Some(owner) = rrs::absolute(&fqdn) {
            records.push(rrs::aaaa(owner, config.ttl, lease.address));
        }
    }
    records
}

/// The PTR of each named DHCPv6 lease in the zone's prefix (stateful mode,
/// where lookups answer the ip6.arpa zone from the v6 leases).
fn v6_lease_ptrs(view: &View<'_>, prefix: ipnet::Ipv6Net) -> Vec<Record> {
    let config = view.config;
    live_v6_leases(view)
        .filter(|lease| prefix.contains(&lease.address))
        .filter_map(|lease| {
            let label = lease.name.as_ref()?;
            let owner = rrs::absolute(&crate::zones::ptr6_name(lease.address))?;
            let target = rrs::absolute(&format!("{label}.{}", config.domain))?;
            Some(rrs::ptr(owner, config.ttl, target))
        })
        .collect()
}
