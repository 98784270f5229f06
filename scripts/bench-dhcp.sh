#!/usr/bin/env bash
# DHCP benchmark: perfdhcp 4-way exchanges (DISCOVER-OFFER-REQUEST-ACK) per
# second and drop ratio against, in one run and on one testbed:
#   raftmasq  a three-node raftmasq cluster (every ACK committed to Raft)
#   dnsmasq   dnsmasq on host 1 (lease file rewritten on every change)
#   kea       kea-dhcp4 on host 1, memfile lease database (CSV, appended)
#   kea-ha    two kea-dhcp4 (hosts 1 and 2), libdhcp_ha.so in hot-standby:
#             the primary sends each lease to the standby before answering
#
# Testbed (as in tests/src/netns.rs): an underlay namespace with a bridge,
# three host namespaces whose lxdbr0 bridges (172.16.0.N/16) are one L2
# segment over VXLAN with static unicast FDB entries, and a client namespace
# on host 1's bridge (172.16.0.200) where perfdhcp runs. perfdhcp acts as a
# relay agent (giaddr 172.16.0.200) and broadcasts, so every server on the
# segment sees every packet and answers the relay by unicast.
#
# For each server the rate (-r) is stepped up through BENCH_RATES until the
# drop ratio reaches 1%, then the midpoint between the last passing and the
# first failing rate is tried once. Every step starts the server(s) afresh with
# empty lease state. Clients are random MACs from a file (-M), chosen anew for
# every exchange; a step sends at most 50,000 exchanges so that the distinct
# clients fit the /16 pool.
#
# Usage (as root, with raftmasq built in release mode first:
#   cargo build --release -p raftmasq --bin raftmasq):
#   scripts/bench-dhcp.sh
# Environment: RAFTMASQ (binary, default target/release/raftmasq),
# BENCH_SERVERS ("raftmasq dnsmasq kea kea-ha"), BENCH_RATES (ascending),
# BENCH_PERIOD (seconds per step, default 10), BENCH_CLUSTER_LINK=plaintext
# (the cluster link without TLS, to measure its cost), BENCH_KEEP=1 keeps the work
# directory (configs, server logs, perfdhcp outputs).
#
# Safety: every namespace is named with this run's prefix (rmqb<pid>), every
# link is created inside one of them, every process is started by this script
# and killed by its pid (and whatever is left inside our namespaces) on exit,
# by the EXIT trap. Traffic stays inside the namespaces. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

RAFTMASQ=${RAFTMASQ:-target/release/raftmasq}
read -r -a SERVERS <<<"${BENCH_SERVERS:-raftmasq dnsmasq kea kea-ha}"
read -r -a RATES <<<"${BENCH_RATES:-250 500 1000 1500 2000 3000 4000 5000 6000 8000 10000 12000}"
PERIOD=${BENCH_PERIOD:-10}
MAX_EXCHANGES=50000
MAC_COUNT=200000
P="rmqb$$"
NAMESPACES=("${P}c" "${P}h1" "${P}h2" "${P}h3" "${P}u")
SUMMARY=scripts/bench/perfdhcp_summary.py

die() {
    echo "bench-dhcp: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for tool in ip bridge curl perfdhcp dnsmasq kea-dhcp4 python3 ss; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-test-deps.sh"
done
[ -x "$RAFTMASQ" ] || die "$RAFTMASQ not found: cargo build --release -p raftmasq --bin raftmasq"
HOOKS=$(dirname "$(find /usr/lib -path '*kea/hooks/libdhcp_ha.so' -print -quit)")
[ -f "$HOOKS/libdhcp_ha.so" ] && [ -f "$HOOKS/libdhcp_lease_cmds.so" ] ||
    die "Kea hooks libdhcp_ha.so and libdhcp_lease_cmds.so not found"

WORK=$(mktemp -d /var/tmp/rmq-bench-dhcp.XXXXXX)
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
        echo "bench-dhcp: work directory kept: $WORK" >&2
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
        ip -n "$ns" link add lxdbr0 type bridge
        ip -n "$ns" addr add "172.16.0.$i/16" dev lxdbr0
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
    ip -n "${P}c" addr add 172.16.0.200/16 dev eth0
    ip -n "${P}c" link set eth0 up
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

# Waits (bounded) until namespace $1 has a UDP socket on port 67.
wait_port_67() {
    local ns=$1 deadline=$((SECONDS + 20))
    until in_ns "$ns" ss -Hlun 'sport = :67' | grep -q .; do
        [ "$SECONDS" -lt "$deadline" ] || die "no DHCP socket in $ns within 20 s"
        sleep 0.2
    done
}

# The cluster link's section of node $2's file: TLS, as in production
# (docs/security.md), or with BENCH_CLUSTER_LINK=plaintext the opt-out, to
# measure what TLS costs.
cluster_link() {
    if [ "${BENCH_CLUSTER_LINK:-tls}" = plaintext ]; then
        printf 'insecure_plaintext = true\n'
    else
        printf '[cluster.tls]\nca_file = "%s"\ncert_file = "%s"\nkey_file = "%s"\n' \
            "$1/tls/ca.pem" "$1/tls/node-$2.pem" "$1/tls/node-$2.key"
    fi
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

$(cluster_link "$dir" "$i")

[dhcp]
interface = "lxdbr0"
address = "172.16.0.$i"
subnet = "172.16.0.0/16"
range = "172.16.1.1-172.16.255.254"
lease_time = "1h"

[dns]
enabled = false
domain = "lxd"

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
    # Let the other nodes register their bridge addresses with the cluster.
    sleep 1
    for i in 1 2 3; do wait_port_67 "${P}h$i"; done
}

start_dnsmasq() {
    local dir=$1
    # --no-ping: no server here probes an address before offering it.
    spawn "${P}h1" "$dir/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
        --interface=lxdbr0 --bind-interfaces \
        --dhcp-range=172.16.1.1,172.16.255.254,255.255.0.0,1h \
        --dhcp-leasefile="$dir/dnsmasq.leases" --dhcp-lease-max=70000 \
        --dhcp-authoritative --no-ping --quiet-dhcp --pid-file="$dir/dnsmasq.pid"
    wait_port_67 "${P}h1"
}

# Writes a kea-dhcp4 config to $1; $2: the hooks JSON (may be empty).
kea_config() {
    local file=$1 hooks=$2 dir
    dir=$(dirname "$file")
    cat >"$file" <<EOF
{ "Dhcp4": {
    "interfaces-config": { "interfaces": ["lxdbr0"], "dhcp-socket-type": "raw" },
    "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                        "name": "$dir/leases4.csv" },
    "valid-lifetime": 3600,
    "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2,
                         "packet-queue-size": 64 },
    "subnet4": [ { "id": 1, "subnet": "172.16.0.0/16",
                   "pools": [ { "pool": "172.16.1.1 - 172.16.255.254" } ] } ],
    "hooks-libraries": [ $hooks ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                   "output_options": [ { "output": "$dir/kea.log" } ] } ]
} }
EOF
}

