//! One function per subcommand: call the API, print a table or JSON.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use raftmasq_state::{Millis, RecordData, StaticRecord};
use reqwest::Method;
use serde::Serialize;

use crate::api::{
    ConflictView, Done, LeaseView, MemberAdd, MemberChanged, ReservationView, StatusView,
};
use crate::cli::{Cli, Command, LeaseArgs, MembersCommand, RecordsCommand, ReservationsCommand};
use crate::client::Client;
use crate::error::Error;
use crate::import::{self, ImportReport, ImportRequest};
use crate::output::{Cell, Tone, or_dash, relative, table};

/// How to print: JSON or a table, in colour or not.
pub struct Style {
    pub json: bool,
    pub colour: bool,
}

pub fn run(cli: &Cli, style: &Style) -> Result<String, Error> {
    let client = Client::locate(cli)?;
    let consistent = || vec![("consistent", cli.consistent.to_string())];
    match &cli.command {
        Command::Leases(args) => leases(&client, args, cli.consistent, style),
        Command::Status => {
            let status: StatusView = client.get("/status", &consistent())?;
            render(style, &status, status_text)
        }
        Command::Members(command) => members(&client, command, style),
        Command::Reservations(command) => reservations(&client, command, cli.consistent, style),
        Command::Records(command) => records(&client, command, cli.consistent, style),
        Command::Release { address } => {
            let done: Done =
                client.write(Method::POST, &format!("/leases/{address}/release"), &())?;
            render(style, &done, |d, _| format!("{}\n", d.message))
        }
        Command::Conflicts => {
            let conflicts: Vec<ConflictView> = client.get("/conflicts", &consistent())?;
            render(style, &conflicts, |list, colour| {
                conflicts_text(list, colour)
            })
        }
        Command::ImportDnsmasq {
            leases,
            conf,
            dry_run,
        } => import_dnsmasq(&client, leases, conf.as_deref(), *dry_run, style),
        Command::ImportState { file, dry_run } => import_state(&client, file, *dry_run, style),
        Command::Completions { .. } | Command::Man { .. } => {
            Err(Error::Usage("this command needs no node".into()))
        }
    }
}

fn render<T: Serialize>(
    style: &Style,
    value: &T,
    text: impl FnOnce(&T, bool) -> String,
) -> Result<String, Error> {
    if style.json {
        let mut out = serde_json::to_string_pretty(value).map_err(|error| Error::Decode {
            node: "-".into(),
            reason: error.to_string(),
        })?;
        out.push('\n');
        Ok(out)
    } else {
        Ok(text(value, style.colour))
    }
}

pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

// ------------------------------------------------------------------- leases

fn leases(
    client: &Client,
    args: &LeaseArgs,
    consistent: bool,
    style: &Style,
) -> Result<String, Error> {
    let mut query = vec![
        ("consistent", consistent.to_string()),
        ("sort", args.sort.as_str().to_string()),
    ];
    if let Some(host) = args.host {
        query.push(("host", host.to_string()));
    }
    if let Some(mac) = args.mac {
        query.push(("mac", mac.to_string()));
    }
    if let Some(name) = &args.name {
        query.push(("name", name.clone()));
    }
    if let Some(state) = args.state {
        query.push(("state", state.as_str().to_string()));
    }
    let leases: Vec<LeaseView> = client.get("/leases", &query)?;
    render(style, &leases, |leases, colour| {
        leases_text(leases, now_millis(), colour)
    })
}

pub fn leases_text(leases: &[LeaseView], now: Millis, colour: bool) -> String {
    if leases.is_empty() {
        return "no leases\n".into();
    }
    let rows: Vec<Vec<Cell>> = leases
        .iter()
        .map(|lease| {
            let tone = match lease.state.as_str() {
                "bound" => Tone::Good,
                "offered" => Tone::Warn,
                _ => Tone::Dim,
            };
            vec![
                lease.address.to_string().into(),
                lease.mac.clone().into(),
                or_dash(lease.requested_hostname.as_ref()).into(),
                or_dash(lease.granted_name.as_ref()).into(),
                Cell::new(lease.state.clone(), tone),
                relative(i128::from(lease.expires_at) - i128::from(now)).into(),
                lease
                    .seen_by
                    .map_or_else(|| "-".to_string(), |id| format!("node {id}"))
                    .into(),
            ]
        })
        .collect();
    table(
        &[
            "address", "mac", "hostname", "dns name", "state", "expires", "seen by",
        ],
        &rows,
        colour,
    )
}

