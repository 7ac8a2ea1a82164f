"""A stand-in for the Linux bonding driver (active-backup), for kernels without it.

FAITHFUL EMULATION, clearly not the kernel driver. This lab kernel has no bonding
module, so ``bond0`` is a tap device driven by this small process, run inside the
compute node's namespace:

- it owns ``bond0`` (a tap): what the host sends on bond0 it writes to the active
  member (``eth0``/``eth1``, AF_PACKET); what arrives on the active member it writes
  into bond0; frames arriving on the backup member are dropped, as the driver does;
- it polls each member's carrier every ``miimon`` ms (the driver's MII monitor), fails
  over to the next member with link and counts link failures;
- bond0's own carrier follows the members (TUNSETCARRIER): once every member is down,
  ``ip link`` shows ``bond0: <NO-CARRIER,...> state DOWN`` exactly like a real bond;
- it keeps a ``/proc/net/bonding/bond0``-format status file in sync (atomically
  replaced), at a path the lab puts in the inventory (``bonding_status``);
- like the driver (``fail_over_mac`` none) it gives every member the bond's MAC and
  reports each member's own as ``Permanent HW addr``.

Run: ``python -m labs.valentines.bond_standin --bond bond0 --slaves eth0,eth1 --status FILE
--log FILE --ready FILE``. It exits on SIGTERM; bond0 then loses carrier.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TUNSETIFF = 0x400454CA
TUNSETCARRIER = 0x400454E2
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
MAX_FRAME = 65536
DRIVER = "cloudtales bond stand-in (userspace active-backup; this kernel has no bonding driver)"


@dataclass
class Slave:
    name: str
    sock: socket.socket
    perm_addr: str
    up: bool = False
    failures: int = 0
    speed: str = "Unknown"
    duplex: str = "Unknown"


@dataclass
class Bond:
    name: str
    tap: int
    slaves: list[Slave]
    status_path: Path
    log_path: Path
    miimon_ms: int = 100
    active: Slave | None = None
    carrier: bool = False
    events: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ MII monitor

    def poll(self) -> bool:
        """Read every member's carrier; fail over; True when anything changed."""
        changed = False
        for s in self.slaves:
            up = _carrier(s.name)
            if up != s.up:
                changed = True
                s.up = up
                if up:
                    s.speed, s.duplex = _speed_duplex(s.name)
                    self.log(f"(slave {s.name}): link status definitely up, {s.speed}, "
                             f"{s.duplex.lower()} duplex")  # fmt: skip
                else:
                    s.failures += 1
                    s.speed = s.duplex = "Unknown"
                    self.log(f"(slave {s.name}): link status definitely down, disabling slave")
        if self.active is None or not self.active.up:
            nxt = next((s for s in self.slaves if s.up), None)
            if nxt is not self.active:
                changed = True
                if nxt is not None:
                    self.log(f"(slave {nxt.name}): making interface the new active one")
                self.active = nxt
        carrier = self.active is not None
        if carrier != self.carrier:
            changed = True
            self.carrier = carrier
            fcntl.ioctl(self.tap, TUNSETCARRIER, struct.pack("i", int(carrier)))
            if not carrier:
                self.log("now running without any active interface!")
            else:
                self.log("active interface up!")
        return changed

    def log(self, message: str) -> None:
        line = f"[{time.monotonic():12.6f}] {self.name}: {message}"
        with self.log_path.open("a") as f:
            f.write(line + "\n")

    # ------------------------------------------------------------ status file

    def status_text(self) -> str:
        lines = [
            f"Ethernet Channel Bonding Driver: {DRIVER}",
            "",
            "Bonding Mode: fault-tolerance (active-backup)",
            "Primary Slave: None",
            f"Currently Active Slave: {self.active.name if self.active else 'None'}",
            f"MII Status: {'up' if self.carrier else 'down'}",
            f"MII Polling Interval (ms): {self.miimon_ms}",
            "Up Delay (ms): 0",
            "Down Delay (ms): 0",
            "Peer Notification Delay (ms): 0",
        ]
        for s in self.slaves:
            lines += [
                "",
                f"Slave Interface: {s.name}",
                f"MII Status: {'up' if s.up else 'down'}",
                f"Speed: {s.speed}",
                f"Duplex: {s.duplex}",
                f"Link Failure Count: {s.failures}",
                f"Permanent HW addr: {s.perm_addr}",
                "Slave queue ID: 0",
            ]
        return "\n".join(lines) + "\n"

    def write_status(self) -> None:
        tmp = self.status_path.with_name(self.status_path.name + ".tmp")
        tmp.write_text(self.status_text())
        tmp.replace(self.status_path)

    # ------------------------------------------------------------ data path

    def forward(self, timeout: float) -> None:
        """Move frames for up to ``timeout`` seconds."""
        by_fd = {s.sock.fileno(): s for s in self.slaves}
        readable, _, _ = select.select([self.tap, *by_fd], [], [], timeout)
        for fd in readable:
            if fd == self.tap:
                frame = os.read(self.tap, MAX_FRAME)
                if self.active is not None:
                    with contextlib.suppress(OSError):  # link lost under us: dropped
                        self.active.sock.send(frame)
                continue
            slave = by_fd[fd]
            try:
                frame = slave.sock.recv(MAX_FRAME)
            except OSError:
                continue
            if slave is self.active:
                with contextlib.suppress(OSError):
                    os.write(self.tap, frame)


def _sysfs(dev: str, attr: str) -> str | None:
    try:
        return Path(f"/sys/class/net/{dev}/{attr}").read_text().strip()
    except OSError:  # EINVAL while the link is administratively down
        return None


def _carrier(dev: str) -> bool:
    return _sysfs(dev, "carrier") == "1"


def _speed_duplex(dev: str) -> tuple[str, str]:
    speed = _sysfs(dev, "speed")
    duplex = _sysfs(dev, "duplex") or "unknown"
    return (f"{speed} Mbps" if speed and speed.lstrip("-").isdigit() else "Unknown"), duplex


def _open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    fcntl.ioctl(fd, TUNSETCARRIER, struct.pack("i", 0))
    return fd


def _open_slave(name: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.bind((name, 0))
    sock.setblocking(False)
    return sock


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bond", default="bond0")
    ap.add_argument("--slaves", required=True, help="comma-separated member links")
    ap.add_argument("--status", required=True, type=Path)
    ap.add_argument("--log", required=True, type=Path)
    ap.add_argument("--ready", required=True, type=Path, help="written once running")
    ap.add_argument("--miimon", type=int, default=100)
    args = ap.parse_args(argv)
    names = [n for n in args.slaves.split(",") if n]
    tap = _open_tap(args.bond)
    bond_mac = (_sysfs(args.bond, "address") or "").lower()
    slaves = []
    for n in names:
        perm = (_sysfs(n, "address") or "").lower()
        _ip("link", "set", "dev", n, "address", bond_mac)  # every member speaks as the bond
        slaves.append(Slave(n, _open_slave(n), perm))
    bond = Bond(args.bond, tap, slaves, args.status, args.log, args.miimon)
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for s in slaves:
        bond.log(f"(slave {s.name}): Enslaving as a backup interface with a down link")
    bond.poll()
    bond.write_status()
    args.ready.write_text(f"{os.getpid()}\n")
    period = args.miimon / 1000
    next_poll = time.monotonic() + period
    while not stopping:
        with contextlib.suppress(InterruptedError):
            bond.forward(max(0.0, next_poll - time.monotonic()))
        if time.monotonic() >= next_poll:
            next_poll = time.monotonic() + period
            if bond.poll():
                bond.write_status()
    os.close(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
