//! Data directories written by older releases (`tests/fixtures/*`), copied
//! before use so a test never changes the fixture.

use std::path::Path;

/// A copy of `fixtures/NAME/data` in a fresh temporary directory.
pub fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().expect("temp dir");
    copy_tree(&fixture(name).join("data"), dir.path());
    dir
}

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The bytes of the current snapshot in the data directory `dir`. A node
/// just shut down may still hold sled's lock for a moment: tried for up to
/// 5 s.
pub fn snapshot_slot(dir: &Path) -> Vec<u8> {
    let mut tries = 0;
    let db = loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => break db,
            Err(error) if tries < 250 => {
                tries += 1;
                let _ = error;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("open sled: {error}"),
        }
    };
    let slot = db.open_tree("snapshots").expect("snapshot tree");
    slot.get(b"current")
        .expect("read slot")
        .expect("a snapshot")
        .to_vec()
}

/// A clock offset that runs a node's clock 1 s after `fixture_ms`, so the
/// fixture's one-hour leases are still live.
pub fn offset_to(fixture_ms: i64) -> i64 {
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("millis fit");
    fixture_ms + 1_000 - now_ms
}
