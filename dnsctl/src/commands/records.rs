//! `dnsctl records`: static DNS records.

use raftmasq_api::records::RecordView;
use raftmasq_state::{DEFAULT_NETWORK, RecordData};
use reqwest::Method;

use super::{Style, render};
use crate::api::Done;
use crate::cli::RecordsCommand;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, or_dash, table};

pub(super) fn records(
    client: &Client,
    command: &RecordsCommand,
    consistent: bool,
    style: &Style,
) -> Result<String, Error> {
    match command {
        RecordsCommand::Add(args) | RecordsCommand::Rm(args) => {
            let record = RecordView {
                record: args.record().map_err(Error::Usage)?,
                network: args.network.clone(),
            };
            let method = match command {
                RecordsCommand::Add(_) => Method::POST,
                _ => Method::DELETE,
            };
            let done: Done = client.write(method, "/records", &record)?;
            render(style, &done, |d, _| format!("{}\n", d.message))
        }
        RecordsCommand::List { name, network } => {
            let mut query = vec![("consistent", consistent.to_string())];
            if let Some(name) = name {
                query.push(("name", name.clone()));
            }
            if let Some(network) = network {
                query.push(("network", network.clone()));
            }
            let list: Vec<RecordView> = client.get("/records", &query)?;
            render(style, &list, |list, colour| records_text(list, colour))
        }
    }
}

pub fn record_value(data: &RecordData) -> String {
    match data {
        RecordData::A { address } => address.to_string(),
        RecordData::Aaaa { address } => address.to_string(),
        RecordData::Cname { target } => target.clone(),
        RecordData::Txt { text } => format!("{text:?}"),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("{priority} {weight} {port} {target}"),
        RecordData::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}"),
    }
}

pub(super) fn records_text(list: &[RecordView], colour: bool) -> String {
    if list.is_empty() {
        return "no records\n".into();
    }
    // As `dnsctl leases` and `reservations`: a NETWORK column only with
    // records outside `default` (a node of an older release sends none).
    let network_of = |r: &RecordView| r.network.as_deref().unwrap_or(DEFAULT_NETWORK).to_string();
    let several = list.iter().any(|r| network_of(r) != DEFAULT_NETWORK);
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|view| {
            let r = &view.record;
            let mut row: Vec<Cell> = Vec::with_capacity(5);
            if several {
                row.push(network_of(view).into());
            }
            row.extend([
                r.name.clone().into(),
                or_dash(r.ttl).into(),
                r.data.type_name().into(),
                record_value(&r.data).into(),
            ]);
            row
        })
        .collect();
    let columns = ["network", "name", "ttl", "type", "value"];
    table(
        if several { &columns[..] } else { &columns[1..] },
        &rows,
        colour,
    )
}
