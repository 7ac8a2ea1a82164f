"""``LocalRunner``: the runner protocol on this machine, for ``transport: local`` hosts.

Each command runs as ``timeout -k 5 <T+5> /bin/sh -c <command>`` in a new session
(``start_new_session=True``), so the command and everything it spawns share one process
group and session whose id is the pid we started. Cancelling the awaiting task, closing
a stream early (``aclose()``, or a ``break`` once the generator is collected) or passing
the deadline sends SIGTERM to that whole group and to any process of the session that
left it (found in /proc), waits up to ``kill_grace`` seconds for the command to exit and
then sends SIGKILL the same way. ``timeout`` is the backstop if this process dies without
cleaning up. stdin is /dev/null; stdout is passed through untouched (bytes mode is
binary-exact).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

from engine.errors import TransportError
from engine.remote.inventory import Host
from engine.remote.runner import CommandResult, within

_T = TypeVar("_T")
BACKSTOP_GRACE = 5
_CHUNK = 65536
_LIMIT = 1 << 20  # StreamReader limit: lines up to 1 MiB


def _label(host: Host) -> str:
    return host.name or "local"


def _exit_status(code: int | None) -> int:
    if code is None:
        return -1
    return 128 - code if code < 0 else code


class LocalRunner:
    """Runs commands locally through ``/bin/sh`` (see the module docstring)."""

    def __init__(self, *, kill_grace: float = 2.0) -> None:
        self._kill_grace = kill_grace

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout
        proc = await self._spawn(host, command, timeout)
        try:
            out, err = await within(deadline, proc.communicate(), _label(host), command, timeout)
        finally:
            if proc.returncode is None:
                await self._kill(proc)
        return CommandResult(
            host=host.name,
            command=command,
            exit_status=_exit_status(proc.returncode),
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration=time.monotonic() - started,
        )

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        deadline = asyncio.get_running_loop().time() + timeout
        proc = await self._spawn(host, command, timeout)
        assert proc.stdout is not None
        assert proc.stderr is not None
        drain = asyncio.create_task(_pump_stderr(proc.stderr, None))
        try:
            while True:
                line = await within(
                    deadline, proc.stdout.readline(), _label(host), command, timeout
                )
                if not line:
                    break
                yield line.decode("utf-8", "replace").rstrip("\r\n")
            await within(deadline, _finish(proc, drain), _label(host), command, timeout)
        finally:
            drain.cancel()
            if proc.returncode is None:
                await self._kill(proc)

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        deadline = asyncio.get_running_loop().time() + timeout
        proc = await self._spawn(host, command, timeout)
        assert proc.stdout is not None
        assert proc.stderr is not None
        pump = asyncio.create_task(_pump_stderr(proc.stderr, on_stderr))
        try:
            while True:
                chunk = await within(
                    deadline, proc.stdout.read(_CHUNK), _label(host), command, timeout
                )
                if pump.done() and not pump.cancelled() and pump.exception():
                    pump.result()  # on_stderr raised: surface it now
                if not chunk:
                    break
                yield chunk
            await within(deadline, _finish(proc, pump), _label(host), command, timeout)
        finally:
            pump.cancel()
            if proc.returncode is None:
                await self._kill(proc)

    async def close(self) -> None:
        return None

    # -- processes ---------------------------------------------------------------------

    async def _spawn(self, host: Host, command: str, timeout: float) -> asyncio.subprocess.Process:
        backstop = math.ceil(timeout) + BACKSTOP_GRACE
        try:
            return await asyncio.create_subprocess_exec(
                "timeout",
                "-k",
                str(BACKSTOP_GRACE),
                str(backstop),
                "/bin/sh",
                "-c",
                command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LIMIT,
            )
        except OSError as exc:
            raise TransportError(
                _label(host), f"cannot start command: {exc.strerror or exc}"
            ) from None

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """TERM the whole process group, KILL it after the grace period, and reap it.

        Shielded, so a second cancel while we wait does not leave the group running."""
        task = asyncio.ensure_future(self._kill_group(proc))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task], timeout=self._kill_grace + 2)
            raise

    async def _kill_group(self, proc: asyncio.subprocess.Process) -> None:
        # The session id is our pid too; sweeping the session also reaches processes
        # that moved to a process group of their own (a nested `timeout`, say).
        strays = _session_members(proc.pid)
        _signal_group(proc.pid, signal.SIGTERM)
        _signal_each(strays, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self._kill_grace)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            _signal_each(_session_members(proc.pid), signal.SIGKILL)
            await proc.wait()
        # Read what is left so the pipes reach EOF and the transport closes cleanly.
        for reader in (proc.stdout, proc.stderr):
            if reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(reader.read(), 1.0)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_each(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _session_members(sid: int) -> list[int]:
    """Processes in session ``sid`` outside process group ``sid`` (Linux /proc)."""
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid and int(fields[2]) != sid:
            found.append(int(entry))
    return found


async def _finish(proc: asyncio.subprocess.Process, stderr_task: asyncio.Task[None]) -> None:
    await stderr_task
    await proc.wait()


async def _pump_stderr(reader: asyncio.StreamReader, on_line: Callable[[str], None] | None) -> None:
    while True:
        line = await reader.readline()
        if not line:
            return
        if on_line is not None:
            on_line(line.decode("utf-8", "replace").rstrip("\r\n"))
