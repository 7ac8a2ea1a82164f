"""A faithful stand-in for qemu-kvm's bridged-network stall (Ubuntu LP #997978).

What the bug did: under sustained heavy traffic towards a guest on a bridged tap,
qemu-kvm 1.0 stopped taking frames off the tap ("KVM images lose connectivity with
bridged network"). The host kernel kept queueing frames for the tap until its queue
was full and then dropped them (the tap's TX ``dropped`` counter climbs); the guest
heard nothing more, while what the guest sent still went out. DHCP renewals went
out, the cloud controller's ACKs were lost, dhclient retried, broadcast, gave up,
and the instance lost its address. ``networking restart`` in the guest (which resets
its NIC) brought it back; a patched qemu fixed it.

How it is reproduced here, with no qemu: this process *is* the VMM's network
backend. It holds two real TAP devices, ``tap0`` on the compute node's bridge (the
``vnetN`` nova plugs) and ``eth0`` in the instance namespace (the guest's NIC), and
copies frames between their file descriptors, as qemu's userspace virtio/e1000
backend does. The bug: once the rate of frames towards the guest stays above
``--stall-rate`` bytes/s for ``--stall-after`` seconds, it stops reading ``tap0``.
Everything after that is the real kernel: the tap queue fills, the tun driver drops,
``ip -s link show tap0`` counts the drops. The stall lasts until the guest resets
its NIC (``ip link set eth0 down; ip link set eth0 up``, heard over netlink), as in
the bug report.
``--fixed`` is the patched qemu: the same copy loop, never stalling.

It writes its state (JSON) to ``--state`` every half second: the lab and its tests
read whether and when the stall happened.

Run: ``python -m labs.the_issue.qemu_bridge_bug_emulator --host-ns NS --host-tap tap0
--guest-ns NS --guest-nic eth0 --state FILE [--fixed]`` (root).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_UP = 0x1
NETLINK_ROUTE = 0
RTMGRP_LINK = 1
RTM_NEWLINK = 16
CLONE_NEWNET = 0x40000000
FRAME_MAX = 65536
BATCH = 64  # frames copied per wakeup and direction
TICK = 0.25  # s between rate measurements

DEFAULT_STALL_RATE = 2_000_000  # bytes/s towards the guest
DEFAULT_STALL_AFTER = 2.0  # s the rate must stay above it


@dataclass
class EmulatorState:
    pid: int
    mode: str  # "faulty" (qemu-kvm with the bug) or "fixed"
    started: float
    stalled: bool = False
    stalled_at: float | None = None
    stalls: int = 0
    guest_resets: int = 0
    to_guest_frames: int = 0
    to_guest_bytes: int = 0
    to_host_frames: int = 0
    to_host_bytes: int = 0
    rate_to_guest: float = 0.0  # bytes/s over the last tick
    peak_rate_to_guest: float = 0.0
    high_for: float = 0.0  # s the rate towards the guest has stayed above --stall-rate
    updated: float = 0.0


def read_state(path: Path) -> EmulatorState | None:
    try:
        return EmulatorState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------- namespaces and taps

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class InNamespace:
    """``with InNamespace("ct-ti-compute"):`` runs the block in that network namespace."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._home = -1

    def __enter__(self) -> None:
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)

    def __exit__(self, *exc: object) -> None:
        try:
            _setns(self._home)
        finally:
            os.close(self._home)


def open_tap(ifname: str) -> int:
    """Attach to the (persistent) TAP device ``ifname`` of the current namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH14x", ifname.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def link_watch() -> socket.socket:
    """A netlink socket hearing every link change of the current namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    sock.setblocking(False)
    return sock


def link_flags(data: bytes, ifindex: int) -> list[int]:
    """The flags of every RTM_NEWLINK message about ``ifindex`` in a netlink datagram."""
    found, pos = [], 0
    while pos + 16 + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, pos)
        if length < 16:
            break
        if kind == RTM_NEWLINK:
            _family, _type, index, flags = struct.unpack_from("=BxHiI", data, pos + 16)
            if index == ifindex:
                found.append(flags)
        pos += (length + 3) & ~3
    return found


# ---------------------------------------------------------------- the copy loop


