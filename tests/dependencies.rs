//! The crate graph's rules (ARCHITECTURE.md, issue 18), checked on what
//! cargo resolves, so that a new dependency that breaks one fails here:
//!
//! - the daemon does not depend on the CLI crate (`raftmasq-dnsctl`) or its
//!   completion machinery;
//! - the replicated state does not depend on the file format (`config`);
//! - the pure crates (state, config, the API contract) pull in no async
//!   runtime, sockets or HTTP.
//!
//! Each crate's normal dependencies are read with `cargo tree -p CRATE -e
//! normal`, which resolves features for that crate alone (as a build of it
//! would), not for the whole workspace at once.

use std::collections::BTreeSet;
use std::process::Command;

/// Every package in the normal (non-dev, non-build) dependency tree of
/// `package`, itself included.
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "--format",
            "{p}",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn assert_none_of(package: &str, forbidden: &[&str], why: &str) {
    let dependencies = normal_dependencies(package);
    assert!(
        dependencies.contains(package),
        "cargo tree listed nothing for {package}: {dependencies:?}"
    );
    let found: Vec<&&str> = forbidden
        .iter()
        .filter(|name| dependencies.contains(**name))
        .collect();
    assert!(
        found.is_empty(),
        "{package} depends on {found:?}: {why} (see `cargo tree -p {package} -e normal -i NAME`)"
    );
}

/// An async runtime, sockets, HTTP or storage: what the pure crates leave
/// to the daemon and the I/O edges.
const IO: &[&str] = &[
    "tokio", "mio", "socket2", "nix", "hyper", "reqwest", "axum", "sled", "openraft",
];

#[test]
fn the_daemon_does_not_depend_on_the_cli() {
    // clap_complete is allowed: it writes the daemon's own completions
    // (`raftmasq completions SHELL`), not dnsctl's.
    assert_none_of(
        "raftmasq",
        &["raftmasq-dnsctl"],
        "the admin API's types live in raftmasq-api, shared by both",
    );
}

#[test]
fn the_state_crate_does_not_depend_on_config() {
    assert_none_of(
        "raftmasq-state",
        &["raftmasq-config", "toml"],
        "config maps file values into the state crate's types, not the other way",
    );
}

#[test]
fn the_pure_crates_have_no_runtime_sockets_or_http() {
    for package in ["raftmasq-state", "raftmasq-config", "raftmasq-api"] {
        assert_none_of(
            package,
            IO,
            "it is pure: no clock, no I/O; the daemon and dhcpd/dnsd/consensus do that",
        );
    }
}