// ------------------------------------------------------------------- status

pub fn status_text(status: &StatusView, colour: bool) -> String {
    let mut out = String::new();
    let quorum = if status.has_quorum { "yes" } else { "NO" };
    let _ = writeln!(
        out,
        "node {} ({}) · leader: {} · term {} · quorum: {quorum}",
        status.node_id,
        status.role,
        status
            .leader
            .map_or_else(|| "none".to_string(), |id| format!("node {id}")),
        status.term,
    );
    let _ = writeln!(
        out,
        "log: last {} · committed {} · applied {}",
        or_dash(status.last_log_index),
        or_dash(status.committed),
        or_dash(status.applied),
    );
    let pool = status.pool;
    if status.initialized {
        let _ = writeln!(
            out,
            "pool {}: {} in use ({} bound, {} offered) · {} free · {} reserved · {} quarantined · {} in range",
            or_dash(status.subnet.as_ref()),
            pool.in_use,
            pool.bound,
            pool.offered,
            pool.free,
            pool.reserved,
            pool.quarantined,
            pool.size,
        );
    } else {
        let _ = writeln!(
            out,
            "cluster settings not written yet (no leader has committed them)"
        );
    }
    let dns_servers = if status.dns_servers.is_empty() {
        "-".to_string()
    } else {
        status.dns_servers.join(", ")
    };
    if status.dns_servers_missing.is_empty() {
        let _ = writeln!(out, "dns servers in leases: {dns_servers}");
    } else {
        let missing: Vec<String> = status
            .dns_servers_missing
            .iter()
            .map(|id| format!("node {id}"))
            .collect();
        let _ = writeln!(
            out,
            "dns servers in leases: {dns_servers} · INCOMPLETE, DHCP waits for the bridge address of {}",
            missing.join(", ")
        );
    }
    out.push('\n');
    let rows: Vec<Vec<Cell>> = status
        .members
        .iter()
        .map(|member| {
            let reachable = if member.reachable {
                Cell::new("yes", Tone::Good)
            } else {
                Cell::new("no", Tone::Bad)
            };
            let lag = match member.lag {
                Some(0) => Cell::new("0", Tone::Good),
                Some(lag) => Cell::new(lag.to_string(), Tone::Warn),
                None => Cell::from("-"),
            };
            vec![
                member.id.to_string().into(),
                member.role.clone().into(),
                member.cluster_addr.clone().into(),
                or_dash(member.admin_addr.as_ref()).into(),
                reachable,
                or_dash(member.term).into(),
                or_dash(member.applied).into(),
                lag,
                member.error.clone().unwrap_or_default().into(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "id",
            "role",
            "cluster addr",
            "admin addr",
            "reachable",
            "term",
            "applied",
            "lag",
            "problem",
        ],
        &rows,
        colour,
    ));
    out
}

// ------------------------------------------------------------------ members

fn members(client: &Client, command: &MembersCommand, style: &Style) -> Result<String, Error> {
    let changed: MemberChanged = match command {
        MembersCommand::Add {
            id,
            cluster_addr,
            admin_addr,
        } => client.write(
            Method::POST,
            "/members",
            &MemberAdd {
                id: *id,
                cluster_addr: cluster_addr.clone(),
                admin_addr: admin_addr.clone(),
            },
        )?,
        MembersCommand::Promote { id } => {
            client.write(Method::POST, &format!("/members/{id}/promote"), &())?
        }
        MembersCommand::Remove { id } => {
            client.write(Method::DELETE, &format!("/members/{id}"), &())?
        }
    };
    render(style, &changed, |c, _| format!("{}\n", c.message))
}

// ------------------------------------------------------------- reservations

fn reservations(
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
                let rows: Vec<Vec<Cell>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.mac.clone().into(),
                            r.address.to_string().into(),
                            or_dash(r.hostname.as_ref()).into(),
                        ]
                    })
                    .collect();
                table(&["mac", "address", "hostname"], &rows, colour)
            })
        }
    }
}

