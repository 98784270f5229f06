//! The Debian package installs and uninstalls cleanly in a scratch root, and
//! never overwrites a changed configuration.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use raftmasq_tests::netns;

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

/// An empty root with just enough of a user database for useradd --root.
fn scratch_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").expect("shadow");
    fs::write(root.join("etc/gshadow"), "root:*::\n").expect("gshadow");
    root
}

fn dpkg(root: &Path) -> Command {
    let mut command = Command::new("dpkg");
    // Scripts run outside a chroot with DPKG_ROOT set; the scratch root has
    // no libc or passwd package, so dependencies are not checked.
    command.arg(format!("--root={}", root.display())).args([
        "--force-script-chrootless",
        "--force-depends",
        "--log=/dev/null",
    ]);
    command
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn the_deb_installs_keeps_a_changed_config_and_purges_cleanly() {
    netns::require(
        "debian package",
        &["dpkg", "dpkg-deb", "useradd", "cargo-deb"],
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The test build's binaries, lightly compressed: the package's shape is
    // what is tested here, not its size.
    run(Command::new(repo.join("scripts/build-deb.sh"))
        .arg("--fast")
        .env("PROFILE", "dev")
        .current_dir(repo));
    // cargo-deb writes under the target directory, wherever it is.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo.join("target"), std::path::PathBuf::from);
    let deb = fs::read_dir(target.join("debian"))
        .expect("the target directory's debian/")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/raftmasq",
        "./usr/bin/dnsctl",
        "./lib/systemd/system/raftmasq.service",
        "./etc/raftmasq/raftmasq.toml",
        "./usr/share/man/man8/raftmasq.8.gz",
        "./usr/share/man/man5/raftmasq.toml.5.gz",
        "./usr/share/man/man1/dnsctl.1.gz",
        "./usr/share/bash-completion/completions/raftmasq",
        "./usr/share/bash-completion/completions/dnsctl",
        "./usr/share/zsh/vendor-completions/_raftmasq",
        "./usr/share/zsh/vendor-completions/_dnsctl",
        "./usr/share/fish/vendor_completions.d/raftmasq.fish",
        "./usr/share/fish/vendor_completions.d/dnsctl.fish",
        "./usr/share/raftmasq/completions/raftmasq.elv",
        "./usr/share/raftmasq/completions/dnsctl.ps1",
        "./usr/share/raftmasq/prometheus/raftmasq-alerts.yml",
        "./usr/share/raftmasq/prometheus/raftmasq-alerts.test.yml",
        "./usr/share/raftmasq/grafana/raftmasq.json",
        "./usr/share/doc/raftmasq/metrics.md",
    ] {
        assert!(
            contents.contains(path),
            "{path} missing from the package:\n{contents}"
        );
    }

    let dir = tempfile::TempDir::new().expect("dir");
    let root = scratch_root(dir.path());
    run(dpkg(&root).arg("-i").arg(&deb));
    let passwd = fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let uid: u32 = passwd
        .lines()
        .find_map(|line| line.strip_prefix("raftmasq:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .expect("the raftmasq user was created");
    let state = fs::metadata(root.join("var/lib/raftmasq")).expect("state dir");
    assert_eq!(state.uid(), uid, "the state directory belongs to raftmasq");
    assert_eq!(state.mode() & 0o777, 0o750);
    let config = root.join("etc/raftmasq/raftmasq.toml");
    assert_eq!(
        fs::metadata(&config).expect("config").mode() & 0o007,
        0,
        "the config is not world-readable"
    );

    // An administrator edits the config; reinstalling must keep the edit.
    let edited = fs::read_to_string(&config).expect("config") + "\n# edited by the administrator\n";
    fs::write(&config, &edited).expect("edit");
    run(dpkg(&root).args(["--force-confold", "-i"]).arg(&deb));
    assert_eq!(
        fs::read_to_string(&config).expect("config"),
        edited,
        "the changed config was overwritten"
    );

    // Purge removes the files, the conffile and the user.
    run(dpkg(&root).args(["--purge", "raftmasq"]));
    assert!(!root.join("usr/bin/raftmasq").exists());
    assert!(!config.exists(), "purge removes the conffile");
    assert!(
        !fs::read_to_string(root.join("etc/passwd"))
            .expect("passwd")
            .contains("raftmasq:")
    );
    assert!(
        !root.join("var/lib/raftmasq").exists(),
        "the empty state directory goes too"
    );
}
