#!/usr/bin/env bash
# Memory benchmark: resident memory of each node of a three-node raftmasq
# cluster on the netns testbed (the one scripts/bench-dhcp.sh builds), with
# leases taken over DHCP by perfdhcp from a client namespace (random MACs from
# a file, -M), fresh state:
#   idle       initialised, no lease
#   10k        about 10,000 leases
#   full       every address of a 65,534-address pool leased (a full /16:
#              dhcp.range 172.17.0.1-172.17.255.254 in the /15 the bridges share)
#   restarted  a follower stopped (SIGTERM) and started again on that state,
#              once it has caught up
# For each: lease count, VmRSS and VmHWM (/proc/PID/status) and the anonymous
# and file-backed parts of the resident set (/proc/PID/smaps_rollup).
#
# Usage (as root, with raftmasq built in release mode first:
#   cargo build --release -p raftmasq --bin raftmasq):
#   scripts/bench-memory.sh
# Environment: RAFTMASQ (binary, default target/release/raftmasq), BENCH_RATE
# (perfdhcp exchanges/s while filling, default 2000), BENCH_EXTRA (lines
# appended to every node's [node] section, e.g. storage_cache_mib = 64),
# BENCH_ENV (environment for the daemons, e.g. MALLOC_ARENA_MAX=2),
# BENCH_SETTLE (seconds to wait after the replicas agree, default 35: past
# the daemon's 30 s trim of free memory), BENCH_HOLD (seconds to keep the cluster running after the last report, for
# a look with gdb or /proc; their pids are printed), BENCH_KEEP=1 keeps the
# work directory.
#
# Safety: every namespace is named with this run's prefix (rmqm<pid>), every
# link is created inside one of them, every process is started by this script
# and killed by its pid (and whatever is left inside our namespaces) on exit,
# by the EXIT trap. Traffic stays inside the namespaces. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

RAFTMASQ=${RAFTMASQ:-target/release/raftmasq}
RATE=${BENCH_RATE:-2000}
EXTRA=${BENCH_EXTRA:-}
read -r -a DAEMON_ENV <<<"${BENCH_ENV:-}"
POOL=65534
MAC_COUNT=200000
P="rmqm$$"
NAMESPACES=("${P}c" "${P}h1" "${P}h2" "${P}h3" "${P}u")
declare -A PID_OF=()

