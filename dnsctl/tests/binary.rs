//! The `dnsctl` binary itself: usage errors and help without a cluster.
//! (Against real daemons it is tested by the root package's e2e suite, which
//! finds this binary beside the daemon: having an integration test here is
//! also what makes `cargo test --workspace` build it.)

use std::process::Command;

fn dnsctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dnsctl"));
    command
        .env_remove("DNSCTL_NODE")
        .env_remove("DNSCTL_TOKEN_FILE")
        .env_remove("RAFTMASQ_CONFIG");
    command
}

#[test]
fn help_lists_the_subcommands() {
    let output = dnsctl().arg("--help").output().expect("dnsctl runs");
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for subcommand in ["leases", "reservations", "records", "status"] {
        assert!(
            help.contains(subcommand),
            "{subcommand} missing from:\n{help}"
        );
    }
}

#[test]
fn a_usage_error_exits_2() {
    let output = dnsctl().arg("frobnicate").output().expect("dnsctl runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
