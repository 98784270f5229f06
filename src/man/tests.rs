use std::io::Write as _;
use std::process::{Command, Stdio};

use super::*;

/// groff's complaints about a page (`-ww`: every warning), or why it could
/// not run. Under CI a missing groff fails the test instead of skipping it.
fn groff_warnings(page: &[u8]) -> String {
    let child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var("CI").is_err(),
                "groff is needed to check the man pages: {error}"
            );
            return String::new();
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page)
        .expect("feed groff");
    let output = child.wait_with_output().expect("groff");
    assert!(output.status.success(), "groff failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The keys the configuration reference documents: the first cell of every
/// table row, when it is code.
fn documented_keys() -> Vec<String> {
    CONFIGURATION_MD
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cell = line.trim_start_matches("| ").split(" |").next()?;
            let key = cell.strip_prefix('`')?.strip_suffix('`')?;
            (!key.contains('`')).then(|| key.to_string())
        })
        .collect()
}

#[test]
fn the_config_page_carries_every_documented_key_and_section() {
    let page = config_page();
    let keys = documented_keys();
    assert!(keys.len() > 30, "found only {keys:?}");
    for key in &keys {
        let roff = format!("\\fB{}\\fR", markdown::escape(key));
        assert!(
            page.contains(&roff),
            "{key} is missing from raftmasq.toml(5)"
        );
    }
    for section in ["[NODE]", "[CLUSTER]", "[DHCP]", "[DNS]", "[LOG]"] {
        assert!(
            page.lines()
                .any(|l| l.starts_with(".SH") && l.contains(section)),
            "no section for {section}"
        );
    }
    assert!(page.starts_with(".TH RAFTMASQ.TOML 5"));
    assert!(
        !page.lines().any(|l| l.starts_with('|')),
        "a markdown table leaked into the page"
    );
}

#[test]
fn both_pages_render_without_a_groff_warning() {
    let warnings = groff_warnings(config_page().as_bytes());
    assert!(warnings.is_empty(), "raftmasq.toml(5):\n{warnings}");
    let warnings = groff_warnings(&raftmasq_page().expect("page"));
    assert!(warnings.is_empty(), "raftmasq(8):\n{warnings}");
}

#[test]
fn the_raftmasq_page_has_the_sections_an_operator_looks_for() {
    let page = String::from_utf8(raftmasq_page().expect("page")).expect("utf-8");
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "FILES",
        "SIGNALS",
        "ENVIRONMENT",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(page.contains(&format!(".SH {section}")), "no {section}");
    }
    for subcommand in ["demo", "check", "export", "completions"] {
        assert!(page.contains(subcommand), "{subcommand} not listed");
    }
    let dir = tempfile::tempdir().expect("dir");
    write_pages(dir.path()).expect("write");
    for page in ["raftmasq.8", "raftmasq.toml.5"] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
}

#[test]
fn completions_exist_for_every_shell_and_know_the_subcommands() {
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let script = String::from_utf8(completions(shell)).expect("utf-8");
        for word in ["demo", "check", "export", "config"] {
            assert!(script.contains(word), "{shell:?} completion lacks {word}");
        }
    }
}