def _copy(src: int, dst: int) -> tuple[int, int]:
    """Move up to BATCH frames from ``src`` to ``dst``; (frames, bytes) moved."""
    frames = size = 0
    for _ in range(BATCH):
        try:
            frame = os.read(src, FRAME_MAX)
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADFD):  # the device is down
                break
            raise
        try:
            os.write(dst, frame)
        except OSError:  # the other side is down or full: the frame is lost, like a NIC
            continue
        frames += 1
        size += len(frame)
    return frames, size


def _drain(fd: int) -> None:
    while True:
        try:
            os.read(fd, FRAME_MAX)
        except OSError:
            return


class Emulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_path = Path(args.state)
        self.state = EmulatorState(os.getpid(), "fixed" if args.fixed else "faulty", time.time())
        with InNamespace(args.host_ns):
            self.host = open_tap(args.host_tap)
        with InNamespace(args.guest_ns):
            self.guest = open_tap(args.guest_nic)
            self.guest_index = socket.if_nametoindex(args.guest_nic)
            self.guest_links = link_watch()
        self.poll = select.epoll()
        self.poll.register(self.host, select.EPOLLIN)
        self.poll.register(self.guest, select.EPOLLIN)
        self.poll.register(self.guest_links, select.EPOLLIN)
        self.guest_was_down = False
        self.running = True

    def stall(self, now: float) -> None:
        """The bug: stop taking frames off the host tap."""
        self.poll.unregister(self.host)
        self.state.stalled, self.state.stalled_at = True, now
        self.state.stalls += 1

    def guest_link_changed(self) -> bool:
        """Read link events; True when the guest NIC came back up after being down
        (``ip link set eth0 down; ... up``, what ``networking restart`` does)."""
        came_back = False
        while True:
            try:
                data = self.guest_links.recv(65536)
            except BlockingIOError:
                return came_back
            for flags in link_flags(data, self.guest_index):
                if not flags & IFF_UP:
                    self.guest_was_down = True
                elif self.guest_was_down:
                    self.guest_was_down, came_back = False, True

    def reset(self) -> None:
        """The guest reset its NIC: the backend starts over, queued frames are gone."""
        _drain(self.host)
        self.poll.register(self.host, select.EPOLLIN)
        self.state.stalled = False
        self.state.guest_resets += 1

    def save(self, now: float) -> None:
        self.state.updated = now
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.state)))
        tmp.replace(self.state_path)

    def run(self) -> None:
        st, args = self.state, self.args
        tick_start = last_save = time.monotonic()
        tick_bytes = 0
        high_since: float | None = None
        self.save(time.time())
        while self.running:
            for fd, _ in self.poll.poll(TICK / 2):
                if fd == self.guest_links.fileno():
                    if self.guest_link_changed() and st.stalled:
                        self.reset()
                        high_since = None
                elif fd == self.host:
                    n, size = _copy(self.host, self.guest)
                    st.to_guest_frames += n
                    st.to_guest_bytes += size
                    tick_bytes += size
                else:
                    n, size = _copy(self.guest, self.host)
                    st.to_host_frames += n
                    st.to_host_bytes += size
            now = time.monotonic()
            if now - tick_start >= TICK:
                st.rate_to_guest = tick_bytes / (now - tick_start)
                st.peak_rate_to_guest = max(st.peak_rate_to_guest, st.rate_to_guest)
                tick_start, tick_bytes = now, 0
                if st.rate_to_guest < args.stall_rate:
                    high_since = None
                elif high_since is None:
                    high_since = now
                st.high_for = 0.0 if high_since is None else round(now - high_since, 2)
                if (
                    not args.fixed
                    and not st.stalled
                    and high_since is not None
                    and now - high_since >= args.stall_after
                ):
                    self.stall(time.time())
            if now - last_save >= 0.5:
                self.save(time.time())
                last_save = now
        self.save(time.time())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-ns", required=True)
    parser.add_argument("--host-tap", default="tap0")
    parser.add_argument("--guest-ns", required=True)
    parser.add_argument("--guest-nic", default="eth0")
    parser.add_argument("--state", required=True)
    parser.add_argument("--fixed", action="store_true", help="the patched qemu: never stalls")
    parser.add_argument("--stall-rate", type=float, default=DEFAULT_STALL_RATE)
    parser.add_argument("--stall-after", type=float, default=DEFAULT_STALL_AFTER)
    args = parser.parse_args(argv)
    try:
        emulator = Emulator(args)
    except OSError as exc:
        print(f"qemu_bridge_bug_emulator: cannot attach the taps: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: object) -> None:
        emulator.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    emulator.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
