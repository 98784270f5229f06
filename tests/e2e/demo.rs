//! The README's run command: `raftmasq demo` forms a cluster on loopback, and
//! the commands it prints work as printed. Ctrl-C removes everything.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use raftmasq_tests::netns;

/// Runs one printed command line (whitespace-separated, no shell).
fn run_printed(line: &str) -> String {
    let command = line.split('#').next().unwrap_or("").trim();
    let mut words = command.split_whitespace();
    let program = words.next().expect("a program");
    let output = Command::new(program)
        .args(words)
        .output()
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The demo listens on fixed loopback ports: one demo at a time.
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running `raftmasq demo` and what it printed up to its instructions.
struct Demo {
    child: std::process::Child,
    printed: Vec<String>,
    dir: String,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Demo {
    fn start() -> Demo {
        let turn = ONE_DEMO
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut child = Command::new(crate::binary())
            .arg("demo")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !printed.iter().any(|l: &String| l.starts_with("Ctrl-C")) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(remaining) {
                Ok(line) => printed.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let stderr = child
                        .wait_with_output()
                        .map(|o| String::from_utf8_lossy(&o.stderr).to_string());
                    panic!("the demo printed no instructions: {printed:?}\n{stderr:?}");
                }
            }
        }
        let dir = printed
            .iter()
            .find_map(|l| l.split("data and logs in ").nth(1))
            .map(|d| d.trim().to_string())
            .expect("the demo names its directory");
        Demo {
            child,
            printed,
            dir,
            _turn: turn,
        }
    }

    /// The node pids from the printed `kill -9 PID` lines.
    fn node_pids(&self) -> Vec<String> {
        let pids: Vec<String> = self
            .printed
            .iter()
            .filter_map(|l| l.trim().strip_prefix("kill -9 "))
            .filter_map(|rest| rest.split_whitespace().next().map(str::to_string))
            .collect();
        assert_eq!(pids.len(), 3, "{:?}", self.printed);
        pids
    }

    fn signal(&self, signal: &str) {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
    }
}

fn assert_all_exit(pids: &[String], after: &str) {
    for pid in pids {
        assert!(
            netns::wait_until(
                Duration::from_secs(5),
                Duration::from_millis(50),
                || !alive(pid)
            ),
            "node process {pid} outlived the demo ({after})"
        );
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn the_demo_starts_and_its_printed_commands_work() {
    netns::require("demo", &["dig"]);
    let Demo {
        child: mut demo,
        printed,
        dir,
        _turn,
    } = Demo::start();
    let text = printed.join("\n");
    let find = |needle: &str| -> String {
        printed
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no '{needle}' line in:\n{text}"))
            .clone()
    };
    // The dashboard is named, and serves its page.
    let dashboard = find("Dashboard: ");
    let url = dashboard
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a dashboard URL");
    let page = run_printed(&format!("curl -sf {url}"));
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );

    // The simulated clients, with a suffixed duplicate, are in the table.
    assert!(text.contains("web-2"), "{text}");
    let a = run_printed(&find("c1.lxd"));
    let address = a
        .lines()
        .find(|l| l.contains("IN\tA\t") || l.contains(" A "))
        .map(str::to_string);
    assert!(
        a.contains("127.77.0.10"),
        "dig for c1.lxd:\n{a}\n{address:?}"
    );
    let ptr = run_printed(&find("-x 127.77.0.10"));
    assert!(ptr.contains("c1.lxd."), "reverse lookup:\n{ptr}");
    let leases = run_printed(&find(" leases"));
    assert!(
        leases.contains("web-2") && leases.contains("127.77.0.14"),
        "dnsctl leases:\n{leases}"
    );
    let status = run_printed(&find(" status"));
    assert!(
        status.to_lowercase().contains("leader"),
        "dnsctl status:\n{status}"
    );

    // Ctrl-C: a clean exit, no node left running, the directory gone.
    let pids: Vec<String> = printed
        .iter()
        .filter_map(|l| l.trim().strip_prefix("kill -9 "))
        .filter_map(|rest| rest.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(pids.len(), 3, "{text}");
    Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .expect("kill -INT");
    let status = demo.wait().expect("demo exit");
    assert!(status.success(), "demo exit status {status:?}");
    assert_all_exit(&pids, "Ctrl-C");
    assert!(
        !std::path::Path::new(&dir).exists(),
        "{dir} was left behind"
    );
}

/// SIGTERM (systemd, `kill`) cleans up as Ctrl-C does.
#[test]
fn sigterm_stops_the_demo_like_ctrl_c() {
    let mut demo = Demo::start();
    let pids = demo.node_pids();
    demo.signal("TERM");
    let status = demo.child.wait().expect("demo exit");
    assert!(status.success(), "demo exit status {status:?}");
    assert_all_exit(&pids, "SIGTERM");
    assert!(
        !std::path::Path::new(&demo.dir).exists(),
        "{} was left behind",
        demo.dir
    );
}

/// `kill -9` of the demo leaves it no chance to clean up: its nodes still
/// go with it (the kernel's parent-death signal), leaving no ports taken.
#[test]
fn the_demos_nodes_die_with_it() {
    let mut demo = Demo::start();
    let pids = demo.node_pids();
    demo.signal("KILL");
    let _ = demo.child.wait();
    assert_all_exit(&pids, "kill -9 of the demo");
    // Nothing removed the directory: this test does.
    let _ = std::fs::remove_dir_all(&demo.dir);
}

/// The README's run command must pick the daemon: the root package has two
/// binaries (raftmasq and dnsctl), so `cargo run` needs `default-run`.
#[test]
fn the_readme_run_command_starts_the_daemon() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(
        readme.contains("cargo run --release -- demo"),
        "the README's run command changed"
    );
    // The same resolution without --release (already built by this test run).
    let output = Command::new(env!("CARGO"))
        .args(["run", "-q", "--", "--version"])
        .current_dir(root)
        .output()
        .expect("cargo run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("raftmasq "),
        "{output:?}"
    );
}
