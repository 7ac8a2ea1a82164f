"""A Runner that carries a source provider, so the executor, sessions and the TUI pass
one object as today while checks read named sources from the provider.

The rehearsal uses it: sources come from ``sources.yaml`` (keyed by source name and
parameters), and the calls no source covers yet (SQL, libvirt, captures, the ping
sweep) still replay from ``recordings.yaml`` through the inner runner.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Protocol, runtime_checkable

from engine.remote.inventory import Host
from engine.remote.runner import CommandResult, Runner
from engine.sources.live import Sources


@runtime_checkable
class CarriesSources(Protocol):
    """A runner that brings its own source provider (``SourcedRunner``, ``RecordingRunner``)."""

    @property
    def sources(self) -> Sources: ...


class SourcedRunner:
    def __init__(self, inner: Runner, sources: Sources) -> None:
        self.inner = inner
        self.sources = sources

    def __getattr__(self, name: str) -> object:  # commands(), calls... of the inner runner
        return getattr(self.inner, name)

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        return await self.inner.run(host, command, timeout)

    def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        return self.inner.stream_lines(host, command, timeout)

    def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        return self.inner.stream_bytes(host, command, timeout, on_stderr)

    async def close(self) -> None:
        await self.inner.close()
