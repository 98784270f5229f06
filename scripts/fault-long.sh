#!/usr/bin/env bash
# The long form of the fault-injection suite (tests/e2e/faults.rs): a
# randomised schedule of ITERATIONS faults drawn from SEED (kill -9 of the
# leader or a follower, a partition, a one-way partition, a power loss of
# every host, a SIGSTOP of the leader), then the two clock faults, all on one
# three-host testbed under DHCP and DNS load. After each fault the checker
# compares every reply the clients saw with the cluster's leases: no lost
# lease, no address held twice, no stale DNS name, no new address from a
# deposed leader. The schedule, the seed and the per-fault table are printed;
# the same SEED (and ITERATIONS) replays the same schedule.
#
# Usage (as root; the namespaces need CAP_NET_ADMIN):
#   scripts/fault-long.sh                      # SEED from the clock, 20 faults
#   SEED=1234 ITERATIONS=50 scripts/fault-long.sh
# Environment: SEED, ITERATIONS (default 20), HOLD_SECS (how long each fault
# lasts, default 6), CLIENTS (simulated DHCP clients per host, default 20).
# About 15 s per fault plus 30 s of setup.
set -euo pipefail
cd "$(dirname "$0")/.."

export SEED="${SEED:-$(date +%s)}"
export ITERATIONS="${ITERATIONS:-20}"
export HOLD_SECS="${HOLD_SECS:-6}"
export CLIENTS="${CLIENTS:-20}"

echo "fault-long: SEED=$SEED ITERATIONS=$ITERATIONS HOLD_SECS=$HOLD_SECS CLIENTS=$CLIENTS" >&2
cargo build -p raftmasq --bin raftmasq --test e2e
exec cargo test -p raftmasq --test e2e -- --ignored --exact \
    faults::long_randomised_fault_schedule --nocapture
