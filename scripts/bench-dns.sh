#!/usr/bin/env bash
# DNS benchmark: queries/s and latency percentiles for lease names (A) and
# their addresses (PTR), raftmasq against dnsmasq serving the same names, at
# 100, 10,000 and 65,000 names, in one run on one machine.
#
#   cargo build --release --bin raftmasq
#   scripts/bench-dns.sh                      # SIZES="100 10000 65000" DURATION=10
#
# Everything runs in two network namespaces this script creates and removes
# (rmqbd-srv-PID, rmqbd-gen-PID, joined by one veth pair on 192.0.2.0/24);
# no packet reaches the machine's own interfaces. Run it as root.
#
# raftmasq: one node (DHCP off, DNS on $RMQ_ADDR:$PORT) whose table is filled
# through the admin API with Bind commands (a /16 holds the 65,000). dnsmasq:
# --no-resolv, the same names in an addn-hosts file, on $DNSMASQ_ADDR:$PORT.
# Both are started and stopped by this script (by pid) and keep every file in
# a temporary directory.
#
# Per case three passes:
# 1. dnsperf in the servers' namespace as fast as the server answers
#    (closed loop: 100 queries in flight): queries/s and the average latency,
#    which at saturation is mostly queueing.
# 2. dnsperf at a fixed $LATENCY_QPS queries/s with -v (a line per query;
#    dnsperf 2.10 prints no percentiles): latency percentiles.
# 3. kxdpgun (Knot DNS's AF_XDP generator) from the other namespace over the
#    veth at a fixed $OPEN_QPS queries/s (open loop, like many independent
#    clients): the answers/s the server sustains. dnsperf costs about as much
#    CPU per query as the server it measures, so on two cores it tops out near
#    the faster server's rate; kxdpgun costs a fraction of that and leaves the
#    server a core of its own. Skip with OPEN_QPS=0.
# Run it on an otherwise idle machine; the load is printed.
set -euo pipefail

# --- the namespaces (outer run), then the benchmark inside the servers' one ---
if [ -z "${BENCH_DNS_GEN_NS:-}" ]; then
    command -v ip >/dev/null || { echo "bench-dns: ip is missing" >&2; exit 1; }
    srv_ns=rmqbd-srv-$$
    gen_ns=rmqbd-gen-$$
    remove_namespaces() {
        ip netns del "$srv_ns" 2>/dev/null || true
        ip netns del "$gen_ns" 2>/dev/null || true
    }
    trap remove_namespaces EXIT
    ip netns add "$srv_ns"
    ip netns add "$gen_ns"
    ip -n "$srv_ns" link add veth-srv type veth peer name veth-gen netns "$gen_ns"
    ip -n "$srv_ns" link set lo up
    ip -n "$gen_ns" link set lo up
    ip -n "$srv_ns" addr add 192.0.2.1/24 dev veth-srv
    ip -n "$srv_ns" addr add 192.0.2.3/24 dev veth-srv
    ip -n "$gen_ns" addr add 192.0.2.2/24 dev veth-gen
    ip -n "$srv_ns" link set veth-srv up
    ip -n "$gen_ns" link set veth-gen up
    status=0
    BENCH_DNS_GEN_NS=$gen_ns ip netns exec "$srv_ns" "$0" "$@" || status=$?
    exit "$status"
fi
GEN_NS=$BENCH_DNS_GEN_NS

SIZES=${SIZES:-"100 10000 65000"}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-10}
LATENCY_QPS=${LATENCY_QPS:-20000}
RAFTMASQ=${RAFTMASQ:-target/release/raftmasq}
OPEN_QPS=${OPEN_QPS:-400000}
RMQ_ADDR=192.0.2.1
DNSMASQ_ADDR=192.0.2.3
PORT=${PORT:-5300}
CLUSTER_PORT=${CLUSTER_PORT:-17380}
ADMIN_PORT=${ADMIN_PORT:-17381}
ADMIN="http://127.0.0.1:$ADMIN_PORT"

tools="dnsperf dnsmasq curl jq shuf"
[ "$OPEN_QPS" -gt 0 ] && tools="$tools kxdpgun"
for tool in $tools; do
    command -v "$tool" >/dev/null || { echo "bench-dns: $tool is missing" >&2; exit 1; }
done
[ -x "$RAFTMASQ" ] || { echo "bench-dns: build $RAFTMASQ first (cargo build --release --bin raftmasq)" >&2; exit 1; }

