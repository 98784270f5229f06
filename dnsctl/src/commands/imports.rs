//! `dnsctl import-dnsmasq` and `dnsctl import-state`: moving leases and
//! reservations in, with a dry run; one report for both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reqwest::Method;

use super::{Style, now_millis, render};
use crate::api::Done;
use crate::client::Client;
use crate::error::Error;
use crate::import::{self, ImportReport, ImportRequest};
use crate::output::{Cell, Tone, or_dash, relative, table, terminal_safe};

/// The files `import-dnsmasq` reads.
pub(super) struct Sources<'a> {
    pub leases: &'a Path,
    pub conf: Option<&'a Path>,
    /// LXD's `dnsmasq.hosts` directories or single host files.
    pub lxd_hosts: &'a [PathBuf],
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The host files under `path`: every regular file of a directory (sorted,
/// as the report lists them), or the file itself.
fn host_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(error)?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(error)? {
        let entry = entry.map_err(error)?;
        if entry.file_type().map_err(error)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

pub(super) fn import_dnsmasq(
    client: &Client,
    sources: &Sources<'_>,
    dry_run: bool,
    style: &Style,
) -> Result<String, Error> {
    let lease_file = import::parse_lease_file(&read(sources.leases)?);
    let bad_leases = lease_file.unsupported;
    let conf = match sources.conf {
        Some(path) => import::parse_conf(&read(path)?),
        None => import::ConfFile::default(),
    };
    let mut reservations = conf.hosts;
    let mut names = Vec::new();
    let mut bad_lxd = Vec::new();
    for path in sources.lxd_hosts {
        for file in host_files(path)? {
            let (entries, unsupported) =
                import::parse_lxd_hosts(&file.display().to_string(), &read(&file)?);
            for entry in entries {
                match entry {
                    import::LxdEntry::Reservation(host) => reservations.push(host),
                    import::LxdEntry::Name(name) => names.push(name),
                }
            }
            bad_lxd.extend(unsupported);
        }
    }
    let request = ImportRequest {
        leases: lease_file.leases,
        reservations,
        names,
        leases6: lease_file.leases6,
        dry_run,
    };
    let mut report: ImportReport = client.write(Method::POST, "/import/dnsmasq", &request)?;
    report
        .items
        .extend(import::unsupported_items("reservation", &conf.unsupported));
    report
        .items
        .extend(import::unsupported_items("conf", &conf.options));
    report
        .items
        .extend(import::unsupported_items("lxd-host", &bad_lxd));
    report
        .items
        .extend(import::unsupported_items("lease", &bad_leases));
    let text = render(style, &report, import_text)?;
    let failed = report.count("conflict") + report.count("rejected");
    if !dry_run && failed > 0 {
        // Print the report, then fail: some leases did not make it.
        print!("{}", terminal_safe(&text, style.colour));
        return Err(Error::Incomplete(format!(
            "{failed} entries were not imported: resolve the conflicts above and run the import again (imported entries show as unchanged)"
        )));
    }
    Ok(text)
}

pub(super) fn import_state(
    client: &Client,
    file: &Path,
    dry_run: bool,
    style: &Style,
) -> Result<String, Error> {
    let text = read(file)?;
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
        print!("{}", terminal_safe(&text, style.colour));
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
                match &item.source {
                    // The file's name: LXD names it after the instance.
                    Some(source) => format!(
                        "{}:{}",
                        Path::new(source)
                            .file_name()
                            .map_or_else(|| source.clone(), |n| n.to_string_lossy().into_owned()),
                        item.line
                    ),
                    None => item.line.to_string(),
                }
                .into(),
                match (item.address, item.address6) {
                    (_, Some(v6)) => v6.to_string(),
                    (v4, None) => or_dash(v4),
                }
                .into(),
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
    use crate::import::ImportItem;

    #[test]
    fn lxd_hosts_is_a_directory_of_files_or_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("dnsmasq.hosts");
        std::fs::create_dir(&hosts).unwrap();
        for name in ["c2", "c1", "proj_web"] {
            std::fs::write(hosts.join(name), "00:16:3e:00:00:01,c1\n").unwrap();
        }
        std::fs::create_dir(hosts.join("not-a-file")).unwrap();
        let files = host_files(&hosts).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["c1", "c2", "proj_web"], "sorted, files only");
        let one = hosts.join("c1");
        assert_eq!(host_files(&one).unwrap(), vec![one.clone()]);
        let error = host_files(&dir.path().join("missing")).unwrap_err();
        assert!(error.to_string().contains("cannot read"), "{error}");
    }

    #[test]
    fn items_from_host_files_show_their_file_and_line() {
        let report = ImportReport {
            dry_run: true,
            items: vec![ImportItem {
                kind: "lxd-host".into(),
                line: 1,
                source: Some("/var/lib/lxd/networks/lxdbr0/dnsmasq.hosts/c5".into()),
                mac: None,
                address: None,
                address6: None,
                hostname: None,
                expires_at: None,
                action: "unsupported".into(),
                reason: Some("no IPv4 address and no name".into()),
            }],
        };
        let text = import_text(&report, false);
        assert!(text.contains("c5:1"), "{text}");
        assert!(!text.contains("/var/lib/lxd"), "{text}");
        assert!(text.contains("1 unsupported"), "{text}");
    }
}
