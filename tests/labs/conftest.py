"""Shared helpers for lab tests: a live tcpdump inside a lab namespace, a fresh lab, the CLI,
one check over SSH, the network labs' shared inventory shape, and what ``down`` leaves."""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from engine.checks.base import CheckContext
from engine.checks.registry import get_check_type
from engine.remote.factory import make_runner
from engine.remote.inventory import Inventory, load_inventory
from engine.results import CheckResult
from labs.core import netns
from labs.core.base import LabStatus
from labs.core.netns_lab import ETC_NETNS, NetnsLab

LabT = TypeVar("LabT")
REPO = Path(__file__).resolve().parents[2]
SHARED_VARS = {"ip", "capture_iface", "mtu", "lab_mode", "netns"}  # every network lab's hosts'
NETWORK_HOSTS = ["compute", "controller", "instance", "outside"]


def _pump(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


class LiveCapture:
    """``tcpdump -e -nn -l`` on ``iface`` in namespace ``ns``, read line by line.

    Starting it waits for tcpdump's "listening on" line, so a frame sent after
    ``start`` returns is captured: no fixed sleeps.
    """

    def __init__(self, ns: str, iface: str) -> None:
        self.where = f"{ns}:{iface}"
        argv = ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-e", "-nn", "-l",
                "--immediate-mode"]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: queue.Queue[str | None] = queue.Queue()
        for stream, into in ((self.proc.stdout, self._out), (self.proc.stderr, self._err)):
            threading.Thread(target=_pump, args=(stream, into), daemon=True).start()
        self.lines: list[str] = []

    def wait_listening(self, timeout: float = 10.0) -> None:
        said: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._err.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            said.append(line)
            if "listening on" in line:
                return
        pytest.fail(f"tcpdump on {self.where} did not start: {said}")

    def wait_for(self, pattern: str, timeout: float = 5.0) -> str:
        """The first captured line matching ``pattern`` (a regex); fails after ``timeout``."""
        regex = re.compile(pattern)
        for seen_line in self.lines:
            if regex.search(seen_line):
                return seen_line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._out.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if regex.search(line):
                return line
        seen = "\n".join(self.lines) or "(nothing)"
        pytest.fail(f"no frame matching {pattern!r} on {self.where}; captured:\n{seen}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def capture() -> Iterator[Callable[[str, str], LiveCapture]]:
    """``capture(ns, iface)`` starts tcpdump there and returns once it listens."""
    started: list[LiveCapture] = []

    def start(ns: str, iface: str) -> LiveCapture:
        cap = LiveCapture(ns, iface)
        started.append(cap)
        cap.wait_listening()
        return cap

    yield start
    for cap in started:
        cap.stop()


def fresh_lab(name: str, kind: type[LabT]) -> Iterator[LabT]:
    """A module-scoped lab: removed, built faulty, handed to the tests, removed again."""
    from labs.core.registry import get_lab

    the_lab = get_lab(name)
    assert isinstance(the_lab, kind)
    the_lab.down()
    the_lab.up()
    yield the_lab
    the_lab.down()


def lab_cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, from the repo; bounded by ``timeout`` (a drill's 60 s)."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def run_lab_check(inventory_path: Path, name: str, hosts: list[str], **params: Any) -> CheckResult:
    """One check type run over SSH against a lab's inventory, as the walker runs it."""
    inventory = load_inventory(inventory_path)
    ctype = get_check_type(name)

    async def go() -> CheckResult:
        runner = make_runner(inventory)
        ctx = CheckContext(runner, inventory, [inventory.host(h) for h in hosts], {}, 30.0)
        try:
            return await ctype.run(ctx, ctype.params.model_validate(params))
        finally:
            await runner.close()

    return asyncio.run(go())


def run_check(lab: NetnsLab, name: str, hosts: list[str], **params: Any) -> CheckResult:
    """``run_lab_check`` over ``lab``'s inventory."""
    return run_lab_check(lab.inventory_path(), name, hosts, **params)


def running_faulty(lab: NetnsLab, mode: str) -> LabStatus:
    """Asserts ``lab`` runs, faulty, in ``mode``; its status."""
    status = lab.status()
    assert status.running, status.details
    assert (status.mode, status.healthy) == (mode, False)
    return status


def network_lab_inventory(lab: NetnsLab, mode: str) -> Inventory:
    """Asserts ``lab`` is registered under its name and runs faulty in ``mode``, with the
    network labs' four hosts, each in its own role with every shared host variable; its
    inventory, for the lab's own assertions."""
    from labs.core.registry import LABS

    assert LABS[lab.name] is lab
    running_faulty(lab, mode)
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == NETWORK_HOSTS
    for name, host in inv.hosts.items():
        assert host.roles == [name]
        assert set(host.vars) >= SHARED_VARS, name
    return inv


def leftovers(lab: NetnsLab) -> list[str]:
    """What of ``lab`` is on the machine: namespaces, root links, /etc/netns dirs."""
    found = netns.namespaces(lab.ns_prefix) + netns.links(prefix=lab.root_prefix)
    return found + [str(p) for p in ETC_NETNS.glob(f"{lab.ns_prefix}*")]
