#!/usr/bin/env bash
# DHCPv6 benchmark: perfdhcp -6 4-way exchanges (SOLICIT-ADVERTISE-REQUEST-
# REPLY) per second and drop ratio against, in one run and on one testbed:
#   raftmasq  a three-node raftmasq cluster, `[ipv6] mode = "stateful"` (the
#             leader answers; every REPLY's lease committed to Raft first)
#   kea       kea-dhcp6 on host 1, memfile lease database (CSV, appended),
#             its own config, pid, lock and lease files in the work directory
#
# Testbed: the one of scripts/bench-dhcp.sh (three host namespaces whose
# lxdbr0 bridges are one L2 segment over VXLAN, an underlay namespace) with
# IPv6 on the bridges (fd42:1::N/64) and a client namespace on host 1's
# bridge where perfdhcp runs. perfdhcp sends from its link-local address to
# ff02::1:2 (no relay: raftmasq does not take RELAY-FORW yet), so every
# server on the segment sees every packet and answers the client directly.
#
# For each server the rate (-r) is stepped up through BENCH_RATES until the
# drop ratio reaches 1%, then the midpoint between the last passing and the
# first failing rate is tried once. Every step starts the server(s) afresh
# with empty lease state. Clients are random DUIDs (-R: the DUID's last
# octets drawn from BENCH_CLIENTS values for every exchange); a step sends at
# most 50,000 exchanges.
#
# Usage (as root, with raftmasq built in release mode first:
#   cargo build --release -p raftmasq --bin raftmasq):
#   scripts/bench-dhcp6.sh
# Environment: RAFTMASQ (binary, default target/release/raftmasq),
# BENCH_SERVERS ("raftmasq kea"), BENCH_RATES (ascending), BENCH_PERIOD
# (seconds per step, default 10), BENCH_CLIENTS (default 1000000),
# BENCH_KEEP=1 keeps the work directory (configs, server logs, perfdhcp
# outputs). BENCH_SMOKE=1: one short low-rate step per server that must
# pass (scripts/test.sh runs it with the debug build so the script cannot rot).
#
# Safety: every namespace is named with this run's prefix (rmq6b<pid>), every
# link is created inside one of them, every process is started by this script
# and killed by its pid (and whatever is left inside our namespaces) on exit,
# by the EXIT trap. Traffic stays inside the namespaces. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

RAFTMASQ=${RAFTMASQ:-target/release/raftmasq}
read -r -a SERVERS <<<"${BENCH_SERVERS:-raftmasq kea}"
read -r -a RATES <<<"${BENCH_RATES:-250 500 1000 1500 2000 3000 4000 5000 6000 8000 10000}"
PERIOD=${BENCH_PERIOD:-10}
CLIENTS=${BENCH_CLIENTS:-1000000}
SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    RATES=(100)
    PERIOD=2
fi
MAX_EXCHANGES=50000
P="rmq6b$$"
NAMESPACES=("${P}c" "${P}h1" "${P}h2" "${P}h3" "${P}u")
SUMMARY=scripts/bench/perfdhcp_summary.py