// ------------------------------------------------------------------ records

fn records(
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

fn records_text(list: &[StaticRecord], colour: bool) -> String {
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

// ---------------------------------------------------------------- conflicts

fn conflicts_text(list: &[ConflictView], colour: bool) -> String {
    if list.is_empty() {
        return "no hostname conflicts\n".into();
    }
    let now = now_millis();
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|c| {
            let outcome = match &c.granted_instead {
                Some(name) => Cell::new(format!("suffixed: {name}"), Tone::Warn),
                None => Cell::new("rejected (no name)", Tone::Bad),
            };
            vec![
                c.name.clone().into(),
                format!("{} ({})", c.owner_address, c.owner).into(),
                format!("{} ({})", c.claimant_address, c.claimant_mac).into(),
                outcome,
                format!("{} ago", relative(i128::from(now) - i128::from(c.at))).into(),
            ]
        })
        .collect();
    table(
        &["name", "holder", "claimant", "outcome", "when"],
        &rows,
        colour,
    )
}

// ------------------------------------------------------------------- import

fn import_dnsmasq(
    client: &Client,
    leases: &std::path::Path,
    conf: Option<&std::path::Path>,
    dry_run: bool,
    style: &Style,
) -> Result<String, Error> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let (lease_lines, bad_leases) = import::parse_leases(&read(leases)?);
    let (hosts, bad_hosts) = match conf {
        Some(path) => import::parse_conf(&read(path)?),
        None => (Vec::new(), Vec::new()),
    };
    let request = ImportRequest {
        leases: lease_lines,
        reservations: hosts,
        dry_run,
    };
    let mut report: ImportReport = client.write(Method::POST, "/import/dnsmasq", &request)?;
    report
        .items
        .extend(import::unsupported_items("reservation", &bad_hosts));
    report
        .items
        .extend(import::unsupported_items("lease", &bad_leases));
    let text = render(style, &report, import_text)?;
    let failed = report.count("conflict") + report.count("rejected");
    if !dry_run && failed > 0 {
        // Print the report, then fail: some leases did not make it.
        print!("{text}");
        return Err(Error::Incomplete(format!(
            "{failed} entries were not imported: resolve the conflicts above and run the import again (imported entries show as unchanged)"
        )));
    }
    Ok(text)
}

fn import_state(
    client: &Client,
    file: &std::path::Path,
    dry_run: bool,
    style: &Style,
) -> Result<String, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let (request, records) = import::state_request(&text, dry_run)
        .map_err(|reason| Error::Usage(format!("{}: {reason}", file.display())))?;
    let report: ImportReport = client.write(Method::POST, "/import/dnsmasq", &request)?;
    let mut added = 0;
    if !dry_run {
        for record in &records {
            let _: Done = client.write(Method::POST, "/records", record)?;
            added += 1;
        }
    }
    let mut text = render(style, &report, import_text)?;
    if !style.json {
        let verb = if dry_run { "would add" } else { "added" };
        let count = if dry_run { records.len() } else { added };
        let _ = writeln!(text, "static records: {count} {verb}");
    }
    let failed = report.count("conflict") + report.count("rejected");
    if !dry_run && failed > 0 {
        print!("{text}");
        return Err(Error::Incomplete(format!(
            "{failed} entries were not restored: resolve the conflicts above and run the import again"
        )));
    }
    Ok(text)
}

