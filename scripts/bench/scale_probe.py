#!/usr/bin/env python3
"""Probes for scripts/bench-scale.sh: it talks to many raftmasq members at once.

Subcommands (every address is IP:PORT; every wait is bounded by --timeout):

  ready      every member's /readyz is 200 and names one leader, and that
             leader's membership lists every member: prints the leader's id
  caught-up  every member's applied index reached the leader's last log
             index: prints the seconds that took
  propagate  SAMPLES Binds through the leader's admin API, one at a time;
             after each is acknowledged, asks every member's DNS server for
             the lease's name until each answers it: prints JSON with the
             percentiles of the time from acknowledgement to the answer
  serving    one member's /readyz is 200 and its DNS answers NAME: prints
             the seconds since --since (a time.time() value)

Standard library only, so it runs wherever the daemons do.
"""

import argparse
import http.client
import json
import math
import random
import select
import socket
import struct
import sys
import time


def split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def http_get(address, path, timeout=2.0):
    """(status, body) of GET path, or (None, None) when the member does not answer."""
    host, port = split(address)
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body
    except OSError:
        return None, None


def metric(body, name):
    """The value of an unlabelled metric in a Prometheus text body."""
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def dns_query(qid, name):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return header + labels + b"\x00" + struct.pack(">HH", 1, 1)


def dns_answered(packet):
    """(id, True when NOERROR with at least one answer) of a reply."""
    if len(packet) < 12:
        return None, False
    qid, flags, _, ancount = struct.unpack(">HHHH", packet[:8])
    return qid, (flags & 0x8000) != 0 and (flags & 0x000F) == 0 and ancount > 0


def ask_until_answered(sock, servers, name, deadline, resend=0.005):
    """Seconds (from now) until each server answered `name`; None for those
    that did not by the deadline. Queries are resent every `resend` s to the
    servers still missing."""
    start = time.monotonic()
    done = {}
    ids = {}
    last_sent = 0.0
    while len(done) < len(servers) and time.monotonic() < deadline:
        now = time.monotonic()
        if now - last_sent >= resend:
            for index, server in enumerate(servers):
                if index in done:
                    continue
                qid = random.randrange(65536)
                ids[qid] = index
                sock.sendto(dns_query(qid, name), split(server))
            last_sent = now
        ready, _, _ = select.select([sock], [], [], resend)
        while ready:
            try:
                packet, _ = sock.recvfrom(4096)
            except BlockingIOError:
                break
            qid, answered = dns_answered(packet)
            index = ids.get(qid)
            if answered and index is not None and index not in done:
                done[index] = time.monotonic() - start
            ready, _, _ = select.select([sock], [], [], 0)
    return [done.get(i) for i in range(len(servers))]


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    # Nearest rank: the smallest value with at least `fraction` of all at or below it.
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def cmd_ready(args):
    deadline = time.monotonic() + args.timeout
    admins = args.admin
    while time.monotonic() < deadline:
        leaders = set()
        all_ready = True
        for admin in admins:
            status, body = http_get(admin, "/readyz")
            if status != 200:
                all_ready = False
                break
            leaders.add(json.loads(body).get("leader"))
        if all_ready and len(leaders) == 1 and None not in leaders:
            leader = leaders.pop()
            status, body = http_get(admins[leader - 1], "/api/v1/status", timeout=10)
            if status == 200 and len(json.loads(body)["members"]) == len(admins):
                print(leader)
                return 0
        time.sleep(0.5)
    print(f"scale_probe: not ready within {args.timeout} s", file=sys.stderr)
    return 1


def cmd_caught_up(args):
    start = time.monotonic()
    deadline = start + args.timeout
    _, body = http_get(args.leader, "/metrics")
    target = metric(body, "raftmasq_raft_last_log_index") if body else None
    if target is None:
        print("scale_probe: no last log index from the leader", file=sys.stderr)
        return 1
    pending = list(args.admin)
    while pending and time.monotonic() < deadline:
        still = []
        for admin in pending:
            _, body = http_get(admin, "/metrics")
            applied = metric(body, "raftmasq_raft_applied_index") if body else None
            if applied is None or applied < target:
                still.append(admin)
        pending = still
        if pending:
            time.sleep(0.05)
    if pending:
        print(f"scale_probe: {len(pending)} members behind after {args.timeout} s: {pending}",
              file=sys.stderr)
        return 1
    print(f"{time.monotonic() - start:.3f}")
    return 0


