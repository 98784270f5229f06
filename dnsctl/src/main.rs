//! `dnsctl`: the operator CLI. Its own package's binary, so the daemon
//! (`raftmasq`) does not link the CLI, its completions or its man pages.

fn main() -> std::process::ExitCode {
    raftmasq_dnsctl::main()
}
