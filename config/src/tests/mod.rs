//! Tests of the whole path: text → `Config` or an error naming file, key, reason.

mod examples;
mod networks;
mod rules;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use crate::{Config, ConfigError};

/// A small valid file using mostly defaults.
pub(crate) const BASE: &str = r#"
[node]
id = 1
data_dir = "/var/lib/raftmasq"
cluster_addr = "10.99.0.1:7380"

[cluster]
token_file = "/etc/raftmasq/cluster.token"
peers = ["1=10.99.0.1:7380", "2=10.99.0.2:7380", "3=10.99.0.3:7380"]

[dhcp]
interface = "lxdbr0"
address = "172.16.0.1"
subnet = "172.16.0.0/16"
range = "172.16.0.10-172.16.255.254"

[dns]
upstream = ["9.9.9.9"]
"#;

/// `BASE` with `line` (a whole `key = value` line) replaced, or appended to
/// `[section]` when the key is not there yet.
pub(crate) fn with(base: &str, section: &str, line: &str) -> String {
    let key = line.split('=').next().unwrap_or_default().trim();
    let lines: Vec<&str> = base.lines().collect();
    let header = format!("[{section}]");
    let start = lines.iter().position(|l| l.trim() == header);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match start {
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with('['))
                .map_or(lines.len(), |p| start + 1 + p);
            match (start + 1..end)
                .find(|&i| lines[i].split('=').next().unwrap_or_default().trim() == key)
            {
                Some(i) => out[i] = line.to_string(),
                None => out.insert(start + 1, line.to_string()),
            }
        }
        None => {
            out.push(header);
            out.push(line.to_string());
        }
    }
    out.join("\n") + "\n"
}

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml")
}

/// Asserts that `text` is rejected with a problem under `key` whose reason
/// contains `reason`, and that the rendered message names file and key.
#[track_caller]
pub(crate) fn rejects(text: &str, key: &str, reason: &str) {
    let error = match parse(text) {
        Ok(_) => panic!("accepted, expected {key}: {reason}\n{text}"),
        Err(error) => error,
    };
    let rendered = error.to_string();
    let found = error
        .problems()
        .iter()
        .any(|p| p.key == key && p.reason.contains(reason));
    assert!(found, "expected {key}: …{reason}…, got:\n{rendered}");
    assert!(rendered.starts_with("test.toml"), "{rendered}");
    assert!(rendered.contains(&format!(": {key}: ")), "{rendered}");
}

pub(crate) fn token_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    file
}

/// Points `token_file` at `path`, whatever it was.
pub(crate) fn with_token_file(text: &str, path: &std::path::Path) -> String {
    let replaced: Vec<String> = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("token_file") {
                format!("token_file = {:?}", path.display().to_string())
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_ne!(
        replaced.join("\n"),
        text.trim_end_matches('\n'),
        "no token_file line"
    );
    replaced.join("\n") + "\n"
}
