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

/// `deny.toml`: the licences and sources dependencies may have.
struct Policy {
    licences: Vec<String>,
    registries: Vec<String>,
    git: Vec<String>,
}

fn policy() -> Policy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deny.toml");
    let text = std::fs::read_to_string(path).expect("deny.toml");
    let table: toml::Table = text.parse().expect("deny.toml is TOML");
    let strings = |section: &str, key: &str| -> Vec<String> {
        table[section][key]
            .as_array()
            .unwrap_or_else(|| panic!("deny.toml: {section}.{key} is a list"))
            .iter()
            .map(|value| value.as_str().expect("a string").to_string())
            .collect()
    };
    Policy {
        licences: strings("licenses", "allow"),
        registries: strings("sources", "allow-registry"),
        git: strings("sources", "allow-git"),
    }
}

/// Every package a Linux build can use, from `cargo metadata` (offline: the
/// lock file and the local registry cache).
fn packages() -> Vec<serde_json::Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let used: BTreeSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("a resolve graph")
        .iter()
        .filter_map(|node| node["id"].as_str())
        .collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|package| package["id"].as_str().is_some_and(|id| used.contains(id)))
        .cloned()
        .collect()
}

/// Whether `expression` (a Cargo `license` field) can be met with `allowed`.
fn licence_allowed(expression: &str, allowed: &[String]) -> Result<bool, String> {
    let parsed = spdx::Expression::parse_mode(expression, spdx::ParseMode::LAX)
        .map_err(|error| error.to_string())?;
    Ok(parsed.evaluate(|requirement| allowed.contains(&requirement.to_string())))
}

#[test]
fn the_licence_check_reads_expressions_as_cargo_deny_does() {
    let allowed = ["MIT".to_string(), "Apache-2.0".to_string()];
    assert_eq!(licence_allowed("MIT OR Apache-2.0", &allowed), Ok(true));
    assert_eq!(licence_allowed("MIT/Apache-2.0", &allowed), Ok(true));
    assert_eq!(licence_allowed("GPL-3.0 OR MIT", &allowed), Ok(true));
    assert_eq!(licence_allowed("MIT AND BSD-3-Clause", &allowed), Ok(false));
    assert_eq!(licence_allowed("GPL-3.0-only", &allowed), Ok(false));
    assert_eq!(licence_allowed("AGPL-3.0-or-later", &allowed), Ok(false));
    assert_eq!(
        licence_allowed("Apache-2.0 WITH LLVM-exception", &allowed),
        Ok(false),
        "an exception must be allowed by name"
    );
    assert!(licence_allowed("not a licence ((", &allowed).is_err());
}

#[test]
fn every_dependency_has_an_allowed_licence_and_source() {
    let policy = policy();
    let packages = packages();
    assert!(packages.len() > 100, "only {} packages", packages.len());
    let mut problems = Vec::new();
    for package in &packages {
        let name = format!("{} {}", package["name"], package["version"]);
        let Some(source) = package["source"].as_str() else {
            // A path dependency: the workspace's own crates, raftmasq itself.
            continue;
        };
        let allowed_source = if let Some(registry) = source.strip_prefix("registry+") {
            policy.registries.iter().any(|allowed| allowed == registry)
        } else if let Some(git) = source.strip_prefix("git+") {
            policy
                .git
                .iter()
                .any(|allowed| git.starts_with(allowed.as_str()))
        } else {
            false
        };
        if !allowed_source {
            problems.push(format!(
                "{name}: source {source} is not allowed by deny.toml [sources]"
            ));
        }
        match package["license"].as_str() {
            None => problems.push(format!(
                "{name}: no SPDX licence expression (license-file only); review it and add an exception"
            )),
            Some(expression) => match licence_allowed(expression, &policy.licences) {
                Ok(true) => {}
                Ok(false) => problems.push(format!(
                    "{name}: licence {expression:?} is not allowed by deny.toml [licenses]"
                )),
                Err(error) => problems.push(format!("{name}: licence {expression:?}: {error}")),
            },
        }
    }
    assert!(
        problems.is_empty(),
        "dependency policy:\n{}",
        problems.join("\n")
    );
}
