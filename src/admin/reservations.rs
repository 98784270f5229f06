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

fn view(reservation: &Reservation) -> ReservationView {
    ReservationView {
        mac: reservation.mac.to_string(),
        address: reservation.address,
        hostname: reservation.hostname.clone(),
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
            replica.table.reservations().map(view).collect()
        })
        .await?;
    Ok(Json(list))
}

async fn add(
    State(admin): State<Admin>,
    Json(request): Json<ReservationView>,
) -> Result<Json<Done>, Failure> {
    let mac = parse_mac(&request.mac)?;
    // The state machine refuses this too; checking here names the subnet.
    let subnet = admin
        .node
        .replica()
        .read()
        .table
        .settings()
        .map(|settings| settings.subnet);
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
        .commit(Command::Reserve {
            reservation: reservation.clone(),
        })
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
    admin.commit(Command::Unreserve { mac }).await?;
    Ok(Json(Done {
        message: format!("removed the reservation of {mac}"),
    }))
}
