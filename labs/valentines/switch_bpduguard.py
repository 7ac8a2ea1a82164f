"""A top-of-rack switch port with BPDU guard, for the Valentine's Day lab.

FAITHFUL EMULATION of what the tale's switches did, not a switch OS. One process per
switch namespace watches its server-facing port (a veth named like the switch port,
``Ethernet35``) with an AF_PACKET socket, the way the port's ASIC traps BPDUs to the
CPU. On an edge port with ``spanning-tree bpduguard enable``:

- the first BPDU received (802.1D/RSTP/MSTP to ``01:80:c2:00:00:00``, or Cisco PVST+
  to ``01:00:0c:cc:cc:cd``) err-disables the port: the link goes down (the server's
  NIC loses carrier) and stays down until an operator recovers it;
- the switch logs what the tale quotes (Arista EOS wording, the port-channel
  ``Port-Channel35`` and its member ``Ethernet35``), syslog-style, to ``--log``;
- SIGUSR1 is the operator's ``shutdown`` / ``no shutdown`` on the port (errdisable
  recovery): the link comes back up and BPDU guard is armed again.

Not emulated: the switch's own BPDUs on the edge port, LACP, and MLAG itself.

Run: ``python -m labs.valentines.switch_bpduguard --port Ethernet35 --logical Port-Channel35
--description Server35 --hostname SW-1 --log FILE --state FILE --ready FILE``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.analyzers.stp import decode_bpdu
from engine.parsers.pcap import decode_frame

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23


def syslog_stamp(now: dt.datetime) -> str:
    """``Feb 15 01:40:18`` (RFC 3164: the day padded with a space)."""
    return f"{now:%b} {now.day:2d} {now:%H:%M:%S}"


def bpduguard_lines(
    hostname: str, logical: str, member: str, description: str, mac: str, mlag_id: str
) -> tuple[list[str], list[str]]:
    """The tale's lines: those logged as the port is shut, and those a second later."""
    now = [
        f"Stp: %SPANTREE-4-BLOCK_BPDUGUARD: Received BPDU packet on {logical} with BPDU guard "
        f"enabled. Disabling interface. (source mac {mac})",
        f"Ebra: %ETH-4-ERRDISABLE: bpduguard error detected on {logical}.",
        f"Mlag: %MLAG-4-INTF_INACTIVE_LOCAL: Local interface {logical} is link down. "
        f"MLAG {mlag_id} is inactive.",
        f"Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface {logical} ({description}), "
        "changed state to down",
    ]
    later = [
        f"Stp: %SPANTREE-6-INTERFACE_DEL: Interface {logical} has been removed from instance MST0",
        f"Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface {member} ({description}), "
        "changed state to down",
    ]
    return [f"{hostname} {x}" for x in now], [f"{hostname} {x}" for x in later]


def up_lines(hostname: str, logical: str, member: str, description: str) -> list[str]:
    return [
        f"{hostname} Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface {iface} "
        f"({description}), changed state to up"
        for iface in (member, logical)
    ]


@dataclass
class PortState:
    port: str
    logical: str
    errdisabled: bool = False
    cause: str | None = None
    source_mac: str | None = None
    bpdu_kind: str | None = None
    since: str | None = None
    bpdus_seen: int = 0
    recoveries: int = 0


class GuardedPort:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = PortState(args.port, args.logical)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sock.bind((args.port, 0))
        self.recover_requested = False
        self.pending: list[str] = []  # lines logged a second after the shutdown
        self.pending_at = 0.0

    def log(self, lines: list[str]) -> None:
        stamp = syslog_stamp(dt.datetime.now())
        with Path(self.args.log).open("a") as f:
            for line in lines:
                f.write(f"{stamp} {line}\n")

    def save(self) -> None:
        path = Path(self.args.state)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self.state), indent=2) + "\n")
        tmp.replace(path)

    def link(self, up: bool) -> None:
        subprocess.run(
            ["ip", "link", "set", "dev", self.args.port, "up" if up else "down"],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def on_frame(self, data: bytes, now: float) -> None:
        frame = decode_frame(data, now, len(data))
        if frame is None or not frame.is_bpdu or self.state.errdisabled:
            return
        bpdu = decode_bpdu(frame)
        a, st = self.args, self.state
        st.bpdus_seen += 1
        st.errdisabled, st.cause = True, "bpduguard"
        st.source_mac = frame.src_mac
        st.bpdu_kind = bpdu.kind if bpdu else None
        st.since = syslog_stamp(dt.datetime.now())
        first, later = bpduguard_lines(
            a.hostname, a.logical, a.port, a.description, frame.src_mac, a.mlag_id
        )
        self.log(first)
        self.link(False)
        self.save()
        self.pending, self.pending_at = later, now + 1.0

    def recover(self) -> None:
        """``shutdown`` / ``no shutdown``: clear err-disable, bring the link back."""
        a, st = self.args, self.state
        if st.errdisabled:
            st.errdisabled, st.cause = False, None
            st.recoveries += 1
        self.link(True)
        self.log(up_lines(a.hostname, a.logical, a.port, a.description))
        self.save()

    def loop(self, stopping: list[bool]) -> None:
        while not stopping:
            now = _now()
            timeout = max(0.0, self.pending_at - now) if self.pending else 0.5
            with contextlib.suppress(InterruptedError):
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if ready:
                    with contextlib.suppress(OSError):
                        self.on_frame(self.sock.recv(65536), _now())
            if self.pending and _now() >= self.pending_at:
                self.log(self.pending)
                self.pending = []
            if self.recover_requested:
                self.recover_requested = False
                self.recover()


def _now() -> float:
    return dt.datetime.now().timestamp()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="a switch port with BPDU guard (lab emulator)")
    ap.add_argument("--port", required=True, help="the Linux link standing for the port")
    ap.add_argument("--logical", required=True, help="the name the switch logs (Port-Channel35)")
    ap.add_argument("--description", default="")
    ap.add_argument("--mlag-id", default="35")
    ap.add_argument("--hostname", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--ready", required=True)
    args = ap.parse_args(argv)
    port = GuardedPort(args)
    stopping: list[bool] = []

    def stop(_sig: int, _frame: object) -> None:
        stopping.append(True)

    def recover(_sig: int, _frame: object) -> None:
        port.recover_requested = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, recover)
    port.log(up_lines(args.hostname, args.logical, args.port, args.description))
    port.save()
    Path(args.ready).write_text(f"{os.getpid()}\n")
    port.loop(stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
