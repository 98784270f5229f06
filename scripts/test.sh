#!/usr/bin/env bash
# Runs every test of raftmasq: unit, property, in-process cluster, and the
# end-to-end tests with real processes and real DHCP/DNS clients in network
# namespaces. Installs what those need first (Debian packages, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    scripts/install-test-deps.sh
else
    echo "test.sh: not root: skipping package installation; the namespace tests need root" >&2
fi

# One build of everything (debug: about 3 minutes cold on 2 cores), shared by
# every test binary and by the end-to-end tests that start the daemon.
cargo build --workspace --all-targets
cargo test --workspace --all-targets --no-fail-fast "$@"
