//! Every shipped example parses, validates and has a usable token; every
//! section of every example rejects a key it does not know.

use std::path::PathBuf;

use super::{token_file, with_token_file};
use crate::Config;

fn examples() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected lxd1-3 in {}", dir.display());
    files
}

#[test]
fn every_example_parses_validates_and_loads_its_token() {
    let token = token_file("0123456789abcdef0123456789abcdef\n", 0o600);
    for (path, text) in examples() {
        let text = with_token_file(&text, token.path());
        let config = Config::from_toml(&text, &path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert_eq!(
            config.load_token().unwrap().expose(),
            "0123456789abcdef0123456789abcdef"
        );
        assert!(config.own_peer().is_some());
    }
}

#[test]
fn read_parses_a_file_from_disk() {
    let (path, _) = &examples()[0];
    let config = Config::read(path).unwrap();
    assert_eq!(&config.source, path);
    let missing = Config::read("/nonexistent/raftmasq.toml").unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/raftmasq.toml: cannot read")
    );
}

#[test]
fn the_three_hosts_agree_on_cluster_settings_and_differ_per_host() {
    let configs: Vec<Config> = examples()
        .iter()
        .filter(|(path, _)| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lxd"))
        })
        .map(|(path, text)| Config::from_toml(text, path).unwrap())
        .collect();
    assert_eq!(configs.len(), 3);
    let first = configs[0].cluster_settings();
    for config in &configs {
        assert_eq!(
            first.differing_keys(&config.cluster_settings()),
            Vec::<&str>::new()
        );
        assert_eq!(config.cluster.peers, configs[0].cluster.peers);
        assert_eq!(config.dhcp.options, configs[0].dhcp.options);
    }
    let mut ids: Vec<u64> = configs.iter().map(|c| c.node.id).collect();
    ids.dedup();
    assert_eq!(ids, [1, 2, 3]);
    let addresses: Vec<String> = configs.iter().map(|c| c.dhcp.address.to_string()).collect();
    assert_eq!(addresses, ["172.16.0.1", "172.16.0.2", "172.16.0.3"]);
}

/// Section headers as written: `dhcp`, `dhcp.options`, `dhcp.option` (array).
fn sections(text: &str) -> Vec<(usize, String, bool)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.trim();
            if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                Some((index, name.to_string(), true))
            } else {
                let name = line.strip_prefix('[')?.strip_suffix(']')?;
                Some((index, name.to_string(), false))
            }
        })
        .collect()
}

#[test]
fn an_unknown_key_in_any_section_of_any_example_is_named() {
    for (path, text) in examples() {
        let file = path.display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        let found = sections(&text);
        assert!(found.len() >= 6, "{file}: sections {found:?}");

        // At the top level, before any table.
        let top = format!("surplus_key = 1\n{text}");
        let message = Config::from_toml(&top, &path).unwrap_err().to_string();
        assert!(message.starts_with(&file), "{message}");
        assert!(
            message.contains("surplus_key: unknown key `surplus_key` at the top level"),
            "{message}"
        );

        for (index, section, array) in found {
            let mut edited: Vec<&str> = lines.clone();
            edited.insert(index + 1, "surplus_key = 1");
            let edited = edited.join("\n");
            let error = Config::from_toml(&edited, &path).unwrap_err();
            let message = error.to_string();
            let key = if array {
                format!("{section}[0].surplus_key")
            } else {
                format!("{section}.surplus_key")
            };
            let table = if array {
                format!("{section}[0]")
            } else {
                format!("[{section}]")
            };
            assert!(
                message.starts_with(&format!(
                    "{file}:{}:1: {key}: unknown key `surplus_key` in {table}",
                    index + 2
                )),
                "{section}: {message}"
            );
            assert!(
                message.contains("expected"),
                "lists the known keys: {message}"
            );
        }
    }
}

#[test]
fn every_key_in_the_examples_is_documented() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
    )
    .unwrap();
    for (path, text) in examples() {
        for line in text.lines() {
            // Keys, including commented-out ones such as `# dns_servers = [...]`.
            let line = line.trim_start_matches(['#', ' ']);
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                assert!(
                    docs.contains(&format!("| `{key}` |")),
                    "{}: `{key}` is not in docs/configuration.md",
                    path.display()
                );
            }
        }
    }
}

/// The examples' commented `[ipv6]` section, turned on as its comment says
/// (its lines uncommented, the IPv6 listener added), is valid.
#[test]
fn every_example_with_its_ipv6_section_turned_on_is_valid() {
    for (path, text) in examples() {
        let mut on = String::new();
        let mut in_section = false;
        for line in text.lines() {
            if line == "# [ipv6]" {
                in_section = true;
            } else if line.is_empty() {
                in_section = false;
            }
            let line = if in_section && line.contains(" = ") || line == "# [ipv6]" {
                line.trim_start_matches("# ")
            } else {
                line
            };
            on.push_str(line);
            on.push('\n');
        }
        let n = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace("lxd", "");
        let on = on.replacen(
            "listen = [\"",
            &format!("listen = [\"[fd42:1::{n}]:53\", \""),
            1,
        );
        let config = Config::from_toml(&on, &path)
            .unwrap_or_else(|error| panic!("{}: {error}\n{on}", path.display()));
        let ipv6 = config.ipv6.expect("[ipv6] turned on");
        assert_eq!(ipv6.address.to_string(), format!("fd42:1::{n}"));
        assert_eq!(ipv6.mtu, Some(1450));
        assert!(
            config
                .dns
                .listen
                .contains(&format!("[fd42:1::{n}]:53").parse().unwrap())
        );
    }
}
