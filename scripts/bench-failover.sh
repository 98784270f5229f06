#!/usr/bin/env bash
# Failover benchmark (issue 19 item 7): rounds of `kill -9` and of SIGTERM of
# the Raft leader on the three-host netns testbed (tests/src/netns.rs), the
# daemon's default cluster timings, each timed from the signal to the first
# lease of a new container whose udhcpc sends a DISCOVER every second.
# What a round does: tests/e2e/failover_bench.rs. Prints every round and
# then, for each signal, min/p50/p95/max in milliseconds.
#
# Usage (as root; needs ip, bridge, curl, udhcpc):
#   scripts/bench-failover.sh            # 20 rounds of each
#   FAILOVER_ROUNDS=30 scripts/bench-failover.sh
#
# The daemon is the debug build cargo makes for the e2e tests (the times are
# set by timeouts, not by CPU). Safety: the testbed's namespaces carry the
# test's prefix and are removed by the test, its processes are killed by pid;
# every wait in a round is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
log=$(mktemp /tmp/bench-failover.XXXXXX.log)
echo "load before: $(cat /proc/loadavg), $(nproc) cores; full output: $log"
set +e
FAILOVER_ROUNDS=${FAILOVER_ROUNDS:-20} cargo test -p raftmasq --test e2e failover_bench \
    -- --include-ignored --nocapture --test-threads 1 >"$log" 2>&1
status=$?
set -e
grep -oE 'round [0-9]+: .*|SIG(KILL|TERM) of the leader -> .*|test result.*' "$log" || tail -50 "$log"
echo "load after: $(cat /proc/loadavg)"
exit "$status"
