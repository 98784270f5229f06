//! `GET /records[?name=&network=]`, `POST /records`, `DELETE /records`:
//! static DNS data, each record in the table of its network
//! (`crate::record_networks`: the network whose zone holds its name, or the
//! one the request names).
//!
//! Names follow zone-file rules relative to the network's domain (the
//! cluster domain when no network is named): a name that ends with a dot is
//! absolute, any other is placed in the domain unless it already ends with
//! it (`www` → `www.lxd`, `www.lxd` stays).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::Done;
use raftmasq_api::records::RecordView;
use raftmasq_consensus::state::{Command, DEFAULT_NETWORK, StaticRecord};
use serde::Deserialize;

use super::{Admin, Failure};
use crate::record_networks::{Placed, place, place_for_removal, qualify};

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/records", get(list).post(add).delete(remove))
}

#[derive(Debug, Default, Deserialize)]
struct ListOptions {
    name: Option<String>,
    /// Only this network's records.
    network: Option<String>,
    #[serde(default)]
    consistent: bool,
}

async fn list(
    State(admin): State<Admin>,
    Query(options): Query<ListOptions>,
) -> Result<Json<Vec<RecordView>>, Failure> {
    let records = admin
        .read(options.consistent, |replica| {
            // A relative name is in the named network's domain, as in `add`.
            let zone_table = options
                .network
                .as_deref()
                .and_then(|network| replica.networks.get(&replica.table, network))
                .unwrap_or(&replica.table);
            let domain = zone_table
                .settings()
                .map(|s| s.domain.clone())
                .unwrap_or_default();
            let name = options.name.as_deref().map(|name| qualify(name, &domain));
            let mut records = Vec::new();
            for (network, table) in replica.networks.all(&replica.table) {
                if options.network.as_deref().is_some_and(|n| n != network) {
                    continue;
                }
                let view = |record: &StaticRecord| RecordView {
                    record: record.clone(),
                    network: Some(network.to_string()),
                };
                match &name {
                    Some(name) => records.extend(table.records_named(name).iter().map(view)),
                    None => records.extend(table.records().map(view)),
                }
            }
            records
        })
        .await?;
    Ok(Json(records))
}

async fn add(
    State(admin): State<Admin>,
    Json(request): Json<RecordView>,
) -> Result<Json<Done>, Failure> {
    let Placed { network, record } = placed(&admin, request)?;
    admin
        .commit(Command::for_network(
            &network,
            Command::AddRecord {
                record: record.clone(),
            },
        ))
        .await?;
    Ok(Json(Done {
        message: format!(
            "added {} {}{}",
            record.data.type_name(),
            record.name,
            in_network(&network)
        ),
    }))
}

async fn remove(
    State(admin): State<Admin>,
    Json(request): Json<RecordView>,
) -> Result<Json<Done>, Failure> {
    let asked = request.network.is_some();
    let Placed { network, record } = {
        let replica = admin.node.replica().read();
        place_for_removal(
            &replica.table,
            &replica.networks,
            request.record,
            request.network.as_deref(),
        )
        .map_err(|error| Failure::bad_request(error.to_string()))?
    };
    let not_found = || {
        Failure::not_found(format!(
            "no {} record {} with that value: `dnsctl records list {}` shows what exists",
            record.data.type_name(),
            record.name,
            record.name
        ))
    };
    // Where it belongs first; without a named network, then any other table
    // holding the name (a record added before records were placed by
    // network sits in `default`'s, where DNS does not answer it).
    let mut candidates = vec![network.clone()];
    if !asked {
        let replica = admin.node.replica().read();
        candidates.extend(
            replica
                .networks
                .all(&replica.table)
                .filter(|(name, table)| {
                    *name != network && !table.records_named(&record.name).is_empty()
                })
                .map(|(name, _)| name.to_string()),
        );
    }
    for network in &candidates {
        let command = Command::for_network(
            network,
            Command::RemoveRecord {
                record: record.clone(),
            },
        );
        match admin.commit(command).await {
            Ok(_) => {
                return Ok(Json(Done {
                    message: format!(
                        "removed {} {}{}",
                        record.data.type_name(),
                        record.name,
                        in_network(network)
                    ),
                }));
            }
            Err(failure) if failure.status.as_u16() == 404 => continue,
            Err(failure) => return Err(failure),
        }
    }
    Err(not_found())
}

/// The request placed in its network, or a 400 saying why it cannot be.
fn placed(admin: &Admin, request: RecordView) -> Result<Placed, Failure> {
    let replica = admin.node.replica().read();
    place(
        &replica.table,
        &replica.networks,
        request.record,
        request.network.as_deref(),
    )
    .map_err(|error| Failure::bad_request(error.to_string()))
}

/// ` in network lab` for a network other than `default` (whose messages
/// stay as they were before networks).
fn in_network(network: &str) -> String {
    if network == DEFAULT_NETWORK {
        String::new()
    } else {
        format!(" in network {network}")
    }
}