fn import_text(report: &ImportReport, colour: bool) -> String {
    let now = now_millis();
    let rows: Vec<Vec<Cell>> = report
        .items
        .iter()
        .map(|item| {
            let tone = match item.action.as_str() {
                "add" | "applied" => Tone::Good,
                "unchanged" | "expired" => Tone::Dim,
                _ => Tone::Bad,
            };
            let action = if report.dry_run && item.action == "add" {
                "would add".to_string()
            } else {
                item.action.clone()
            };
            vec![
                item.kind.clone().into(),
                item.line.to_string().into(),
                or_dash(item.address).into(),
                or_dash(item.mac.as_ref()).into(),
                or_dash(item.hostname.as_ref()).into(),
                item.expires_at
                    .map_or_else(
                        || "-".into(),
                        |at| relative(i128::from(at) - i128::from(now)),
                    )
                    .into(),
                Cell::new(action, tone),
                item.reason.clone().unwrap_or_default().into(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "kind", "line", "address", "mac", "hostname", "expires", "action", "reason",
        ],
        &rows,
        colour,
    );
    let _ = writeln!(
        out,
        "\n{}{} to add, {} applied, {} unchanged, {} conflicts, {} rejected, {} expired, {} unsupported",
        if report.dry_run { "dry run: " } else { "" },
        report.count("add"),
        report.count("applied"),
        report.count("unchanged"),
        report.count("conflict"),
        report.count("rejected"),
        report.count("expired"),
        report.count("unsupported"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MemberView, PoolView};
    use std::net::Ipv4Addr;

    #[test]
    fn the_lease_table_shows_every_column_in_human_units() {
        let now = 1_000_000_000;
        let leases = vec![LeaseView {
            address: Ipv4Addr::new(10, 0, 0, 10),
            mac: "02:42:00:00:01:01".into(),
            client_id: "01:02:42:00:00:01:01".into(),
            requested_hostname: Some("C1".into()),
            granted_name: Some("c1-2".into()),
            state: "bound".into(),
            granted_at: now,
            expires_at: now + 42 * 60_000,
            seen_by: Some(2),
        }];
        let text = leases_text(&leases, now, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "ADDRESS    MAC                HOSTNAME  DNS NAME  STATE  EXPIRES  SEEN BY",
                "10.0.0.10  02:42:00:00:01:01  C1        c1-2      bound  42m      node 2",
            ]
        );
        assert_eq!(leases_text(&[], now, false), "no leases\n");
    }

    #[test]
    fn status_names_members_reachability_and_lag() {
        let member = |id, role: &str, reachable, lag| MemberView {
            id,
            role: role.into(),
            cluster_addr: format!("10.99.0.{id}:7380"),
            admin_addr: None,
            reachable,
            error: (!reachable).then(|| "connection refused".to_string()),
            term: reachable.then_some(3),
            last_log_index: None,
            applied: reachable.then_some(12),
            lag,
        };
        let status = StatusView {
            node_id: 1,
            role: "leader".into(),
            leader: Some(1),
            term: 3,
            last_log_index: Some(12),
            committed: Some(12),
            applied: Some(12),
            has_quorum: true,
            initialized: true,
            domain: Some("lxd".into()),
            subnet: Some("10.0.0.0/16".into()),
            pool: PoolView {
                size: 100,
                in_use: 3,
                bound: 2,
                offered: 1,
                free: 95,
                reserved: 2,
                quarantined: 0,
            },
            members: vec![
                member(1, "leader", true, None),
                member(2, "follower", true, Some(0)),
                member(3, "follower", false, None),
            ],
            dns_servers: vec!["10.0.0.2".into(), "10.0.0.3".into(), "10.0.0.4".into()],
            dns_servers_missing: Vec::new(),
            now: 0,
        };
        let text = status_text(&status, false);
        assert!(
            text.contains("dns servers in leases: 10.0.0.2, 10.0.0.3, 10.0.0.4\n"),
            "{text}"
        );
        let waiting = StatusView {
            dns_servers: vec!["10.0.0.2".into()],
            dns_servers_missing: vec![2, 3],
            ..status.clone()
        };
        assert!(
            status_text(&waiting, false).contains(
                "dns servers in leases: 10.0.0.2 · INCOMPLETE, DHCP waits for the bridge address of node 2, node 3"
            ),
            "{}",
            status_text(&waiting, false)
        );
        assert!(
            text.contains("node 1 (leader) · leader: node 1 · term 3 · quorum: yes"),
            "{text}"
        );
        assert!(
            text.contains("3 in use (2 bound, 1 offered) · 95 free · 2 reserved"),
            "{text}"
        );
        let row3 = text
            .lines()
            .find(|l| l.starts_with("3 "))
            .expect("row of node 3");
        assert!(
            row3.contains(" no ") && row3.ends_with("connection refused"),
            "{row3}"
        );
        let row2 = text
            .lines()
            .find(|l| l.starts_with("2 "))
            .expect("row of node 2");
        assert!(row2.contains(" yes "), "{row2}");
    }
}
