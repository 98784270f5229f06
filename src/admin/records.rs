//! `GET /records[?name=]`, `POST /records`, `DELETE /records`: static DNS data.
//!
//! Names follow zone-file rules relative to the cluster domain: a name that
//! ends with a dot is absolute, any other is placed in the domain unless it
//! already ends with it (`www` → `www.lxd`, `www.lxd` stays).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::Done;
use raftmasq_consensus::state::{Command, RecordData, StaticRecord};
use serde::Deserialize;

use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/records", get(list).post(add).delete(remove))
}

#[derive(Debug, Default, Deserialize)]
struct ListOptions {
    name: Option<String>,
    #[serde(default)]
    consistent: bool,
}

async fn list(
    State(admin): State<Admin>,
    Query(options): Query<ListOptions>,
) -> Result<Json<Vec<StaticRecord>>, Failure> {
    let records = admin
        .read(options.consistent, |replica| {
            let table = &replica.table;
            match &options.name {
                Some(name) => {
                    let domain = table
                        .settings()
                        .map(|s| s.domain.clone())
                        .unwrap_or_default();
                    table.records_named(&qualify(name, &domain)).to_vec()
                }
                None => table.records().cloned().collect(),
            }
        })
        .await?;
    Ok(Json(records))
}

async fn add(
    State(admin): State<Admin>,
    Json(record): Json<StaticRecord>,
) -> Result<Json<Done>, Failure> {
    let record = qualified(&admin, record);
    admin
        .commit(Command::AddRecord {
            record: record.clone(),
        })
        .await?;
    Ok(Json(Done {
        message: format!("added {} {}", record.data.type_name(), record.name),
    }))
}

async fn remove(
    State(admin): State<Admin>,
    Json(record): Json<StaticRecord>,
) -> Result<Json<Done>, Failure> {
    let record = qualified(&admin, record);
    admin
        .commit(Command::RemoveRecord {
            record: record.clone(),
        })
        .await
        .map_err(|failure| match failure.status.as_u16() {
            404 => Failure::not_found(format!(
                "no {} record {} with that value: `dnsctl records list {}` shows what exists",
                record.data.type_name(),
                record.name,
                record.name
            )),
            _ => failure,
        })?;
    Ok(Json(Done {
        message: format!("removed {} {}", record.data.type_name(), record.name),
    }))
}

fn qualified(admin: &Admin, record: StaticRecord) -> StaticRecord {
    let domain = admin
        .node
        .replica()
        .read()
        .table
        .settings()
        .map(|s| s.domain.clone())
        .unwrap_or_default();
    qualify_record(record, &domain)
}

/// The record with its name and targets made absolute (see the module docs).
pub(crate) fn qualify_record(mut record: StaticRecord, domain: &str) -> StaticRecord {
    let domain = domain.to_string();
    record.name = qualify(&record.name, &domain);
    match &mut record.data {
        RecordData::Cname { target } | RecordData::Srv { target, .. } => {
            *target = qualify(target, &domain);
        }
        RecordData::Mx { exchange, .. } => *exchange = qualify(exchange, &domain),
        RecordData::A { .. } | RecordData::Aaaa { .. } | RecordData::Txt { .. } => {}
    }
    record
}

/// `name` relative to `domain`, as in a zone file (see the module docs).
pub(crate) fn qualify(name: &str, domain: &str) -> String {
    if let Some(absolute) = name.strip_suffix('.') {
        return absolute.to_string();
    }
    let lower = name.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    if domain.is_empty() || lower == domain || lower.ends_with(&format!(".{domain}")) {
        name.to_string()
    } else {
        format!("{name}.{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::qualify;

    #[test]
    fn names_are_relative_to_the_domain_unless_absolute() {
        assert_eq!(qualify("www", "lxd"), "www.lxd");
        assert_eq!(qualify("_sip._tcp", "lxd"), "_sip._tcp.lxd");
        assert_eq!(qualify("www.lxd", "lxd"), "www.lxd");
        assert_eq!(qualify("WWW.LXD", "lxd"), "WWW.LXD");
        assert_eq!(qualify("lxd", "lxd"), "lxd");
        assert_eq!(qualify("example.com.", "lxd"), "example.com");
        assert_eq!(qualify("mylxd", "lxd"), "mylxd.lxd");
    }
}
