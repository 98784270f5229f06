//! What this host's LXD reported last, kept in the node's data directory
//! across restarts of raftmasq, so an instance deleted (or a static address
//! removed) while raftmasq was stopped is still taken back at its next start.
//! Losing the file only loses that: the watcher starts from nothing, as if
//! it had never run, and says so.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use raftmasq_state::MacAddr;

use crate::nics::Nic;

/// The file's contents; empty if it is missing, and with a warning if it is
/// unreadable or not what [`save`] writes.
pub fn load(path: &Path) -> BTreeMap<MacAddr, Nic> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "lxd: cannot read what LXD reported before; starting from nothing");
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<Vec<(MacAddr, Nic)>>(&text) {
        Ok(entries) => entries.into_iter().collect(),
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "lxd: what LXD reported before is unreadable; starting from nothing");
            BTreeMap::new()
        }
    }
}

/// Writes `known` to `path` (a temporary file renamed over it, so a crash
/// leaves the old or the new contents).
pub fn save(path: &Path, known: &BTreeMap<MacAddr, Nic>) -> io::Result<()> {
    let entries: Vec<(&MacAddr, &Nic)> = known.iter().collect();
    let text = serde_json::to_vec(&entries).map_err(io::Error::other)?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_and_loaded_and_garbage_or_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lxd-known.json");
        assert!(load(&path).is_empty());
        let known = BTreeMap::from([(
            MacAddr([0, 0x16, 0x3e, 0, 0, 1]),
            Nic {
                project: "default".into(),
                instance: "c1".into(),
                device: "eth0".into(),
                name: Some("c1".into()),
                static_v4: Some("172.16.5.1".parse().unwrap()),
            },
        )]);
        save(&path, &known).unwrap();
        assert_eq!(load(&path), known);
        std::fs::write(&path, "garbage").unwrap();
        assert!(load(&path).is_empty());
    }
}
