"""What a check is: declared metadata plus an async collect step and a pure detector.

A check type declares its named outcomes up front (``stacked``, ``single``,
``no_frames``...). The playbook maps every outcome to a next node, and lint
verifies that the mapping is complete. Branching is data, never ``eval``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.errors import CloudtalesError
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult, Runner
from engine.results import CheckResult, FactValue
from engine.sources.attach import CarriesSources
from engine.sources.live import LiveSources, Sources


@dataclass(frozen=True)
class LiveLine:
    """One line for a live pane while a check runs (a decoded packet, a ping reply)."""

    source: str  # e.g. "controller:tcpdump bond0"
    text: str
    anomaly: str | None = None  # why this line deserves highlighting


class CheckParams(BaseModel):
    """Base for each check type's parameters (validated at playbook load time)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class CheckContext:
    runner: Runner
    inventory: Inventory
    hosts: list[Host]
    facts: Mapping[str, FactValue]
    timeout: float
    emit: Callable[[LiveLine], None] = lambda line: None
    provider: Sources | None = None  # named data sources; None: live over ``runner``

    @property
    def sources(self) -> Sources:
        """Data by source name and parameters (``engine.sources``), never by command."""
        if self.provider is not None:
            return self.provider
        if isinstance(self.runner, CarriesSources):
            return self.runner.sources
        return LiveSources(self.runner)


async def read_ok(ctx: CheckContext, host: Host, name: str, **params: Any) -> CommandResult:
    """Read source ``name`` on ``host``; a read that failed (a lost connection, a command
    that errored) is the check's error naming the host, never an empty finding."""
    return ensure_ok(await ctx.sources.read(host, name, timeout=ctx.timeout, **params), host)


def ensure_ok(res: CommandResult, host: Host) -> CommandResult:
    """``res`` if its command succeeded; else the check's error naming the host."""
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `{res.command}` failed: {res.why}",
            host=host.name,
            command=res.command,
        )
    return res


RunFn = Callable[[CheckContext, Any], Awaitable[CheckResult]]


@dataclass(frozen=True)
class CheckType:
    name: str
    title: str
    outcomes: tuple[str, ...]
    params: type[CheckParams]
    run: RunFn
    facts: tuple[str, ...] = ()  # fact keys it produces (besides "outcome")
    needs_hosts: bool = True
