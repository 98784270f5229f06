#!/usr/bin/env bash
# Scale benchmark (issue 17 item 5): real raftmasq daemons (release build),
# all in one network namespace this script creates and removes, each on its
# own loopback address (node i: 127.0.1.i, cluster :7380, admin :7381, DNS
# :53; DHCP off, the cluster link in TLS as in production).
#
#   cargo build --release -p raftmasq --bin raftmasq
#   scripts/bench-scale.sh             # members and leases; as root
#   scripts/bench-scale.sh members     # or: leases, networks
#
# Part "members": clusters of 3, 10, 25 and 50 members ($MEMBERS; 3 voters
# at 3 members, else $VOTERS, the rest learners), each fresh:
#   - committed writes/s: $WRITES Binds of new clients (each with a hostname)
#     through the leader's admin API (POST /api/v1/commands, the admin
#     token), $WRITERS in flight (one curl --parallel); a write counts once
#     the leader acknowledged it, i.e. a majority of the voters stored it;
#   - the leader's CPU per write (utime+stime from /proc/PID/stat around the
#     burst), and all members' together;
#   - how long until every member applied the burst (from the last ack);
#   - p50/p99 time from a write's acknowledgement until the lease's name is
#     answered by DNS on every member ($SAMPLES writes, one at a time,
#     every member asked every 5 ms until it answers; scripts/bench/scale_probe.py).
# Part "leases": one 3-voter cluster whose table is filled to 10k, 50k, 100k
# and 250k leases ($LEASES) through the leader's admin API (Binds, $WRITERS
# in flight) in a /14; at each size, once every member has it: the snapshot's
# size (the daemon logs "snapshot stored" with its bytes; after the fill
# $SNAPSHOT_EVERY + 1 single writes make every member take one), each data directory's size
# on disk, each member's resident memory, then a follower stopped (SIGTERM)
# and started again: the seconds until its /readyz is 200 and its DNS answers
# the newest lease's name, and its resident memory afterwards.
# Part "networks": the same as "leases" with the table spread over
# $NETWORKS networks (`default`, a /16, and $NETWORKS - 1 `[[dhcp.networks]]`
# entries, each a /16 of 10.K.0.0 with its own domain); lease n is written
# to network n mod $NETWORKS (an `in_network` command for all but
# `default`), so each size holds size / $NETWORKS leases per network. 250,000
# leases need $NETWORKS >= 4 (a /16 pool holds 65,279).
#
# Environment: RAFTMASQ (binary), MEMBERS, VOTERS (5), WRITES (20000),
# WRITERS (64), SAMPLES (200), LEASES, NETWORKS (4), SNAPSHOT_EVERY (100),
# BENCH_CLUSTER_LINK=plaintext (cluster link without TLS), BENCH_CLUSTER_EXTRA
# (lines for every [cluster] section, e.g. 'heartbeat_interval = "250ms"'), BENCH_KEEP=1 keeps
# the work directory.
#
# Safety: one namespace (rmqsc<pid>) with only its loopback; every daemon is
# started by this script, recorded by pid (in $WORK/pids too), and killed by
# that pid on exit, then anything left in the namespace, then the namespace
# is deleted. No packet leaves it; DNS never forwards (allow_recursion = []).
# Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- the namespace (outer run), then the benchmark inside it -----------------
if [ -z "${BENCH_SCALE_NS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "bench-scale: must run as root (network namespace)" >&2; exit 1; }
    ns=rmqsc$$
    remove_namespace() {
        local pid
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    }
    trap remove_namespace EXIT
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    status=0
    BENCH_SCALE_NS=$ns ip netns exec "$ns" "$0" "$@" || status=$?
    exit "$status"
fi

PARTS=${*:-"members leases"}
RAFTMASQ=${RAFTMASQ:-target/release/raftmasq}
MEMBERS=${MEMBERS:-"3 10 25 50"}
VOTERS=${VOTERS:-5}
WRITES=${WRITES:-20000}
WRITERS=${WRITERS:-64}
SAMPLES=${SAMPLES:-200}
LEASES=${LEASES:-"10000 50000 100000 250000"}
NETWORKS=${NETWORKS:-4}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-100}
LINK=${BENCH_CLUSTER_LINK:-tls}
CLUSTER_EXTRA=${BENCH_CLUSTER_EXTRA:-}
PROBE="python3 scripts/bench/scale_probe.py"
TICKS_PER_SEC=$(getconf CLK_TCK)
declare -A PID_OF=()

