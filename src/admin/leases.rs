//! `GET /leases` (filtered, sorted), `POST /leases/{address}/release`, and the
//! raw `POST /commands` that tests and tools use to propose any command.

use std::net::Ipv4Addr;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use raftmasq_api::{Done, LeaseQuery, LeaseView, V6LeaseView};
use raftmasq_consensus::state::{Command, Lease};

use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/leases", get(list))
        .route("/leases6", get(list_v6))
        .route("/leases/{address}/release", post(release))
        .route("/commands", post(command))
}

async fn list(
    State(admin): State<Admin>,
    Query(query): Query<LeaseQuery>,
) -> Result<Json<Vec<LeaseView>>, Failure> {
    // Every network's leases, each labelled with its network.
    let leases: Vec<(String, Lease)> = admin
        .read(query.consistent, |replica| {
            replica
                .networks
                .all(&replica.table)
                .flat_map(|(network, table)| {
                    table
                        .leases()
                        .map(move |lease| (network.to_string(), lease.clone()))
                })
                .collect()
        })
        .await?;
    let now = admin.now();
    let views = leases
        .iter()
        .map(|(network, lease)| LeaseView::new(lease, now).in_network(network))
        .collect();
    Ok(Json(query.select(views).map_err(Failure::bad_request)?))
}

/// The DHCPv6 leases that have not ended, filtered and sorted by the same
/// query as `/leases` (`LeaseQuery::select_v6` says how each filter reads).
async fn list_v6(
    State(admin): State<Admin>,
    Query(query): Query<LeaseQuery>,
) -> Result<Json<Vec<V6LeaseView>>, Failure> {
    let now = admin.now();
    let leases: Vec<V6LeaseView> = admin
        .read(query.consistent, |replica| {
            replica
                .v6
                .leases()
                .filter(|lease| lease.expires_at > now)
                .map(V6LeaseView::new)
                .collect()
        })
        .await?;
    Ok(Json(query.select_v6(leases).map_err(Failure::bad_request)?))
}

async fn release(
    State(admin): State<Admin>,
    Path(address): Path<String>,
) -> Result<Json<Done>, Failure> {
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| Failure::bad_request(format!("{address:?} is not an IPv4 address")))?;
    let (network, holder) = {
        let replica = admin.node.replica().read();
        let (network, table) = super::networks::holding(&replica.table, &replica.networks, address);
        let holder = table
            .lease_by_address(address)
            .map(|lease| {
                let name = lease.granted_name.as_deref().unwrap_or("no name");
                format!(" (was {} {name})", lease.mac)
            })
            .unwrap_or_default();
        (network.to_string(), holder)
    };
    let release = super::networks::for_network(
        &network,
        Command::Release {
            client_id: None,
            mac: None,
            address,
            now: 0,
        },
    );
    admin
        .commit(release)
        .await
        .map_err(|failure| match failure.status.as_u16() {
            404 => Failure::not_found(format!(
                "no lease on {address}: `dnsctl leases` lists the leases"
            )),
            _ => failure,
        })?;
    Ok(Json(Done {
        message: format!("released {address}{holder}"),
    }))
}

/// Proposes a raw state-machine command and answers the state machine's
/// response as is (a refusal included): the interface of tests and tools.
async fn command(State(admin): State<Admin>, Json(command): Json<Command>) -> Response {
    match admin.node.write(command).await {
        Ok(response) => Json(response).into_response(),
        Err(error) => Failure::from(error).into_response(),
    }
}
