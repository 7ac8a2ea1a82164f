"""The lab's traffic: an app server in the instance, a bounded burst of flows from outside.

Run as a script inside a namespace (``python3 burst.py serve PORT`` /
``python3 burst.py burst TARGET PORT COUNT STATUS_FILE``). ``burst`` opens up to COUNT
TCP connections one after another and keeps each one open: a completed handshake makes
the router's conntrack entry ASSURED, which early_drop never evicts. It stops at the
first connect that gets no answer within a second (the router's table is full), writes
``held N`` or ``held N, connect N+1 dropped`` to STATUS_FILE, and then holds every
established connection (a byte each way every 20 s) until killed. Like clients that
retry, it tries one more connect every half second while it holds fewer than COUNT, so a
slot freed by an expiring entry (the router's own IGMP report) is taken again.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time


def serve(port: int) -> None:
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(1024)
    sel.register(lsock, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is lsock:
                conn, _addr = lsock.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            data = sock.recv(64)
            if data:
                sock.sendall(data)  # echo: the established flow keeps answering
            else:
                sel.unregister(sock)
                sock.close()


def _connect(target: str, port: int, timeout: float) -> socket.socket | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((target, port))
    except OSError:
        s.close()
        return None
    s.settimeout(1.0)
    return s


def burst(target: str, port: int, count: int, status_file: str) -> None:
    held: list[socket.socket] = []
    dropped = False
    while len(held) < count:
        s = _connect(target, port, 1.0)
        if s is None:
            dropped = True
            break
        held.append(s)
    note = f", connect {len(held) + 1} dropped" if dropped else ""
    with open(status_file, "w") as fh:
        fh.write(f"held {len(held)}{note}\n")
    last_echo = time.monotonic()
    while True:  # clients retry: a slot freed (an entry expired) is taken again, up to COUNT
        time.sleep(0.5)
        if len(held) < count and (s := _connect(target, port, 0.5)) is not None:
            held.append(s)
        if time.monotonic() - last_echo >= 20:
            last_echo = time.monotonic()
            for s in held:
                try:
                    s.sendall(b".")
                    s.recv(64)
                except OSError:
                    pass


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
