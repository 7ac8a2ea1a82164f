"""Which reads a check still has in flight, so a check-level timeout names the hosts
that did not answer (and what was asked of them) instead of every host of the check.

``PendingReads`` wraps any ``Sources`` provider (live, recorded, sosreport) and keeps a
count per (host, command) while a read or a stream is open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, Callable
from typing import Any

from engine.remote.inventory import Host
from engine.remote.runner import CommandResult
from engine.sources.live import Sources


class PendingReads:
    def __init__(self, inner: Sources) -> None:
        self.inner = inner
        self._open: Counter[tuple[str, str]] = Counter()

    def command(self, name: str, **params: Any) -> str:
        return self.inner.command(name, **params)

    def pending(self) -> list[tuple[str, str]]:
        """(host, command) of every read still open, in first-seen order."""
        return [key for key, n in self._open.items() if n > 0]

    def _enter(self, host: Host, name: str, params: dict[str, Any]) -> tuple[str, str]:
        try:
            command = self.inner.command(name, **params)
        except Exception:  # noqa: BLE001 - a bad parameter is the read's own error
            command = name
        key = (host.name, command)
        self._open[key] += 1
        return key

    def _leave(self, key: tuple[str, str]) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult:
        key = self._enter(host, name, params)
        try:
            return await self.inner.read(host, name, timeout, **params)
        finally:
            self._leave(key)

    async def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        key = self._enter(host, name, params)
        try:
            async for chunk in self.inner.stream_bytes(host, name, timeout, on_stderr, **params):
                yield chunk
        finally:
            self._leave(key)
