//! `dnsctl`: the operator CLI, built beside the daemon (see the `raftmasq-dnsctl` crate).

fn main() -> std::process::ExitCode {
    raftmasq_dnsctl::main()
}