def bind_body(mac_index, hostname, now_ms):
    mac = [2, 0x5c, 0, (mac_index >> 16) & 255, (mac_index >> 8) & 255, mac_index & 255]
    return json.dumps({
        "op": "bind",
        "request": {
            "client_id": [1] + mac,
            "mac": mac,
            "hostname": hostname,
            "requested_address": None,
            "seen_by": 1,
        },
        "now": now_ms,
        "lease_time_secs": None,
    })


def cmd_propagate(args):
    token = open(args.token_file).read().strip()
    host, port = split(args.leader)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    every, last, acks, missed = [], [], [], 0
    for sample in range(args.samples):
        name = f"{args.prefix}{sample}"
        body = bind_body(args.mac_base + sample, name, int(time.time() * 1000))
        sent = time.monotonic()
        conn.request("POST", "/api/v1/commands", body=body, headers={
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
        })
        response = conn.getresponse()
        reply = response.read()
        acked = time.monotonic()
        if response.status != 200 or b'"lease"' not in reply:
            print(f"scale_probe: bind {name} refused: {response.status} {reply[:200]!r}",
                  file=sys.stderr)
            return 1
        acks.append(acked - sent)
        times = ask_until_answered(sock, args.dns, f"{name}.{args.domain}",
                                   time.monotonic() + args.timeout)
        answered = [t for t in times if t is not None]
        missed += len(times) - len(answered)
        every.extend(answered)
        if len(answered) == len(times):
            last.append(max(answered))
        time.sleep(args.gap)

    def ms(value):
        return None if value is None else round(value * 1000, 2)

    print(json.dumps({
        "samples": args.samples,
        "members": len(args.dns),
        "ack_p50_ms": ms(percentile(acks, 0.5)),
        "ack_p99_ms": ms(percentile(acks, 0.99)),
        "all_p50_ms": ms(percentile(last, 0.5)),
        "all_p99_ms": ms(percentile(last, 0.99)),
        "all_max_ms": ms(max(last) if last else None),
        "each_p50_ms": ms(percentile(every, 0.5)),
        "each_p99_ms": ms(percentile(every, 0.99)),
        "unanswered": missed,
    }))
    return 0 if missed == 0 else 1


def cmd_serving(args):
    deadline = time.monotonic() + args.timeout
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    ready_at = None
    while time.monotonic() < deadline:
        if ready_at is None:
            status, _ = http_get(args.admin, "/readyz", timeout=1)
            if status == 200:
                ready_at = time.time()
        if ready_at is not None:
            times = ask_until_answered(sock, [args.dns], args.name,
                                       min(deadline, time.monotonic() + 0.2))
            if times[0] is not None:
                print(f"{time.time() - args.since:.3f} {ready_at - args.since:.3f}")
                return 0
        else:
            time.sleep(0.01)
    print(f"scale_probe: not serving within {args.timeout} s", file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ready = sub.add_parser("ready")
    ready.add_argument("--admin", nargs="+", required=True, help="admin addresses, node 1 first")
    ready.add_argument("--timeout", type=float, default=120)
    caught = sub.add_parser("caught-up")
    caught.add_argument("--leader", required=True)
    caught.add_argument("--admin", nargs="+", required=True)
    caught.add_argument("--timeout", type=float, default=120)
    prop = sub.add_parser("propagate")
    prop.add_argument("--leader", required=True)
    prop.add_argument("--dns", nargs="+", required=True)
    prop.add_argument("--token-file", required=True)
    prop.add_argument("--samples", type=int, default=200)
    prop.add_argument("--prefix", default="p")
    prop.add_argument("--mac-base", type=int, default=0x800000)
    prop.add_argument("--domain", default="lxd")
    prop.add_argument("--gap", type=float, default=0.02, help="pause between samples, s")
    prop.add_argument("--timeout", type=float, default=10)
    serving = sub.add_parser("serving")
    serving.add_argument("--admin", required=True)
    serving.add_argument("--dns", required=True)
    serving.add_argument("--name", required=True)
    serving.add_argument("--since", type=float, required=True)
    serving.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    return {
        "ready": cmd_ready,
        "caught-up": cmd_caught_up,
        "propagate": cmd_propagate,
        "serving": cmd_serving,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
