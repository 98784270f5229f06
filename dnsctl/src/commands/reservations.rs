//! `dnsctl reservations`: fixed addresses (and names) for MACs.

use reqwest::Method;

use super::{Style, render};
use crate::api::{Done, ReservationView};
use crate::cli::ReservationsCommand;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, or_dash, table};

pub(super) fn reservations(
    client: &Client,
    command: &ReservationsCommand,
    consistent: bool,
    style: &Style,
) -> Result<String, Error> {
    match command {
        ReservationsCommand::Add {
            mac,
            address,
            hostname,
        } => {
            let done: Done = client.write(
                Method::POST,
                "/reservations",
                &ReservationView {
                    mac: mac.to_string(),
                    address: *address,
                    hostname: hostname.clone(),
                    network: None,
                },
            )?;
            render(style, &done, |d, _| format!("{}\n", d.message))
        }
        ReservationsCommand::Rm { mac } => {
            let done: Done = client.write(Method::DELETE, &format!("/reservations/{mac}"), &())?;
            render(style, &done, |d, _| format!("{}\n", d.message))
        }
        ReservationsCommand::List => {
            let list: Vec<ReservationView> =
                client.get("/reservations", &[("consistent", consistent.to_string())])?;
            render(style, &list, |list, colour| {
                if list.is_empty() {
                    return "no reservations\n".into();
                }
                // As `dnsctl leases`: a NETWORK column only with several networks.
                let several = list.iter().any(|r| {
                    r.network
                        .as_deref()
                        .is_some_and(|n| n != raftmasq_state::DEFAULT_NETWORK)
                });
                let rows: Vec<Vec<Cell>> = list
                    .iter()
                    .map(|r| {
                        let mut row: Vec<Cell> = Vec::with_capacity(4);
                        if several {
                            row.push(
                                r.network
                                    .as_deref()
                                    .unwrap_or(raftmasq_state::DEFAULT_NETWORK)
                                    .to_string()
                                    .into(),
                            );
                        }
                        row.extend([
                            r.mac.clone().into(),
                            r.address.to_string().into(),
                            or_dash(r.hostname.as_ref()).into(),
                        ]);
                        row
                    })
                    .collect();
                let columns = ["network", "mac", "address", "hostname"];
                table(
                    if several { &columns[..] } else { &columns[1..] },
                    &rows,
                    colour,
                )
            })
        }
    }
}