die() {
    echo "bench-scale: $*" >&2
    exit 1
}

for tool in curl python3 awk du; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x "$RAFTMASQ" ] || die "$RAFTMASQ not found: cargo build --release -p raftmasq --bin raftmasq"

WORK=$(mktemp -d /var/tmp/rmq-bench-scale.XXXXXX)
cleanup() {
    local pid
    for pid in "${PID_OF[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench-scale: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

addr() { echo "127.0.1.$1"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

printf 'bench-scale-token-0123456789abcdef0123\n' >"$WORK/cluster.token"
printf 'bench-scale-admin-token-0123456789abcd\n' >"$WORK/admin.token"
chmod 600 "$WORK/cluster.token" "$WORK/admin.token"
TOKEN=$(cat "$WORK/admin.token")

# write_configs DIR N VOTERS SUBNET RANGE [NETWORKS]: node files for a fresh
# cluster; NETWORKS (1) counts `default`, the others are net1, net2, ... on
# 10.K.0.0/16 (no bridge: DHCP is off, the tables are filled by the API).
write_configs() {
    local dir=$1 n=$2 voters=$3 subnet=$4 range=$5 networks=${6:-1} i k peers="" role tls
    mkdir -p "$dir"
    if [ "$LINK" = tls ]; then
        "$RAFTMASQ" cert init-ca --dir "$dir/tls" >/dev/null
    fi
    for i in $(seq "$n"); do
        role=""
        [ "$i" -le "$voters" ] || role=" role=learner"
        peers+="${peers:+, }\"$i=$(addr "$i"):7380 bridge=172.16.0.$i$role\""
    done
    for i in $(seq "$n"); do
        if [ "$LINK" = tls ]; then
            "$RAFTMASQ" cert issue --ca-dir "$dir/tls" --node-id "$i" >/dev/null
            tls="[cluster.tls]
ca_file = \"$dir/tls/ca.pem\"
cert_file = \"$dir/tls/node-$i.pem\"
key_file = \"$dir/tls/node-$i.key\""
        else
            tls=""
        fi
        role=voter
        [ "$i" -le "$voters" ] || role=learner
        cat >"$dir/node$i.toml" <<EOF
[node]
id = $i
role = "$role"
data_dir = "$dir/node$i"
cluster_addr = "$(addr "$i"):7380"
admin_addr = "$(addr "$i"):7381"
admin_token_file = "$WORK/admin.token"
admin_socket = ""

[cluster]
token_file = "$WORK/cluster.token"
peers = [$peers]
snapshot_every = $SNAPSHOT_EVERY
$CLUSTER_EXTRA
$([ "$LINK" = tls ] || echo "insecure_plaintext = true")

$tls

[dhcp]
enabled = false
interface = "lo"
address = "172.16.0.$i"
subnet = "$subnet"
range = "$range"
lease_time = "30d"

[dns]
domain = "lxd"
listen = ["$(addr "$i"):53"]
allow_recursion = []
upstream = ["127.0.0.1:9"]

# Every connection between two members, and the benchmark's own, comes
# from 127.0.0.1 here (one loopback), where real hosts each have their own
# address: the per-client caps would count 49 peers and $WRITERS writers as
# one client.
[limits]
connections_per_client = 4096
cluster_connections = 4096
admin_connections = 1024

[log]
level = "warn,raftmasq_consensus::store=info"
EOF
        for k in $(seq 1 $((networks - 1))); do
            cat >>"$dir/node$i.toml" <<EOF

[[dhcp.networks]]
name = "net$k"
enabled = false
interface = "rmqbn$k"
address = "10.$k.0.$i"
subnet = "10.$k.0.0/16"
range = "10.$k.1.0-10.$k.255.254"
EOF
        done
    done
}

start_node() { # start_node DIR I
    "$RAFTMASQ" --config "$1/node$2.toml" >>"$1/node$2.log" 2>&1 </dev/null &
    PID_OF[$2]=$!
    echo "$!" >>"$WORK/pids"
}

stop_node() { # stop_node I
    local i=$1 pid=${PID_OF[$1]} deadline=$((SECONDS + 20))
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID_OF[$i]"
}

stop_all() {
    local i
    for i in "${!PID_OF[@]}"; do stop_node "$i"; done
}

admins() { local i; for i in $(seq "$1"); do printf '%s:7381 ' "$(addr "$i")"; done; }
dnses() { local i; for i in $(seq "$1"); do printf '%s:53 ' "$(addr "$i")"; done; }

# bind_file FILE FROM TO PREFIX ADMIN [NETWORKS]: a curl config of Binds
# [FROM, TO) of new clients named PREFIX<n>, the pool choosing the address;
# with NETWORKS > 1, client n's Bind is for network n mod NETWORKS (0 is
# `default`, K is net<K>: an in_network command around the Bind).
bind_file() {
    awk -v from="$2" -v to="$3" -v prefix="$4" -v admin="$5" -v networks="${6:-1}" -v token="$TOKEN" \
        -v now="$(date +%s%3N)" 'BEGIN {
        for (n = from; n < to; n++) {
            if (n > from) print "next"
            printf "url = \"http://%s/api/v1/commands\"\n", admin
            print "header = \"content-type: application/json\""
            printf "header = \"authorization: Bearer %s\"\n", token
            print "output = \"/dev/null\""
            k = n % networks
            printf "data = \""
            if (k > 0) printf "{\\\"op\\\":\\\"in_network\\\",\\\"network\\\":\\\"net%d\\\",\\\"command\\\":", k
            printf "{\\\"op\\\":\\\"bind\\\",\\\"request\\\":{"
            printf "\\\"client_id\\\":[1,2,0,0,%d,%d,%d],", int(n / 65536), int(n / 256) % 256, n % 256
            printf "\\\"mac\\\":[2,0,0,%d,%d,%d],", int(n / 65536), int(n / 256) % 256, n % 256
            printf "\\\"hostname\\\":\\\"%s%d\\\",", prefix, n
            printf "\\\"requested_address\\\":null,"
            printf "\\\"seen_by\\\":1},\\\"now\\\":%s,\\\"lease_time_secs\\\":null}", now
            printf "%s\"\n", (k > 0 ? "}" : "")
        }
    }' >"$1"
}

# burst CONFIG: sends it, $WRITERS in flight; fails unless every answer was 200.
# Sets BURST_SECONDS.
burst() {
    local start end
    start=$(date +%s%N)
    curl -s --no-progress-meter --parallel --parallel-max "$WRITERS" -K "$1" \
        -w '%{http_code}\n' >"$1.codes"
    end=$(date +%s%N)
    BURST_SECONDS=$(awk -v ns=$((end - start)) 'BEGIN {printf "%.3f", ns / 1e9}')
    if grep -qv '^200$' "$1.codes"; then
        die "some writes failed: $(sort "$1.codes" | uniq -c | tr '\n' ' ')"
    fi
}

# bound LEADER_ADMIN: leases bound in the leader's table.
bound() {
    curl -sf --max-time 10 "http://$1/api/v1/status" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["pool"]["bound"])'
}

