//! `raftmasq check FILE`: every problem of a file at once, of every kind, and
//! a non-zero exit.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn check_lists_problems_of_every_kind_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "secret\n").expect("token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        format!(
            r#"[node]
id = 1
data_dir = "{data}"
cluster_addr = "10.99.0.1:7380"
colour = "blue"

[cluster]
token_file = "{token}"
peers = ["1=10.99.0.1:7380"]

[dhcp]
interface = "lxdbr0"
address = "172.16.0.1"
subnet = "172.16.0.0/16"
range = "172.16.0.10-172.16.0.250"
lease_time = 3600

[dns]
domain = "-lxd"
upstream = ["10.99.0.254"]

[log]
level = "info,raftmasq=loud"
"#,
            data = dir.path().join("data").display(),
            token = token.display(),
        ),
    )
    .expect("config");
    let output = Command::new(crate::binary())
        .args(["check"])
        .arg(&config)
        .output()
        .expect("run check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "node.colour: unknown key `colour` in [node]",
        "dhcp.lease_time: invalid type",
        "dns.domain",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in:\n{stderr}");
    }
    assert!(stderr.contains("3 problem(s)"), "{stderr}");

    // With the file fixed, the token, the TLS files and the log filter are
    // next, together.
    let fixed = std::fs::read_to_string(&config)
        .expect("read")
        .replace("colour = \"blue\"\n", "")
        .replace("lease_time = 3600", "lease_time = \"1h\"")
        .replace("-lxd", "lxd");
    std::fs::write(&config, fixed).expect("write");
    let output = Command::new(crate::binary())
        .args(["check"])
        .arg(&config)
        .output()
        .expect("run check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cluster.token_file"), "{stderr}");
    assert!(stderr.contains("log.level"), "{stderr}");
    assert!(stderr.contains("[cluster.tls]"), "{stderr}");
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
}