die() {
    echo "bench-dhcp6: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for tool in ip bridge curl perfdhcp kea-dhcp6 python3 ss; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-test-deps.sh"
done
[ -x "$RAFTMASQ" ] || die "$RAFTMASQ not found: cargo build --release -p raftmasq --bin raftmasq"

WORK=$(mktemp -d /var/tmp/rmq-bench-dhcp6.XXXXXX)
PIDS=()

cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "${NAMESPACES[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns delete "$ns" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench-dhcp6: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# Turns IPv6 on for interface $2 in namespace $1, without duplicate address
# detection (the addresses are ours alone) or SLAAC.
ipv6_on() {
    local ns=$1 dev=$2
    in_ns "$ns" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=0" \
        "net.ipv6.conf.$dev.accept_dad=0" "net.ipv6.conf.$dev.accept_ra=0" \
        "net.ipv6.conf.$dev.autoconf=0" >/dev/null
}

build_testbed() {
    local i j ns
    ip netns add "${P}u"
    ip -n "${P}u" link add ubr0 type bridge
    ip -n "${P}u" link set ubr0 up
    for i in 1 2 3; do
        ns="${P}h$i"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$ns" link add ul0 mtu 1550 type veth peer name "h$i" netns "${P}u"
        ip -n "${P}u" link set "h$i" mtu 1550 master ubr0 up
        ip -n "$ns" addr add "10.99.0.$i/24" dev ul0
        ip -n "$ns" link set ul0 up
        # The bridge MAC gives each node its own DUID-LL (as on LXD hosts).
        ip -n "$ns" link add lxdbr0 address "02:16:3e:00:ff:0$i" type bridge
        ipv6_on "$ns" lxdbr0
        ip -n "$ns" addr add "172.16.0.$i/16" dev lxdbr0
        ip -n "$ns" addr add "fd42:1::$i/64" dev lxdbr0
        ip -n "$ns" link add vx0 mtu 1500 type vxlan id 42 dstport 4789 \
            local "10.99.0.$i" dev ul0 nolearning
        ip -n "$ns" link set vx0 master lxdbr0 up
        ip -n "$ns" link set lxdbr0 up
    done
    for i in 1 2 3; do
        for j in 1 2 3; do
            [ "$i" = "$j" ] ||
                in_ns "${P}h$i" bridge fdb append 00:00:00:00:00:00 dev vx0 dst "10.99.0.$j"
        done
    done
    ip netns add "${P}c"
    ip -n "${P}c" link set lo up
    ip -n "${P}h1" link add v-bench type veth peer name eth0 netns "${P}c"
    ip -n "${P}h1" link set v-bench master lxdbr0 up
    ipv6_on "${P}c" eth0
    ip -n "${P}c" link set eth0 address 02:42:ac:10:00:c8 up
    # perfdhcp binds to eth0's link-local address: wait (bounded) for it.
    local deadline=$((SECONDS + 10))
    until ip -n "${P}c" -6 addr show dev eth0 scope link | grep -q 'fe80::'; do
        [ "$SECONDS" -lt "$deadline" ] || die "no link-local address on the client's eth0"
        sleep 0.1
    done
}

# Starts "$@" inside namespace $1 with output to log $2; remembers the pid
# (ip netns exec execs the program, so it is the server's own pid).
spawn() {
    local ns=$1 log=$2
    shift 2
    ip netns exec "$ns" "$@" >>"$log" 2>&1 </dev/null &
    PIDS+=("$!")
}

stop_servers() {
    local pid deadline
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 5))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

# Waits (bounded) until namespace $1 has a UDP socket on port 547.
wait_port_547() {
    local ns=$1 deadline=$((SECONDS + 20))
    until in_ns "$ns" ss -Hlun 'sport = :547' | grep -q .; do
        [ "$SECONDS" -lt "$deadline" ] || die "no DHCPv6 socket in $ns within 20 s"
        sleep 0.2
    done
}

start_raftmasq() {
    local dir=$1 i token="$1/cluster.token"
    printf 'bench-token-0123456789abcdef0123456789abcdef\n' >"$token"
    chmod 600 "$token"
    # The cluster link's TLS, as in production (docs/security.md).
    "$RAFTMASQ" cert init-ca --dir "$dir/tls" >/dev/null
    for i in 1 2 3; do
        "$RAFTMASQ" cert issue --ca-dir "$dir/tls" --node-id "$i" >/dev/null
    done
    for i in 1 2 3; do
        cat >"$dir/node$i.toml" <<EOF
[node]
id = $i
data_dir = "$dir/node$i"
cluster_addr = "10.99.0.$i:7380"
admin_addr = "127.0.0.1:7381"
admin_socket = "$dir/admin$i.sock"

[cluster]
token_file = "$token"
peers = ["1=10.99.0.1:7380 bridge=172.16.0.1", "2=10.99.0.2:7380 bridge=172.16.0.2", "3=10.99.0.3:7380 bridge=172.16.0.3"]

[cluster.tls]
ca_file = "$dir/tls/ca.pem"
cert_file = "$dir/tls/node-$i.pem"
key_file = "$dir/tls/node-$i.key"

[dhcp]
interface = "lxdbr0"
address = "172.16.0.$i"
subnet = "172.16.0.0/16"
range = "172.16.1.1-172.16.255.254"
lease_time = "1h"

[dns]
enabled = false
domain = "lxd"

[ipv6]
enabled = true
prefix = "fd42:1::/64"
address = "fd42:1::$i"
mode = "stateful"
range = "fd42:1::1:0-fd42:1::ffff:ffff"
lease_time = "1h"
dns_servers = ["fd42:1::$i"]

[log]
level = "warn"
EOF
        spawn "${P}h$i" "$dir/node$i.log" "$RAFTMASQ" --config "$dir/node$i.toml"
    done
    # Ready: all three nodes initialised and agreeing on a leader.
    local deadline=$((SECONDS + 30)) leaders
    while :; do
        leaders=""
        for i in 1 2 3; do
            leaders+=$(in_ns "${P}h$i" curl -sf --max-time 2 http://127.0.0.1:7381/api/v1/status |
                python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["leader"] if s.get("initialized") else "none")' \
                    2>/dev/null || echo none)" "
        done
        read -r -a ids <<<"$leaders"
        if [ "${ids[0]}" != none ] && [ "${ids[0]}" = "${ids[1]}" ] && [ "${ids[0]}" = "${ids[2]}" ]; then
            break
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "raftmasq cluster not ready within 30 s (see $dir)"
        sleep 0.3
    done
    for i in 1 2 3; do wait_port_547 "${P}h$i"; done
}

