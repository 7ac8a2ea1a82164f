"""The runner protocol: how checks reach hosts.

Providers are interchangeable (insights-core style): ``SshRunner`` (asyncssh),
``LocalRunner`` (subprocess) and ``ReplayRunner`` (recorded outputs, for
rehearsal tests and screenshots). Checks only ever see this protocol.

Every call has a timeout. Cancelling the awaiting task (or breaking out of a
stream iterator) kills the process on the host, so nothing is left running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from engine.errors import CheckTimeoutError
from engine.remote.inventory import Host

_T = TypeVar("_T")


def one_line(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def timeout_error(label: str, command: str, timeout: float) -> CheckTimeoutError:
    return CheckTimeoutError(
        f"host {label}: timed out after {timeout:g}s: {one_line(command)}",
        host=label,
        command=command,
    )


async def within(
    deadline: float, aw: Awaitable[_T], label: str, command: str, timeout: float
) -> _T:
    """Await ``aw`` unless the loop-time ``deadline`` passes first (then CheckTimeoutError).

    Transports enforce a call's timeout with it on every read, never across a ``yield``."""
    try:
        async with asyncio.timeout_at(deadline):
            return await aw
    except TimeoutError:
        raise timeout_error(label, command, timeout) from None


@dataclass(frozen=True)
class CommandResult:
    host: str
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def why(self) -> str:
        """Why it failed, on one line: its last stderr line, else how it ended."""
        said = [line for line in self.stderr.splitlines() if line.strip()]
        if said:
            return one_line(said[-1], 200)
        if self.exit_status < 0:
            return "no exit status: the connection or the process died under it"
        return f"exit status {self.exit_status}, nothing on stderr"


@runtime_checkable
class Runner(Protocol):
    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        """Run ``command`` (a shell command line) to completion."""
        ...

    def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        """Yield stdout lines (without newline) as they arrive."""
        ...

    def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield raw stdout chunks (e.g. ``tcpdump -U -w -``).

        Each stderr line is passed to ``on_stderr`` as it arrives (tcpdump says
        ``listening on ...`` there once the capture is armed)."""
        ...

    async def close(self) -> None: ...