# kxdpgun writes Ethernet frames itself; tell it the servers' MAC.
SRV_MAC=$(cat /sys/class/net/veth-srv/address)

dir=$(mktemp -d /tmp/rmq-bench-dns.XXXXXX)
rmq_pid=""
dnsmasq_pid=""
cleanup() {
    [ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null || true
    [ -n "$rmq_pid" ] && kill "$rmq_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# Name n (0-based): hN.lxd at 172.16.(n / 254).(n % 254 + 1), never .0 or .255.
address() { echo "172.16.$(($1 / 254)).$(($1 % 254 + 1))"; }

echo "== $(date -u '+%F %T') UTC; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
versions="$("$RAFTMASQ" --version 2>/dev/null || echo raftmasq); $(dnsmasq --version | head -1); dnsperf $(dnsperf -h 2>&1 | grep -m1 Version)"
[ "$OPEN_QPS" -gt 0 ] && versions="$versions; $(kxdpgun -V 2>&1 | head -1)"
echo "== $versions"

# --- raftmasq: a one-node cluster --------------------------------------------
printf 'bench-dns-token-0123456789abcdef\n' >"$dir/token"
chmod 600 "$dir/token"
printf 'bench-dns-admin-token-0123456789\n' >"$dir/admin.token"
chmod 600 "$dir/admin.token"
# The cluster link's TLS, as in production (docs/security.md).
"$RAFTMASQ" cert init-ca --dir "$dir/tls" >/dev/null
"$RAFTMASQ" cert issue --ca-dir "$dir/tls" --node-id 1 >/dev/null
cat >"$dir/node1.toml" <<EOF
[node]
id = 1
data_dir = "$dir/node1"
cluster_addr = "127.0.0.1:$CLUSTER_PORT"
admin_addr = "127.0.0.1:$ADMIN_PORT"
admin_token_file = "$dir/admin.token"
admin_socket = "$dir/admin.sock"

[cluster]
token_file = "$dir/token"
peers = ["1=127.0.0.1:$CLUSTER_PORT"]

[cluster.tls]
ca_file = "$dir/tls/ca.pem"
cert_file = "$dir/tls/node-1.pem"
key_file = "$dir/tls/node-1.key"

[dhcp]
enabled = false
interface = "lo"
address = "172.16.255.254"
subnet = "172.16.0.0/16"
range = "172.16.0.1-172.16.255.253"
lease_time = "12h"

[dns]
domain = "lxd"
listen = ["$RMQ_ADDR:$PORT"]
# Never asked: every benchmark query is in our zones. Loopback discard port.
upstream = ["127.0.0.1:9"]
EOF
RUST_LOG=warn "$RAFTMASQ" --config "$dir/node1.toml" >"$dir/node1.log" 2>&1 &
rmq_pid=$!
for _ in $(seq 100); do
    if curl -sf "$ADMIN/api/v1/status" | jq -e '.initialized == true and .leader != null' >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
curl -sf "$ADMIN/api/v1/status" | jq -e '.initialized == true' >/dev/null || {
    echo "bench-dns: raftmasq did not start:" >&2; cat "$dir/node1.log" >&2; exit 1; }

# Binds names [from, to) through the admin API: one curl, 32 requests in flight.
fill() {
    local from=$1 to=$2
    # `next` separates requests; one after the last would be a request without a URL.
    awk -v from="$from" -v to="$to" -v admin="$ADMIN" -v now="$(date +%s%3N)" 'BEGIN {
        for (n = from; n < to; n++) {
            if (n > from) print "next"
            hi = int(n / 256); lo = n % 256
            printf "url = \"%s/api/v1/commands\"\n", admin
            print "header = \"content-type: application/json\""
            print "header = \"authorization: Bearer bench-dns-admin-token-0123456789\""
            print "output = \"/dev/null\""
            printf "data = \"{\\\"op\\\":\\\"bind\\\",\\\"request\\\":{"
            printf "\\\"client_id\\\":[1,2,0,0,0,%d,%d],\\\"mac\\\":[2,0,0,0,%d,%d],", hi, lo, hi, lo
            printf "\\\"hostname\\\":\\\"h%d\\\",", n
            printf "\\\"requested_address\\\":\\\"172.16.%d.%d\\\",", int(n / 254), n % 254 + 1
            printf "\\\"seen_by\\\":1},\\\"now\\\":%s,\\\"lease_time_secs\\\":null}\"\n", now
        }
    }' >"$dir/fill.curl"
    curl -s --no-progress-meter --parallel --parallel-max 32 -K "$dir/fill.curl" -w '%{http_code}\n' >"$dir/fill.codes"
    if grep -qv '^200$' "$dir/fill.codes"; then
        echo "bench-dns: some binds failed: $(sort "$dir/fill.codes" | uniq -c | tr '\n' ' ')" >&2
        exit 1
    fi
}

# --- one dnsperf case ---------------------------------------------------------
# CPU time (user + system) process $1 has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_SEC=$(getconf CLK_TCK)

# Prints: qps, server CPU µs per query (both saturated), average ms
# (saturated), p50/p99/p99.9/max ms at $LATENCY_QPS, lost. The CPU cost per
# query is what the server spends, whoever else shares the cores: it moves
# far less than queries/s when other processes load the machine.
perf_case() {
    local server=$1 file=$2 pid=$3 out qps avg lost cpu_before cpu_after us
    cpu_before=$(cpu_ticks "$pid")
    out=$(dnsperf -s "$server" -p "$PORT" -d "$file" -c "$CLIENTS" -l "$DURATION" 2>&1)
    cpu_after=$(cpu_ticks "$pid")
    qps=$(awk '/Queries per second/ {printf "%.0f", $4}' <<<"$out")
    us=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$TICKS_PER_SEC" \
        '/Queries completed/ {printf "%.2f", t / hz * 1e6 / $3}' <<<"$out")
    avg=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' <<<"$out")
    lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
    if ! grep -q 'NOERROR [0-9]* (100.00%)' <<<"$out"; then
        echo "bench-dns: not every answer was NOERROR against $server ($file):" >&2
        echo "$out" >&2
        exit 1
    fi
    dnsperf -s "$server" -p "$PORT" -d "$file" -c "$CLIENTS" -l "$DURATION" -Q "$LATENCY_QPS" -v 2>/dev/null |
        awk '$1 == ">" {print $NF * 1000}' | sort -n >"$dir/latencies"
    local pct
    pct=$(awk '{v[NR] = $1} END {
        i50 = int(NR * 0.50); i99 = int(NR * 0.99); i999 = int(NR * 0.999)
        if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; if (i999 < 1) i999 = 1
        printf "%.3f | %.3f | %.3f | %.3f", v[i50], v[i99], v[i999], v[NR] }' "$dir/latencies")
    printf '%s | %s | %s | %s | %s' "$qps" "$us" "$avg" "$pct" "$lost"
}

# One kxdpgun pass at $OPEN_QPS from the generator's namespace: answered/s,
# the share answered, and the server's CPU per answer.
open_case() {
    local server=$1 file=$2 pid=$3 out sent answered noerror cpu_before cpu_after attempt status
    # The veth's queue can still be held by the previous run's XDP socket
    # for a moment after kxdpgun exits ("requested resource is busy").
    for attempt in 1 2 3 4 5; do
        cpu_before=$(cpu_ticks "$pid")
        status=0
        out=$(ip netns exec "$GEN_NS" timeout $((DURATION + 30)) kxdpgun -t "$DURATION" -Q "$OPEN_QPS" \
            -p "$PORT" -i "$file" -I veth-gen -R "$SRV_MAC" "$server" 2>&1) || status=$?
        grep -q 'resource is busy' <<<"$out" || break
        [ "$attempt" -lt 5 ] || break
        sleep 1
    done
    if [ "$status" -ne 0 ] || grep -q 'resource is busy' <<<"$out"; then
        echo "bench-dns: kxdpgun failed against $server:" >&2; echo "$out" >&2; exit 1
    fi
    cpu_after=$(cpu_ticks "$pid")
    sent=$(awk '/total queries:/ {print $3}' <<<"$out")
    answered=$(awk '/total replies:/ {print $3}' <<<"$out")
    noerror=$(awk '/responded NOERROR:/ {print $3}' <<<"$out")
    if [ -z "$answered" ] || [ "$answered" -eq 0 ] || [ "${noerror:-0}" -ne "$answered" ]; then
        echo "bench-dns: not every kxdpgun answer was NOERROR against $server ($file):" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v sent="$sent" -v answered="$answered" -v t=$((cpu_after - cpu_before)) \
        -v hz="$TICKS_PER_SEC" -v secs="$DURATION" 'BEGIN {
        printf "%.0f | %.0f | %.1f %% | %.2f | %.0f %%", sent / secs, answered / secs,
            100 * answered / sent, t / hz * 1e6 / answered, 100 * t / hz / secs }'
}

