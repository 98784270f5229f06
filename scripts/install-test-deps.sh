#!/usr/bin/env bash
# Installs what raftmasq's end-to-end tests and benchmarks need on Debian
# (bookworm or later). Idempotent: safe to run on every CI run.
#
# The servers among these packages (dnsmasq, bind9, kea-dhcp4, kea-dhcp6) are reference peers
# that the tests start themselves, in network namespaces, with their own
# configs. They must not be left running as system services bound to ports 53
# or 67, so their services are kept from starting during the install
# (policy-rc.d) and disabled and masked afterwards when systemd runs. The
# prometheus package is here only for promtool; its server (port 9090) is
# kept down the same way.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: must run as root" >&2
    exit 1
fi

packages=(
    iproute2          # ip netns, veth, bridge, vxlan; tc/netem
    curl              # the admin API from inside host namespaces
    nftables          # packet loss where the kernel has no netem
    iputils-ping      # ping across the VXLAN segment
    ndisc6            # rdisc6: the router advertisements raftmasq sends (e2e ipv6)
    arping            # link-layer broadcast probes
    tcpdump           # wire captures: e2e dhcp_edges asserts on them
    isc-dhcp-client   # dhclient
    udhcpc            # busybox's udhcpc
    dhcpcd-base       # dhcpcd binary and hooks, without the system service
    systemd           # /lib/systemd/systemd-networkd, the client of Ubuntu containers; the
                      # tests run it by path in private namespaces, never as a service;
                      # networkctl
    dbus-daemon       # a private `dbus-daemon --system` per networkd client, in its own
                      # mount namespace, so that `networkctl renew` works (never the machine's bus)
    util-linux        # unshare, nsenter (into a networkd client's namespaces)
    dnsmasq-base      # reference DHCP/DNS server, without the system service
    isc-dhcp-relay    # dhcrelay: the routed host's relay agent (e2e relay); the tests run it
                      # in a host namespace with its own pid file, never as a service
    bind9             # reference DNS server
    bind9-dnsutils    # dig
    kea-dhcp4-server  # reference DHCP server (memfile; libdhcp_ha.so for hot-standby)
    kea-dhcp6-server  # reference DHCPv6 server for scripts/bench-dhcp6.sh (memfile)
    kea-admin         # perfdhcp, for the benchmark
    dnsperf           # DNS benchmark
    knot-dnsutils     # kxdpgun, the DNS benchmark's open-loop generator
    jq                # the benchmark scripts read JSON
    chromium          # the dashboard's browser tests (headless)
    chromium-driver   # WebDriver for the same browser, for manual checks
    fonts-dejavu-core # text in the dashboard screenshots
    lxd               # real LXD daemons, one per testbed host namespace (e2e lxd)
    lxd-client        # lxc, the LXD client the e2e lxd tests drive
    groff-base        # groff: the man pages must render without a warning
    prometheus        # promtool: the e2e metrics test checks the scrape, alert rules and their tests
)
services=(bind9 named kea-dhcp4-server kea-dhcp6-server kea-ctrl-agent dnsmasq isc-dhcp-relay prometheus)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    # A policy-rc.d that exits 101 tells invoke-rc.d not to start services.
    # Keep one that is already there (container images ship one); otherwise
    # install ours for the duration and remove it on every exit path.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard's browser tests run on the machine's Node.js (20 or later:
# playwright-core needs it, Debian bookworm's nodejs is 18) with
# playwright-core from tests/dashboard/package-lock.json. It drives the
# chromium package above; it never downloads a browser of its own.
dashboard_tests="$(dirname "$0")/../tests/dashboard"
node_major="$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p')"
if [ "${node_major:-0}" -lt 20 ] || ! command -v npm >/dev/null; then
    echo "install-test-deps: the dashboard tests need Node.js 20 or later with npm (found: $(node --version 2>/dev/null || echo none))" >&2
    node_missing=1
elif [ ! -f "$dashboard_tests/node_modules/.package-lock.json" ] ||
    [ "$dashboard_tests/package-lock.json" -nt "$dashboard_tests/node_modules/.package-lock.json" ]; then
    (cd "$dashboard_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi

# On a machine running systemd, make sure none of the reference servers runs
# now or at the next boot. Without systemd, policy-rc.d already kept them down.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    for service in "${services[@]}"; do
        if systemctl list-unit-files "$service.service" --no-legend 2>/dev/null | grep -q .; then
            systemctl disable --now "$service.service" >/dev/null 2>&1 || true
            systemctl mask "$service.service" >/dev/null 2>&1 || true
        fi
    done
fi

# The e2e lxd tests build their container image from a static busybox. The
# busybox-static package cannot be installed: it removes busybox, which udhcpc
# depends on. Unpack its binary instead, to a fixed path the fixture reads.
busybox_static=/usr/local/lib/raftmasq-tests/busybox
if [ ! -x "$busybox_static" ]; then
    unpack="$(mktemp -d)"
    (cd "$unpack" && apt-get download busybox-static >/dev/null && dpkg-deb -x busybox-static_*.deb root)
    install -D -m 755 "$unpack/root/bin/busybox" "$busybox_static"
    rm -rf "$unpack"
fi

# Report, and fail if a tool the tests call is still missing.
status=0
if [ -n "${node_missing:-}" ]; then
    status=1
fi
# The packaging test builds a .deb with cargo-deb (pinned: its CLI changes).
if ! command -v cargo-deb >/dev/null && command -v cargo >/dev/null; then
    cargo install cargo-deb --version 3.8.0 --locked
fi

for tool in groff lxd lxc curl ip bridge tc nft ping arping dhclient udhcpc dhcpcd dhcrelay unshare nsenter networkctl dbus-daemon dnsmasq named dig kea-dhcp4 kea-dhcp6 perfdhcp dnsperf kxdpgun node chromium promtool; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-test-deps: $tool is missing after install" >&2
        status=1
    fi
done
# Not on the PATH: the networkd tests run it by its path.
if [ ! -x "$busybox_static" ]; then
    echo "install-test-deps: $busybox_static is missing after install" >&2
    status=1
fi
if [ ! -x /lib/systemd/systemd-networkd ]; then
    echo "install-test-deps: /lib/systemd/systemd-networkd is missing after install" >&2
    status=1
fi
exit "$status"
