//! `dnsctl import-dnsmasq` and `dnsctl import-state`: moving leases and
//! reservations in, with a dry run; one report for both.

use std::fmt::Write as _;

use reqwest::Method;

use super::{Style, now_millis, render};
use crate::api::Done;
use crate::client::Client;
use crate::error::Error;
use crate::import::{self, ImportReport, ImportRequest};
use crate::output::{Cell, Tone, or_dash, relative, table};

pub(super) fn import_dnsmasq(
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

pub(super) fn import_state(
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

pub(super) fn import_text(report: &ImportReport, colour: bool) -> String {
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