# --- part 1: members ----------------------------------------------------------
members_case() {
    local n=$1 voters=$2 dir="$WORK/m$1" i leader leader_admin t0 t1 all0=0 all1=0 \
        rss_leader rss_learner_sum=0 rss_learners=0 before after caught prop
    write_configs "$dir" "$n" "$voters" 172.16.0.0/16 172.16.1.0-172.16.255.254
    t0=$(date +%s%N)
    for i in $(seq "$n"); do start_node "$dir" "$i"; done
    # shellcheck disable=SC2046
    leader=$($PROBE ready --timeout $((60 + 4 * n)) --admin $(admins "$n")) ||
        die "cluster of $n not ready (logs in $dir)"
    t1=$(date +%s%N)
    leader_admin="$(addr "$leader"):7381"
    echo "## members=$n voters=$voters learners=$((n - voters)) leader=$leader: all ready in $(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", ns / 1e9}') s; load $(load)"
    sleep 3
    bind_file "$dir/writes.curl" 0 "$WRITES" w "$leader_admin"
    before=$(cpu_ticks "${PID_OF[$leader]}")
    for i in $(seq "$n"); do all0=$((all0 + $(cpu_ticks "${PID_OF[$i]}"))); done
    burst "$dir/writes.curl"
    after=$(cpu_ticks "${PID_OF[$leader]}")
    # shellcheck disable=SC2046
    caught=$($PROBE caught-up --timeout 300 --leader "$leader_admin" --admin $(admins "$n")) ||
        die "members of the $n cluster did not catch up (logs in $dir)"
    for i in $(seq "$n"); do all1=$((all1 + $(cpu_ticks "${PID_OF[$i]}"))); done
    [ "$(bound "$leader_admin")" = "$WRITES" ] || die "the leader does not hold $WRITES leases"
    awk -v w="$WRITES" -v s="$BURST_SECONDS" -v lt=$((after - before)) -v at=$((all1 - all0)) \
        -v hz="$TICKS_PER_SEC" -v c="$caught" -v n="$n" -v load="$(load)" 'BEGIN {
        printf "writes: %d in %.2f s = %.0f committed writes/s (%d in flight); leader CPU %.1f us/write; all %d members %.1f us/write (incl. catch-up); every member applied all %.2f s after the last ack; load %s\n",
            w, s, w / s, '"$WRITERS"', lt / hz * 1e6 / w, n, at / hz * 1e6 / w, c, load }'
    sleep 2
    # shellcheck disable=SC2046
    prop=$($PROBE propagate --samples "$SAMPLES" --leader "$leader_admin" \
        --token-file "$WORK/admin.token" --dns $(dnses "$n")) ||
        die "names not answered on every member: $prop"
    echo "propagation (ack -> answered, $SAMPLES writes one at a time): $prop; load $(load)"
    rss_leader=$(rss_kib "${PID_OF[$leader]}")
    for i in $(seq "$n"); do
        [ "$i" -gt "$voters" ] || continue
        rss_learner_sum=$((rss_learner_sum + $(rss_kib "${PID_OF[$i]}")))
        rss_learners=$((rss_learners + 1))
    done
    echo "rss: leader $(mib "$rss_leader") MiB$([ "$rss_learners" -eq 0 ] || echo "; learners mean $(mib $((rss_learner_sum / rss_learners))) MiB")"
    echo "log lines at ERROR or panics while running: $(cat "$dir"/node*.log | grep -c ' ERROR \|panicked' || true)" \
        "(RPC timeouts: $(cat "$dir"/node*.log | grep -c ' ERROR .*did not answer within' || true);" \
        "membership change in progress: $(cat "$dir"/node*.log | grep -c ' ERROR .*undergoing a configuration change' || true))"
    grep -h ' ERROR \|panicked' "$dir"/node*.log | grep -v 'did not answer within\|undergoing a configuration change' | head -3 || true
    stop_all
}