start_dnsmasq() {
    local hosts=$1
    dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --addn-hosts="$hosts" --listen-address="$DNSMASQ_ADDR" --bind-interfaces \
        --port="$PORT" --user=root --group=root --pid-file="$dir/dnsmasq.pid" \
        --local=/lxd/ --local=/16.172.in-addr.arpa/ >"$dir/dnsmasq.log" 2>&1 &
    dnsmasq_pid=$!
    for _ in $(seq 50); do
        dig +short +tries=1 +time=1 -p "$PORT" "@$DNSMASQ_ADDR" h0.lxd A 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    echo "bench-dns: dnsmasq did not start:" >&2; cat "$dir/dnsmasq.log" >&2; exit 1
}

echo
echo "| names | server | query | queries/s | CPU µs/query | avg ms | p50 ms | p99 ms | p99.9 ms | max ms | lost |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| | | | saturated | saturated | saturated | at $LATENCY_QPS/s | at $LATENCY_QPS/s | at $LATENCY_QPS/s | at $LATENCY_QPS/s | saturated |"
filled=0
for size in $SIZES; do
    started=$(date +%s.%N)
    fill "$filled" "$size"
    filled=$size
    count=$(curl -sf "$ADMIN/api/v1/leases" | jq length)
    [ "$count" -eq "$size" ] || { echo "bench-dns: $count leases, wanted $size" >&2; exit 1; }
    fill_secs=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    awk -v size="$size" -v dir="$dir" 'BEGIN {
        for (n = 0; n < size; n++) {
            o3 = int(n / 254); o4 = n % 254 + 1
            printf "172.16.%d.%d h%d.lxd\n", o3, o4, n > (dir "/hosts")
            printf "h%d.lxd A\n", n > (dir "/a.txt")
            printf "%d.%d.16.172.in-addr.arpa PTR\n", o4, o3 > (dir "/ptr.txt")
        }
    }'
    shuf -o "$dir/a.txt" "$dir/a.txt"
    shuf -o "$dir/ptr.txt" "$dir/ptr.txt"
    start_dnsmasq "$dir/hosts"
    # Both servers must give the same answer before they race.
    probe=$((size - 1))
    for server in "$RMQ_ADDR" "$DNSMASQ_ADDR"; do
        got=$(dig +short -p "$PORT" "@$server" "h$probe.lxd" A)
        [ "$got" = "$(address "$probe")" ] || { echo "bench-dns: $server says h$probe.lxd is '$got'" >&2; exit 1; }
    done
    for query in A PTR; do
        file="$dir/a.txt"; [ "$query" = PTR ] && file="$dir/ptr.txt"
        # A row is assigned before it is printed: a failing case must stop
        # the script (set -e), which a substitution inside echo would not.
        row=$(perf_case "$RMQ_ADDR" "$file" "$rmq_pid")
        echo "| $size | raftmasq | $query | $row |"
        row=$(perf_case "$DNSMASQ_ADDR" "$file" "$dnsmasq_pid")
        echo "| $size | dnsmasq | $query | $row |"
        if [ "$OPEN_QPS" -gt 0 ]; then
            row=$(open_case "$RMQ_ADDR" "$file" "$rmq_pid")
            echo "| $size | raftmasq | $query | $row |" >>"$dir/open.md"
            row=$(open_case "$DNSMASQ_ADDR" "$file" "$dnsmasq_pid")
            echo "| $size | dnsmasq | $query | $row |" >>"$dir/open.md"
        fi
    done
    kill "$dnsmasq_pid"; wait "$dnsmasq_pid" 2>/dev/null || true; dnsmasq_pid=""
    echo "(filled to $size names in $fill_secs s; load now: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
if [ "$OPEN_QPS" -gt 0 ]; then
    echo
    echo "Open loop: kxdpgun -t $DURATION -Q $OPEN_QPS from the generator's namespace"
    echo
    echo "| names | server | query | offered/s | answered/s | answered | CPU µs/answer | server CPU |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|"
    cat "$dir/open.md"
fi
echo
echo "== dnsperf -c $CLIENTS -l $DURATION (default -q 100 in flight), then the same with -Q $LATENCY_QPS -v; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
