"""The router's traffic to every port of the tenant network (run in its namespace).

``python3 heartbeat.py LIFETIME INTERVAL STATUS_FILE ADDRESS...``: one UDP datagram
(discard port 9) to every ADDRESS each INTERVAL seconds, for LIFETIME seconds at most.
Each port answers "port unreachable", so each of the router's neighbour entries is in use
all the time: the entries stay REACHABLE, DELAY or PROBE (a timer holds each one) or
freshly STALE, none of which the kernel's forced garbage collection may evict. After
three rounds the script writes ``N ports every S s, rounds R`` to STATUS_FILE, then
keeps going until LIFETIME. (A datagram to a port whose entry the kernel cannot make is
dropped without an error to UDP's sendto: the lab reads the table, not this status.)
"""

from __future__ import annotations

import socket
import sys
import time


def main(lifetime: float, interval: float, status_file: str, addresses: list[str]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + lifetime
    rounds = 0
    while time.monotonic() < end:
        for addr in addresses:
            try:
                sock.sendto(b".", (addr, 9))
            except OSError:
                pass  # an error now and then (ENOBUFS): the next round tries again
        rounds += 1
        if rounds == 3:  # the first ARP answers are in
            with open(status_file, "w") as fh:
                fh.write(f"{len(addresses)} ports every {interval:g} s, rounds {rounds}\n")
        time.sleep(interval)


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:])
