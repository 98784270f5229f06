//! `raftmasq export`: the node's replicated state as a stable JSON document.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use raftmasq_api::records::RecordView;
use raftmasq_config::Config;
use raftmasq_consensus::state::{ClusterSettings, Lease, Reservation};
use serde::Serialize;

/// Version 1 of the export format; documented in docs/operations.md.
#[derive(Debug, Serialize)]
struct Export {
    format: &'static str,
    node_id: u64,
    /// Index of the last log entry this node held.
    last_index: u64,
    /// When the export was made (Unix ms); lease times are absolute.
    exported_at_ms: u64,
    settings: Option<ClusterSettings>,
    leases: Vec<Lease>,
    reservations: Vec<Reservation>,
    /// Every network's records, each with its `network` (an export made
    /// before networks has none: `default`'s).
    records: Vec<RecordView>,
}

pub async fn export(config: &Config) -> anyhow::Result<String> {
    let data_dir = &config.node.data_dir;
    let store = store_of(data_dir)?;
    // Opening a sled database writes to it (recovery, new segments), and
    // `export` often runs as root: it reads a private copy, so the service's
    // directory is never written and no file in it changes owner.
    let copy = tempfile::Builder::new()
        .prefix("raftmasq-export-")
        .tempdir()
        .context("cannot create a temporary directory for the copy")?;
    copy_dir(&store, &copy.path().join(STORE_DIR))
        .with_context(|| format!("cannot copy {}", store.display()))?;
    let replica = raftmasq_consensus::store::read_replica(copy.path())
        .await
        .with_context(|| format!("cannot read the store copied from {}", store.display()))?;
    let table = &replica.table;
    let export = Export {
        format: "raftmasq-state-v1",
        node_id: config.node.id,
        last_index: replica.last_applied.map_or(0, |log_id| log_id.index),
        // No node runs during an export: this host's own clock.
        exported_at_ms: raftmasq_consensus::clock::system_millis(),
        settings: table.settings().cloned(),
        leases: table.leases().cloned().collect(),
        reservations: table.reservations().cloned().collect(),
        records: replica
            .networks
            .all(table)
            .flat_map(|(network, table)| {
                table.records().map(move |record| RecordView {
                    record: record.clone(),
                    network: Some(network.to_string()),
                })
            })
            .collect(),
    };
    serde_json::to_string_pretty(&export).context("cannot encode the export")
}

/// The store's directory inside `node.data_dir`.
const STORE_DIR: &str = "sled";

/// `data_dir`'s store, if it is one and no node has it open: a missing
/// directory, one that holds no raftmasq store, or one in use is refused.
fn store_of(data_dir: &Path) -> anyhow::Result<PathBuf> {
    if !data_dir.is_dir() {
        bail!(
            "node.data_dir {} does not exist: nothing to export (is --config the file of this host's node?)",
            data_dir.display()
        );
    }
    let store = data_dir.join(STORE_DIR);
    let db = store.join("db");
    if !store.join("conf").is_file() || !db.is_file() {
        bail!(
            "node.data_dir {} holds no raftmasq store (no {STORE_DIR}/conf and {STORE_DIR}/db): nothing to export",
            data_dir.display()
        );
    }
    let file = fs::File::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
    // The running node holds sled's exclusive lock on `db` for its lifetime.
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => drop(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => bail!(
            "the store in {} is in use: stop raftmasq on this host first (systemctl stop raftmasq)",
            data_dir.display()
        ),
        Err((_, errno)) => bail!("cannot check whether {} is in use: {errno}", db.display()),
    }
    Ok(store)
}

/// A plain recursive copy (sled's directory holds regular files and
/// subdirectories only).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_data_dir_is_refused_and_not_created() {
        let parent = tempfile::tempdir().unwrap();
        let missing = parent.path().join("nope");
        let error = store_of(&missing).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_directory_without_a_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let error = store_of(dir.path()).unwrap_err().to_string();
        assert!(error.contains("holds no raftmasq store"), "{error}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing written"
        );
    }

    #[test]
    fn a_store_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path().join(STORE_DIR))
            .open()
            .unwrap();
        let error = store_of(dir.path()).unwrap_err().to_string();
        assert!(error.contains("in use"), "{error}");
        drop(db);
        // sled's flusher thread holds the store a moment after the last
        // handle goes (seen in CI): the lock is released soon, not at once.
        let released = (0..250).find_map(|_| {
            store_of(dir.path()).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            })
        });
        assert_eq!(released, Some(dir.path().join(STORE_DIR)));
    }
}
