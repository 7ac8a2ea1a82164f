"""Providers of named sources: the ``Sources`` protocol and the live one over a Runner.

``LiveSources`` turns a source name and parameters into the source's live command and
runs it with the SSH or local runner, so a check gets the same ``CommandResult`` as when
it wrote the command itself (parsers do not change, and recordings made from command
strings still replay).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from engine.remote.inventory import Host
from engine.remote.runner import CommandResult, Runner
from engine.sources.api import API_SOURCES
from engine.sources.clock import TIMED_SOURCES, read_timed
from engine.sources.registry import get


class Sources(Protocol):
    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult: ...

    def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]: ...

    def command(self, name: str, **params: Any) -> str:
        """What the operator would run by hand (for CloudtalesError's ``command``)."""
        ...


def command_of(name: str, **params: Any) -> str:
    return get(name).command(params)


class LiveSources:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def command(self, name: str, **params: Any) -> str:
        return command_of(name, **params)

    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult:
        if name in API_SOURCES:  # the api provider: openstacksdk, not a shell
            from engine.sources.api_client import read_api

            return await read_api(host, name, timeout, **params)
        if name in TIMED_SOURCES:  # the observer's clock around the read, in the answer
            return await read_timed(self.runner, host, command_of(name, **params), timeout)
        return await self.runner.run(host, command_of(name, **params), timeout=timeout)

    async def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        command = command_of(name, **params)
        async for chunk in self.runner.stream_bytes(host, command, timeout, on_stderr):
            yield chunk