# --- part 2: leases -----------------------------------------------------------
snapshot_bytes() { # the last "snapshot stored" of node I: BYTES@INDEX
    { grep -a 'snapshot stored' "$1/node$2.log" || echo none; } | tail -1 |
        sed 's/.*bytes=\([0-9]*\).*last_log_index=\([0-9]*\).*/\1 B at index \2/'
}

# snapshot_now DIR ADMIN: $SNAPSHOT_EVERY + 1 writes one at a time (Expire,
# which changes nothing here: every lease has 30 days left), so each is an
# entry of its own and every member takes a snapshot of the table as filled.
snapshot_now() {
    awk -v admin="$2" -v token="$TOKEN" -v count=$((SNAPSHOT_EVERY + 1)) -v now="$(date +%s%3N)" 'BEGIN {
        for (n = 0; n < count; n++) {
            if (n > 0) print "next"
            printf "url = \"http://%s/api/v1/commands\"\n", admin
            print "header = \"content-type: application/json\""
            printf "header = \"authorization: Bearer %s\"\n", token
            print "output = \"/dev/null\""
            printf "data = \"{\\\"op\\\":\\\"expire\\\",\\\"now\\\":%s}\"\n", now
        }
    }' >"$1/expire.curl"
    curl -s --no-progress-meter -K "$1/expire.curl" -w '%{http_code}\n' >"$1/expire.codes"
    grep -qv '^200$' "$1/expire.codes" && die "expire writes failed: $(sort "$1/expire.codes" | uniq -c)"
    return 0
}

# newest_in_default SIZE K: the highest n < SIZE whose lease is in `default`
# (n mod K = 0), for the name a restarted member must answer.
newest_in_default() { echo $(((($1 - 1) / $2) * $2)); }