start_kea() {
    local dir=$1
    kea_config "$dir/kea.json" ""
    spawn "${P}h1" "$dir/kea.out" env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
        kea-dhcp4 -c "$dir/kea.json"
    wait_port_67 "${P}h1"
}

start_kea_ha() {
    local dir=$1 i name role sub
    for i in 1 2; do
        sub="$dir/kea$i"
        mkdir -p "$sub"
        if [ "$i" = 1 ]; then name=server1; else name=server2; fi
        kea_config "$sub/kea.json" "
      { \"library\": \"$HOOKS/libdhcp_lease_cmds.so\" },
      { \"library\": \"$HOOKS/libdhcp_ha.so\", \"parameters\": { \"high-availability\": [ {
          \"this-server-name\": \"$name\", \"mode\": \"hot-standby\",
          \"heartbeat-delay\": 10000, \"max-response-delay\": 60000,
          \"max-ack-delay\": 5000, \"max-unacked-clients\": 5,
          \"multi-threading\": { \"enable-multi-threading\": true,
                                 \"http-dedicated-listener\": true,
                                 \"http-listener-threads\": 2, \"http-client-threads\": 2 },
          \"peers\": [
            { \"name\": \"server1\", \"url\": \"http://10.99.0.1:8001/\", \"role\": \"primary\" },
            { \"name\": \"server2\", \"url\": \"http://10.99.0.2:8001/\", \"role\": \"standby\" } ]
      } ] } }"
        spawn "${P}h$i" "$sub/kea.out" env KEA_PIDFILE_DIR="$sub" KEA_LOCKFILE_DIR="$sub" \
            kea-dhcp4 -c "$sub/kea.json"
    done
    # Ready when the primary reports the hot-standby state.
    local deadline=$((SECONDS + 60))
    until in_ns "${P}h1" curl -sf --max-time 2 -H 'Content-Type: application/json' \
        -d '{"command": "ha-heartbeat", "service": ["dhcp4"]}' http://10.99.0.1:8001/ |
        grep -q '"state": "hot-standby"'; do
        [ "$SECONDS" -lt "$deadline" ] || die "Kea HA not in hot-standby within 60 s (see $dir)"
        sleep 0.5
    done
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
        dnsmasq) start_dnsmasq "$dir" ;;
        kea) start_kea "$dir" ;;
        kea-ha) start_kea_ha "$dir" ;;
        *) die "unknown server $server" ;;
    esac
    # -d 1: an exchange not answered within 1 s is a drop; -W: 2 s to collect
    # late answers after the period.
    in_ns "${P}c" perfdhcp -4 -l eth0 -r "$rate" -p "$period" -M "$WORK/macs" \
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

python3 -c "
import random
r = random.SystemRandom()
for _ in range($MAC_COUNT):
    # Locally administered, unicast.
    print('02:' + ':'.join('%02x' % r.randrange(256) for _ in range(5)))
" >"$WORK/macs"

echo "# bench-dhcp $(date -u +%FT%TZ) on $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# raftmasq: $RAFTMASQ; $(dnsmasq --version | head -1); kea-dhcp4 $(kea-dhcp4 -V | head -1)"
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
    if [ -n "$best" ] && [ -n "$failed" ]; then
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
echo "# sustained rate at < 1% drops (4-way exchanges/s), p99 ms DISCOVER-OFFER / REQUEST-ACK:"
for line in "${RESULTS[@]}"; do
    echo "$line"
done
