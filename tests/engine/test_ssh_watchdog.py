"""The remote watchdog's normal path (ssh.py docstring): a command that ends by itself.

It stands the watchdog down, ends what the command left running in its process group,
and keeps the exit status; nothing of the session is left on the host. Checked with
``pgrep -f`` on this machine, which is the host (real sshd, tests/sshd_fixture.py).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from engine.remote.inventory import Inventory
from engine.remote.ssh import SshRunner


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def listing(pattern: str) -> str:
    return subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout


async def gone(pattern: str, limit: float = 10.0) -> bool:
    """Poll every 20 ms, for at most ``limit`` seconds, until nothing matches."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not pids(pattern):
            return True
        await asyncio.sleep(0.02)
    return not pids(pattern)


@pytest.fixture
async def runner(sshd: Inventory) -> AsyncIterator[SshRunner]:
    r = SshRunner(sshd)
    try:
        yield r
    finally:
        await r.close()


async def test_a_command_that_ends_leaves_nothing_behind_and_keeps_its_status(
    sshd: Inventory, runner: SshRunner
) -> None:
    m = f"3{random.randrange(10**7, 10**8)}"
    command = f"sleep {m} >/dev/null 2>&1 & echo started; exit 7"
    res = await runner.run(sshd.host("target"), command, timeout=30)
    assert (res.stdout, res.exit_status) == ("started\n", 7)
    # the background sleep, the wrapper shells and the watchdog: all ended
    assert await gone(m), f"still running on the host:\n{listing(m)}"


async def test_many_commands_in_a_row_on_one_connection(sshd: Inventory, runner: SshRunner) -> None:
    """Each command's channel closes and frees its slot (no watchdog keeps it open)."""
    host = sshd.host("target")
    outs = [(await runner.run(host, f"echo {i}", timeout=10)).stdout for i in range(25)]
    assert outs == [f"{i}\n" for i in range(25)]
    assert len(runner.connections) == 1
