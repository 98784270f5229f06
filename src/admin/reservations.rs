//! `GET /reservations`, `POST /reservations`, `DELETE /reservations/{mac}`.

use std::str::FromStr;

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use raftmasq_api::{Done, ReservationView};
use raftmasq_consensus::state::{Command, MacAddr, Reservation};

use super::status::ReadOptions;
use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/reservations", get(list).post(add))
        .route("/reservations/{mac}", delete(remove))
}

fn view(network: &str, reservation: &Reservation) -> ReservationView {
    ReservationView {
        mac: reservation.mac.to_string(),
        address: reservation.address,
        hostname: reservation.hostname.clone(),
        network: Some(network.to_string()),
    }
}

fn parse_mac(text: &str) -> Result<MacAddr, Failure> {
    MacAddr::from_str(text).map_err(|error| Failure::bad_request(error.to_string()))
}

async fn list(
    State(admin): State<Admin>,
    Query(options): Query<ReadOptions>,
) -> Result<Json<Vec<ReservationView>>, Failure> {
    let list = admin
        .read(options.consistent, |replica| {
            replica
                .networks
                .all(&replica.table)
                .flat_map(|(network, table)| table.reservations().map(move |r| view(network, r)))
                .collect()
        })
        .await?;
    Ok(Json(list))
}

async fn add(
    State(admin): State<Admin>,
    Json(request): Json<ReservationView>,
) -> Result<Json<Done>, Failure> {
    let mac = parse_mac(&request.mac)?;
    // The network whose subnet holds the address; the state machine refuses
    // an address outside every subnet too, checking here names the subnet.
    let (network, subnet) = {
        let replica = admin.node.replica().read();
        let (network, table) =
            super::networks::holding(&replica.table, &replica.networks, request.address);
        (network.to_string(), table.settings().map(|s| s.subnet))
    };
    if let Some(subnet) = subnet
        && !subnet.contains(&request.address)
    {
        return Err(Failure::bad_request(format!(
            "address {} is outside the cluster's subnet {subnet}",
            request.address
        )));
    }
    let reservation = Reservation {
        mac,
        address: request.address,
        hostname: request.hostname,
    };
    admin
        .commit(super::networks::for_network(
            &network,
            Command::Reserve {
                reservation: reservation.clone(),
            },
        ))
        .await?;
    let name = reservation
        .hostname
        .map(|name| format!(" as {name}"))
        .unwrap_or_default();
    Ok(Json(Done {
        message: format!("reserved {} for {mac}{name}", reservation.address),
    }))
}

async fn remove(
    State(admin): State<Admin>,
    Path(mac): Path<String>,
) -> Result<Json<Done>, Failure> {
    let mac = parse_mac(&mac)?;
    // Every network that holds a reservation for the MAC (one command each);
    // none: `default`, whose refusal says there is none.
    let networks: Vec<String> = {
        let replica = admin.node.replica().read();
        replica
            .networks
            .all(&replica.table)
            .filter(|(_, table)| table.reservation_for_mac(mac).is_some())
            .map(|(network, _)| network.to_string())
            .collect()
    };
    if networks.is_empty() {
        admin.commit(Command::Unreserve { mac }).await?;
    }
    for network in &networks {
        admin
            .commit(super::networks::for_network(
                network,
                Command::Unreserve { mac },
            ))
            .await?;
    }
    Ok(Json(Done {
        message: format!("removed the reservation of {mac}"),
    }))
}
