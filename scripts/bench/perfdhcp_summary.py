#!/usr/bin/env python3
"""Summarises one perfdhcp run (run with `-x t`) as one line of key=value.

4-way exchanges: DISCOVER-OFFER (DO) then REQUEST-ACK (RA); with -6,
SOLICIT-ADVERTISE and REQUEST-REPLY count as DO and RA. An exchange is
dropped when its OFFER or its ACK did not arrive within perfdhcp's drop time,
so the 4-way drop ratio is 1 - ACKs received / DISCOVERs sent. Latencies come
from the per-packet timestamps that `-x t` prints for every exchange that
completed; p50/p99 are nearest-rank percentiles.

Usage: perfdhcp_summary.py PERFDHCP_OUTPUT PERIOD_SECONDS
"""

import math
import sys


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def parse(lines):
    counts = {}  # (section, key) -> int
    delays = {"DO": [], "RA": []}
    section = None
    timestamps = None
    for line in lines:
        line = line.strip()
        if line.startswith(("***Statistics for: DISCOVER-OFFER",
                             "***Statistics for: SOLICIT-ADVERTISE")):
            section, timestamps = "DO", None
        elif line.startswith(("***Statistics for: REQUEST-ACK",
                               "***Statistics for: REQUEST-REPLY")):
            section, timestamps = "RA", None
        elif line.startswith(("***Timestamps for packets: DISCOVER-OFFER",
                               "***Timestamps for packets: SOLICIT-ADVERTISE")):
            section, timestamps = None, "DO"
        elif line.startswith(("***Timestamps for packets: REQUEST-ACK",
                               "***Timestamps for packets: REQUEST-REPLY")):
            section, timestamps = None, "RA"
        elif line.startswith("***"):
            section, timestamps = None, None
        elif timestamps and line.startswith("sent / received:"):
            sent, received = line.split(":", 1)[1].split("/")
            delays[timestamps].append((float(received) - float(sent)) * 1000.0)
        elif section and ":" in line:
            key, value = line.split(":", 1)
            value = value.strip().split()[0] if value.strip() else ""
            if key in ("sent packets", "received packets", "drops"):
                counts[(section, key)] = int(value)
    return counts, delays


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as output:
        counts, delays = parse(output)
    period = float(sys.argv[2])
    discovers = counts.get(("DO", "sent packets"), 0)
    acks = counts.get(("RA", "received packets"), 0)
    if discovers == 0:
        print("discovers=0 acks=0 drop_pct=100.000 ack_rate=0 "
              "do_p50=nan do_p99=nan ra_p50=nan ra_p99=nan")
        return
    drop_pct = 100.0 * (1.0 - acks / discovers)
    do, ra = sorted(delays["DO"]), sorted(delays["RA"])
    print(
        f"discovers={discovers} acks={acks} drop_pct={drop_pct:.3f} "
        f"ack_rate={acks / period:.0f} "
        f"do_p50={percentile(do, 50):.2f} do_p99={percentile(do, 99):.2f} "
        f"ra_p50={percentile(ra, 50):.2f} ra_p99={percentile(ra, 99):.2f}"
    )


if __name__ == "__main__":
    main()
