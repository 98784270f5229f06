//! `dnsctl records`: static DNS records.

use raftmasq_state::{RecordData, StaticRecord};
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
            let record = args.record().map_err(Error::Usage)?;
            let method = match command {
                RecordsCommand::Add(_) => Method::POST,
                _ => Method::DELETE,
            };
            let done: Done = client.write(method, "/records", &record)?;
            render(style, &done, |d, _| format!("{}\n", d.message))
        }
        RecordsCommand::List { name } => {
            let mut query = vec![("consistent", consistent.to_string())];
            if let Some(name) = name {
                query.push(("name", name.clone()));
            }
            let list: Vec<StaticRecord> = client.get("/records", &query)?;
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

pub(super) fn records_text(list: &[StaticRecord], colour: bool) -> String {
    if list.is_empty() {
        return "no records\n".into();
    }
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|r| {
            vec![
                r.name.clone().into(),
                or_dash(r.ttl).into(),
                r.data.type_name().into(),
                record_value(&r.data).into(),
            ]
        })
        .collect();
    table(&["name", "ttl", "type", "value"], &rows, colour)
}
