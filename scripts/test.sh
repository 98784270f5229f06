#!/usr/bin/env bash
# Runs every test of raftmasq: unit, property, in-process cluster, and the
# end-to-end tests with real processes and real DHCP/DNS clients in network
# namespaces. Installs what those need first (Debian packages, as root).
#
# The tests that need root or outside tools are #[ignore]d so that a plain
# `cargo test` shows them as ignored instead of passing them unrun; this
# script runs them too (--include-ignored), and each fails, naming what is
# missing, if it cannot run. Only the long fault schedule stays out: it is
# scripts/fault-long.sh.
#
# Arguments go to `cargo test`; those after `--` to the test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    scripts/install-test-deps.sh
else
    echo "test.sh: not root: skipping package installation; the namespace tests will fail" >&2
fi

cargo_args=()
harness_args=()
after_separator=false
for arg in "$@"; do
    if ! $after_separator && [ "$arg" = "--" ]; then
        after_separator=true
    elif $after_separator; then
        harness_args+=("$arg")
    else
        cargo_args+=("$arg")
    fi
done

# One build of everything (debug: about 3 minutes cold on 2 cores), shared by
# every test binary and by the end-to-end tests that start the daemon.
cargo build --workspace --all-targets
# The failover benchmark (scripts/bench-failover.sh runs 20 rounds of each
# signal) runs one round of each here, so it cannot rot unnoticed.
export FAILOVER_ROUNDS=${FAILOVER_ROUNDS:-1}
status=0
cargo test --workspace --all-targets --no-fail-fast "${cargo_args[@]}" -- \
    --include-ignored --skip faults::long_randomised_fault_schedule "${harness_args[@]}" ||
    status=$?
# The DHCPv6 benchmark, one short low-rate step per server with the debug
# build (about 20 s), so that it cannot rot unnoticed either. It needs root,
# as the namespace tests do: under CI it runs (and fails) without.
if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = true ]; then
    BENCH_SMOKE=1 RAFTMASQ=${CARGO_TARGET_DIR:-target}/debug/raftmasq scripts/bench-dhcp6.sh ||
        status=$?
fi
exit "$status"