die() {
    echo "bench-memory: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for tool in ip bridge curl perfdhcp python3 ss; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-test-deps.sh"
done
[ -x "$RAFTMASQ" ] || die "$RAFTMASQ not found: cargo build --release -p raftmasq --bin raftmasq"

WORK=$(mktemp -d /var/tmp/rmq-bench-memory.XXXXXX)

cleanup() {
    local pid ns
    for pid in "${PID_OF[@]}"; do
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
        echo "bench-memory: work directory kept: $WORK" >&2
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

# As scripts/bench-dhcp.sh, with the bridges in 172.16.0.0/15.
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
        ip -n "$ns" addr add "172.16.0.$i/15" dev lxdbr0
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
    ip -n "${P}c" addr add 172.16.0.200/15 dev eth0
    ip -n "${P}c" link set eth0 up
}

write_configs() {
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
$EXTRA

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
subnet = "172.16.0.0/15"
range = "172.17.0.1-172.17.255.254"
lease_time = "1day"

[dns]
enabled = false
domain = "lxd"

[log]
level = "warn"
EOF
    done
}

start_node() {
    local i=$1
    ip netns exec "${P}h$i" env "${DAEMON_ENV[@]}" "$RAFTMASQ" --config "$WORK/node$i.toml" \
        >>"$WORK/node$i.log" 2>&1 </dev/null &
    PID_OF[$i]=$!
}

stop_node() {
    local i=$1 pid=${PID_OF[$1]} deadline=$((SECONDS + 10))
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID_OF[$i]"
}

status_field() { # status_field HOST PYTHON-EXPRESSION-ON-s
    in_ns "${P}h$1" curl -sf --max-time 2 http://127.0.0.1:7381/api/v1/status |
        python3 -c "import json,sys; s=json.load(sys.stdin); print($2)" 2>/dev/null || echo none
}

wait_ready() {
    local deadline=$((SECONDS + 30)) leaders i
    while :; do
        leaders=""
        for i in 1 2 3; do
            leaders+="$(status_field "$i" 's["leader"] if s.get("initialized") else "none"') "
        done
        read -r -a ids <<<"$leaders"
        if [ "${ids[0]}" != none ] && [ "${ids[0]}" = "${ids[1]}" ] && [ "${ids[0]}" = "${ids[2]}" ]; then
            LEADER=${ids[0]}
            break
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "raftmasq cluster not ready within 30 s (see $WORK)"
        sleep 0.3
    done
    sleep 1
    for i in 1 2 3; do
        deadline=$((SECONDS + 20))
        until in_ns "${P}h$i" ss -Hlun 'sport = :67' | grep -q .; do
            [ "$SECONDS" -lt "$deadline" ] || die "no DHCP socket on host $i within 20 s"
            sleep 0.2
        done
    done
}

# Waits (bounded) until every node's replica shows the same bound count.
settle() {
    local deadline=$((SECONDS + 60)) counts
    while :; do
        counts="$(status_field 1 's["pool"]["bound"]') $(status_field 2 's["pool"]["bound"]') $(status_field 3 's["pool"]["bound"]')"
        read -r -a c <<<"$counts"
        if [ "${c[0]}" != none ] && [ "${c[0]}" = "${c[1]}" ] && [ "${c[0]}" = "${c[2]}" ]; then
            BOUND=${c[0]}
            break
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "replicas do not agree within 60 s: $counts"
        sleep 0.5
    done
    # Let snapshots and purges that the load started finish, and the node's
    # periodic malloc_trim (every 30 s after changes) run: the steady state.
    sleep "${BENCH_SETTLE:-35}"
}

kib() { # kib PID FIELD FILE
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/$3"
}

report() {
    local stage=$1 i pid
    for i in 1 2 3; do
        pid=${PID_OF[$i]}
        printf '%-10s node=%s role=%-8s leases=%-6s VmRSS=%6d KiB (%5.1f MiB) VmHWM=%6d KiB anon=%6d KiB file=%6d KiB\n' \
            "$stage" "$i" "$([ "$i" = "$LEADER" ] && echo leader || echo follower)" "$BOUND" \
            "$(kib "$pid" VmRSS status)" "$(awk "BEGIN { print $(kib "$pid" VmRSS status) / 1024 }")" \
            "$(kib "$pid" VmHWM status)" "$(kib "$pid" Anonymous smaps_rollup)" \
            "$(($(kib "$pid" Rss smaps_rollup) - $(kib "$pid" Anonymous smaps_rollup)))"
    done
}

# perfdhcp exchanges until the pool holds at least $1 leases (bounded rounds).
# perfdhcp walks an -M file from its start, so each round gets the next
# unused MACs of the list as a file of its own: every exchange is a new client.
MAC_OFFSET=0
fill_to() {
    local target=$1 round=0 missing count
    while :; do
        BOUND=$(status_field "$LEADER" 's["pool"]["bound"]')
        [ "$BOUND" != none ] && [ "$BOUND" -ge "$target" ] && break
        round=$((round + 1))
        [ "$round" -le 40 ] || die "pool not at $target leases after 40 perfdhcp rounds (at $BOUND)"
        missing=$((target - BOUND))
        # The last addresses may be held for clients whose REQUEST was lost
        # (dhcp.offer_hold, 30 s): wait for them to come free.
        [ "$missing" -ge 500 ] || sleep 3
        count=$((missing + missing / 50 + 20))
        [ $((MAC_OFFSET + count)) -le "$MAC_COUNT" ] || die "MAC list used up"
        sed -n "$((MAC_OFFSET + 1)),$((MAC_OFFSET + count))p" "$WORK/macs" >"$WORK/round.macs"
        MAC_OFFSET=$((MAC_OFFSET + count))
        in_ns "${P}c" perfdhcp -4 -l eth0 -r "$RATE" -n "$count" \
            -M "$WORK/round.macs" -d 1 -W 2000000 >>"$WORK/perfdhcp.out" 2>&1 || true
    done
}

python3 -c "
import random
r = random.SystemRandom()
for _ in range($MAC_COUNT):
    print('02:' + ':'.join('%02x' % r.randrange(256) for _ in range(5)))
" >"$WORK/macs"

echo "# bench-memory $(date -u +%FT%TZ) on $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# raftmasq: $RAFTMASQ ($(stat -c %y "$RAFTMASQ" | cut -d. -f1)); [node] extra: ${EXTRA:-none}; env: ${BENCH_ENV:-none}"
build_testbed
write_configs "$WORK"
for i in 1 2 3; do start_node "$i"; done
wait_ready
BOUND=0
sleep 3
report idle
fill_to 10000
settle
report 10k
fill_to "$POOL"
settle
report full
FOLLOWER=$(((LEADER % 3) + 1))
stop_node "$FOLLOWER"
start_node "$FOLLOWER"
wait_ready
settle
report restarted
echo "# perfdhcp: $MAC_OFFSET distinct MACs sent in $(grep -c '^sent packets' "$WORK/perfdhcp.out") reports"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${BENCH_HOLD:-0}" -gt 0 ]; then
    echo "# holding for ${BENCH_HOLD} s: pids ${PID_OF[1]} ${PID_OF[2]} ${PID_OF[3]} (nodes 1 2 3)"
    sleep "$BENCH_HOLD"
fi