# leases_case [NETWORKS]: one network on a /14 (1, the default), or NETWORKS
# /16 networks sharing the table.
leases_case() {
    local networks=${1:-1} dir n=3 i leader leader_admin follower have=0 size t0 serving started \
        du_line rss_line newest in_default
    if [ "$networks" -eq 1 ]; then
        dir="$WORK/leases"
        write_configs "$dir" "$n" 3 172.16.0.0/14 172.16.1.0-172.19.255.254
    else
        dir="$WORK/networks$networks"
        write_configs "$dir" "$n" 3 172.16.0.0/16 172.16.1.0-172.16.255.254 "$networks"
    fi
    for i in $(seq "$n"); do start_node "$dir" "$i"; done
    # shellcheck disable=SC2046
    leader=$($PROBE ready --timeout 60 --admin $(admins "$n")) || die "lease cluster not ready"
    leader_admin="$(addr "$leader"):7381"
    follower=$(((leader % 3) + 1))
    if [ "$networks" -eq 1 ]; then
        echo "## leases: 3 voters, subnet 172.16.0.0/14, pool 172.16.1.0-172.19.255.254, snapshot_every $SNAPSHOT_EVERY; leader=$leader; load $(load)"
    else
        echo "## leases over $networks networks: 3 voters, default 172.16.0.0/16 and net1..net$((networks - 1)) on 10.K.0.0/16, lease n in network n mod $networks, snapshot_every $SNAPSHOT_EVERY; leader=$leader; load $(load)"
    fi
    for size in $LEASES; do
        bind_file "$dir/fill.curl" "$have" "$size" l "$leader_admin" "$networks"
        burst "$dir/fill.curl"
        echo "fill $have -> $size: $((size - have)) Binds in $BURST_SECONDS s = $(awk -v n=$((size - have)) -v s="$BURST_SECONDS" 'BEGIN {printf "%.0f", n / s}')/s; load $(load)"
        have=$size
        # `default`'s count (status shows it); every other write answered 200,
        # which a refused Bind does not.
        in_default=$(((size + networks - 1) / networks))
        [ "$(bound "$leader_admin")" = "$in_default" ] ||
            die "the leader does not hold $in_default leases in default at size $size"
        # shellcheck disable=SC2046
        $PROBE caught-up --timeout 300 --leader "$leader_admin" --admin $(admins "$n") >/dev/null ||
            die "members did not catch up at $size"
        snapshot_now "$dir" "$leader_admin"
        # The snapshot written on every member, and the 30 s trim of free memory.
        sleep 35
        du_line="" rss_line=""
        for i in $(seq "$n"); do
            du_line+=" node$i $(du -sk "$dir/node$i" | cut -f1) KiB (snapshot $(snapshot_bytes "$dir" "$i"));"
            rss_line+=" node$i $(mib "$(rss_kib "${PID_OF[$i]}")") MiB (peak $(mib "$(hwm_kib "${PID_OF[$i]}")"));"
        done
        echo "size $size: data dir:$du_line"
        echo "size $size: rss:$rss_line load $(load)"
        stop_node "$follower"
        started=$(date +%s.%N)
        start_node "$dir" "$follower"
        newest=$(newest_in_default "$size" "$networks")
        serving=$($PROBE serving --timeout 300 --since "$started" --admin "$(addr "$follower"):7381" \
            --dns "$(addr "$follower"):53" --name "l$newest.lxd") ||
            die "node $follower not serving after restart at $size"
        sleep 5
        echo "size $size: node $follower restarted: DNS answers l$newest.lxd after $(cut -d' ' -f1 <<<"$serving") s (/readyz 200 after $(cut -d' ' -f2 <<<"$serving") s); rss 5 s later $(mib "$(rss_kib "${PID_OF[$follower]}")") MiB; load $(load)"
    done
    stop_all
}

echo "# bench-scale $(date -u +%FT%TZ) on $(nproc) cores ($(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)); cluster link $LINK; [cluster] extra: $(tr '\n' ' ' <<<"${CLUSTER_EXTRA:-none}"); load $(load)"
echo "# raftmasq: $RAFTMASQ ($(stat -c %y "$RAFTMASQ" | cut -d. -f1)); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
for part in $PARTS; do
    case $part in
    members)
        for n in $MEMBERS; do
            v=$VOTERS
            [ "$n" -gt "$VOTERS" ] || v=3
            members_case "$n" "$v"
        done
        ;;
    leases) leases_case 1 ;;
    networks) leases_case "$NETWORKS" ;;
    *) die "unknown part $part (members, leases, networks)" ;;
    esac
done
echo "# done $(date -u +%FT%TZ); load $(load)"
