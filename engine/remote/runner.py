"""The runner protocol: how checks reach hosts.

Providers are interchangeable (insights-core style): ``SshRunner`` (asyncssh),
``LocalRunner`` (subprocess) and ``ReplayRunner`` (recorded outputs, for
rehearsal tests and screenshots). Checks only ever see this protocol.

Every call has a timeout. Cancelling the awaiting task (or breaking out of a
stream iterator) kills the process on the host, so nothing is left running.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from engine.remote.inventory import Host


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
