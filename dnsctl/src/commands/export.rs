//! `dnsctl export-dnsmasq`: a `raftmasq export` file (made on a stopped node)
//! written as dnsmasq's lease file and host entries: the way back to dnsmasq.
//! Reads and writes files only; no node is asked.

use std::fmt::Write as _;
use std::path::Path;

use raftmasq_api::rollback::{self, DnsmasqFiles, Skipped};
use raftmasq_state::Millis;
use serde::Serialize;

use crate::error::Error;
use crate::import;

/// Where the files go.
pub(crate) struct Targets<'a> {
    pub leases: &'a Path,
    pub hosts: Option<&'a Path>,
    pub conf: Option<&'a Path>,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    leases_written: usize,
    reservations_written: usize,
    skipped: &'a [Skipped],
}

pub(crate) fn export_dnsmasq(
    state: &Path,
    targets: &Targets<'_>,
    json: bool,
    now: Millis,
) -> Result<String, Error> {
    let text = std::fs::read_to_string(state).map_err(|source| Error::Read {
        path: state.to_path_buf(),
        source,
    })?;
    let export = import::read_state_export(&text)
        .map_err(|reason| Error::Usage(format!("{}: {reason}", state.display())))?;
    let files = rollback::dnsmasq_files(&export.leases, &export.reservations, now);
    write(targets.leases, &files.leases)?;
    if let Some(path) = targets.hosts {
        write(path, &files.hosts)?;
    }
    if let Some(path) = targets.conf {
        write(path, &files.conf)?;
    }
    let reservations = export.reservations.len();
    if json {
        let summary = Summary {
            leases_written: files.written,
            reservations_written: reservations,
            skipped: &files.skipped,
        };
        let mut out = serde_json::to_string_pretty(&summary).map_err(|error| Error::Decode {
            node: "-".into(),
            reason: error.to_string(),
        })?;
        out.push('\n');
        return Ok(out);
    }
    Ok(summary_text(&files, reservations, targets))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn summary_text(files: &DnsmasqFiles, reservations: usize, targets: &Targets<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} leases written to {}",
        files.written,
        targets.leases.display()
    );
    for (path, form) in [
        (targets.hosts, "hosts file"),
        (targets.conf, "dhcp-host lines"),
    ] {
        if let Some(path) = path {
            let _ = writeln!(
                out,
                "{reservations} reservations written to {} ({form})",
                path.display()
            );
        }
    }
    if reservations > 0 && targets.hosts.is_none() && targets.conf.is_none() {
        let _ = writeln!(
            out,
            "{reservations} reservations NOT written: pass --hosts FILE or --conf FILE"
        );
    }
    for skipped in &files.skipped {
        let _ = writeln!(
            out,
            "not written: {} {}: {}",
            skipped.address, skipped.mac, skipped.reason
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"{
      "format": "raftmasq-state-v1", "node_id": 1, "last_index": 9, "exported_at_ms": 1700000000000,
      "settings": null,
      "leases": [
        {"address": "172.16.0.20", "client_id": [1, 2, 66, 0, 0, 0, 1], "mac": [2, 66, 0, 0, 0, 1],
         "requested_hostname": "C1", "granted_name": "c1", "state": "bound",
         "granted_at": 1699999000000, "expires_at": 1700003600000, "seen_by": 1},
        {"address": "172.16.0.21", "client_id": [1, 2, 66, 0, 0, 0, 2], "mac": [2, 66, 0, 0, 0, 2],
         "requested_hostname": null, "granted_name": null, "state": "bound",
         "granted_at": 1699999000000, "expires_at": 1699999500000, "seen_by": 1}
      ],
      "reservations": [{"mac": [2, 66, 0, 0, 0, 9], "address": "172.16.0.9", "hostname": "fixed"}],
      "records": []
    }"#;

    #[test]
    fn writes_the_lease_file_and_both_host_forms_and_lists_what_it_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        std::fs::write(&state, EXPORT).unwrap();
        let (leases, hosts, conf) = (
            dir.path().join("dnsmasq.leases"),
            dir.path().join("hosts"),
            dir.path().join("conf"),
        );
        let targets = Targets {
            leases: &leases,
            hosts: Some(&hosts),
            conf: Some(&conf),
        };
        let text = export_dnsmasq(&state, &targets, false, 1_700_000_000_000).unwrap();
        assert_eq!(
            std::fs::read_to_string(&leases).unwrap(),
            "1700003600 02:42:00:00:00:01 172.16.0.20 c1 *\n"
        );
        assert_eq!(
            std::fs::read_to_string(&hosts).unwrap(),
            "02:42:00:00:00:09,172.16.0.9,fixed\n"
        );
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "dhcp-host=02:42:00:00:00:09,172.16.0.9,fixed\n"
        );
        assert!(text.contains("1 leases written"), "{text}");
        assert!(
            text.contains("not written: 172.16.0.21 02:42:00:00:00:02: ended"),
            "{text}"
        );
        let json = export_dnsmasq(&state, &targets, true, 1_700_000_000_000).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["leases_written"], 1);
        assert_eq!(value["reservations_written"], 1);
        assert_eq!(value["skipped"][0]["address"], "172.16.0.21");
    }

    #[test]
    fn reservations_without_a_target_are_named_and_bad_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        std::fs::write(&state, EXPORT).unwrap();
        let leases = dir.path().join("dnsmasq.leases");
        let targets = Targets {
            leases: &leases,
            hosts: None,
            conf: None,
        };
        let text = export_dnsmasq(&state, &targets, false, 1_700_000_000_000).unwrap();
        assert!(text.contains("1 reservations NOT written"), "{text}");

        std::fs::write(&state, "{\"format\": \"other\"}").unwrap();
        let error = export_dnsmasq(&state, &targets, false, 0).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(
            error.to_string().contains("not a raftmasq export"),
            "{error}"
        );
        let missing = dir.path().join("missing.json");
        let error = export_dnsmasq(&missing, &targets, false, 0).unwrap_err();
        assert!(error.to_string().contains("cannot read"), "{error}");
        std::fs::write(&state, EXPORT).unwrap();
        let unwritable = dir.path().join("no-such-dir/leases");
        let targets = Targets {
            leases: &unwritable,
            hosts: None,
            conf: None,
        };
        let error = export_dnsmasq(&state, &targets, false, 0).unwrap_err();
        assert!(error.to_string().contains("cannot write"), "{error}");
    }
}