start_kea() {
    local dir=$1
    cat >"$dir/kea6.json" <<EOF
{ "Dhcp6": {
    "interfaces-config": { "interfaces": ["lxdbr0"] },
    "server-id": { "type": "LL", "htype": 1, "identifier": "02163e00ff01", "persist": false },
    "data-directory": "$dir",
    "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                        "name": "$dir/leases6.csv" },
    "preferred-lifetime": 3000, "valid-lifetime": 3600,
    "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                         "packet-queue-size": 64 },
    "subnet6": [ { "id": 1, "subnet": "fd42:1::/64", "interface": "lxdbr0",
                   "pools": [ { "pool": "fd42:1::1:0 - fd42:1::ffff:ffff" } ] } ],
    "loggers": [ { "name": "kea-dhcp6", "severity": "WARN",
                   "output_options": [ { "output": "$dir/kea.log" } ] } ]
} }
EOF
    spawn "${P}h1" "$dir/kea.out" env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
        kea-dhcp6 -c "$dir/kea6.json"
    wait_port_547 "${P}h1"
}

# One step: fresh server(s), one perfdhcp run at rate $2; sets LINE to the
# summary and prints it. (Not run in a subshell: PIDS must stay visible to the
# EXIT trap.)
run_step() {
    local server=$1 rate=$2 dir period
    dir="$WORK/$server-$rate"
    mkdir -p "$dir"
    period=$PERIOD
    if [ $((rate * period)) -gt "$MAX_EXCHANGES" ]; then
        period=$((MAX_EXCHANGES / rate))
    fi
    case $server in
        raftmasq) start_raftmasq "$dir" ;;
        kea) start_kea "$dir" ;;
        *) die "unknown server $server" ;;
    esac
    # -R: a random DUID per exchange out of $CLIENTS; -d 1: an exchange not
    # answered within 1 s is a drop; -W: 2 s to collect late answers.
    in_ns "${P}c" perfdhcp -6 -l eth0 -r "$rate" -p "$period" -R "$CLIENTS" \
        -d 1 -W 2000000 -x t all >"$dir/perfdhcp.out" 2>&1 || true
    stop_servers
    LINE="server=$server rate=$rate period=$period $(python3 "$SUMMARY" "$dir/perfdhcp.out" "$period")"
    echo "$LINE"
}

field() { # field KEY "k=v k=v ..."
    local pair
    for pair in $2; do
        [ "${pair%%=*}" = "$1" ] && echo "${pair#*=}" && return
    done
}

passes() { # passes "summary line": drops below 1%
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)" "$(field drop_pct "$1")"
}

echo "# bench-dhcp6 $(date -u +%FT%TZ) on $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# raftmasq: $RAFTMASQ; kea-dhcp6 $(kea-dhcp6 -V | head -1)"
build_testbed
RESULTS=()
for server in "${SERVERS[@]}"; do
    best=""
    failed=""
    for rate in "${RATES[@]}"; do
        run_step "$server" "$rate"
        if passes "$LINE"; then
            best=$LINE
        else
            failed=$rate
            break
        fi
    done
    if [ "$SMOKE" = 1 ]; then
        [ -n "$best" ] || die "smoke: $server failed at ${RATES[0]} exchanges/s: $LINE"
    elif [ -n "$best" ] && [ -n "$failed" ]; then
        low=$(field rate "$best")
        mid=$(((low + failed) / 2))
        if [ "$mid" -gt "$low" ]; then
            run_step "$server" "$mid"
            if passes "$LINE"; then best=$LINE; fi
        fi
    fi
    RESULTS+=("${best:-server=$server rate=0 (no rate passed)}")
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sustained rate at < 1% drops (4-way exchanges/s: discovers=SOLICITs, acks=REPLYs),"
echo "# p99 ms SOLICIT-ADVERTISE (do_) / REQUEST-REPLY (ra_):"
for line in "${RESULTS[@]}"; do
    echo "$line"
done
