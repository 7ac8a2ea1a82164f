"""The sosreport provider: named sources read from the reports a customer sent.

``SosreportSources`` answers ``read(host, name, **params)`` from that host's report
(``engine.sources.sos_adapters`` says how, per source) with a ``CommandResult`` shaped
like the live one: the command is the live command, so the same parsers read it and the
inconclusive ending can say what to run by hand. A source that cannot exist offline
(``offline=False``: a capture, a ping, an SQL count), or that this report does not hold,
is a ``CloudtalesError`` saying "needs live access" or "not in this sosreport: looked
for ...", naming the host and the command. Streams always need live access.

``OfflineRunner`` is the runner under an offline walk: it never connects anywhere, and
every command a check would run itself is the same "needs live access" error.
``offline_setup`` turns ``--sosreport`` paths into an inventory (hosts named from the
reports, roles from ``sos_roles``, vars from ``sos_vars``), the provider and the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult, one_line
from engine.sources import sos_adapters
from engine.sources.attach import SourcedRunner
from engine.sources.live import command_of
from engine.sources.registry import get
from engine.sources.sos_roles import parse_role_overrides, roles_of
from engine.sources.sos_tree import SosReport, open_reports
from engine.sources.sos_vars import host_vars

READER = "sosreport"
NO_ADDRESS = "offline.invalid"  # RFC 6761: never resolves, so nothing can connect


def needs_live(host: str, command: str, why: str = "") -> CloudtalesError:
    because = f" ({why})" if why else ""
    return CloudtalesError(
        f"host {host}: needs live access{because}: run `{one_line(command, 120)}`",
        host=host,
        command=command,
    )


@dataclass(frozen=True)
class FileRead:
    host: str
    source: str
    files: tuple[str, ...]


class SosreportSources:
    """Named sources from one sosreport per host; never opens a connection."""

    def __init__(self, reports: Mapping[str, SosReport]) -> None:
        self.reports = dict(reports)
        self.reads: list[FileRead] = []  # what was read, in order (panes, journal)
        self.on_read: Callable[[FileRead], None] = lambda r: None

    def command(self, name: str, **params: Any) -> str:
        return command_of(name, **params)

    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult:
        src = get(name)
        bound = src.bind(params)
        command = src.live(bound)
        if not src.offline:
            raise needs_live(host.name, command, src.sos_note or f"{name} cannot be in a sosreport")
        report = self.reports.get(host.name)
        if report is None:
            raise CloudtalesError(
                f"host {host.name}: no sosreport for this host; run `{one_line(command, 120)}`",
                host=host.name,
                command=command,
            )
        try:  # file reads are bounded, but a big log's grep still takes a while: a thread
            answer = await asyncio.to_thread(sos_adapters.read, report, src, bound)
        except sos_adapters.Absent as absent:
            raise CloudtalesError(
                f"host {host.name}: {name} not in this sosreport: looked for "
                f"{', '.join(absent.looked_for)}; needs live access: "
                f"run `{one_line(command, 120)}`",
                host=host.name,
                command=command,
            ) from None
        note = FileRead(host.name, name, answer.files)
        self.reads.append(note)
        self.on_read(note)
        return CommandResult(host.name, command, answer.exit_status, answer.stdout, answer.stderr)

    async def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        src = get(name)
        raise needs_live(host.name, src.command(params), src.sos_note or "a stream happens now")
        yield b""  # pragma: no cover (a generator)


class OfflineRunner:
    """The runner of an offline walk: every command needs live access; nothing connects."""

    def __init__(self) -> None:
        self.refused: list[tuple[str, str]] = []  # (host, command)

    def _refuse(self, host: Host, command: str) -> CloudtalesError:
        self.refused.append((host.name, command))
        return needs_live(host.name, command, "offline: reading sosreports")

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        raise self._refuse(host, command)

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        raise self._refuse(host, command)
        yield ""  # pragma: no cover

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        raise self._refuse(host, command)
        yield b""  # pragma: no cover

    async def close(self) -> None:
        return None


@dataclass
class OfflineSetup:
    inventory: Inventory
    sources: SosreportSources
    runner: SourcedRunner
    reports: list[SosReport] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # the --role items as given

    def meta(self) -> dict[str, Any]:
        """What the journal's session event records about an offline walk."""
        return {
            "offline": True,
            "sosreports": self.paths,
            "sos_hosts": {r.name: r.root.name for r in self.reports},
            "roles": self.roles,
        }

    def describe(self) -> list[str]:
        lines = [f"offline: {len(self.reports)} sosreports (no host is contacted)"]
        for r in self.reports:
            h = self.inventory.hosts[r.name]
            lines.append(f"  {r.name}: roles {', '.join(h.roles) or 'none'} ({r.origin})")
        return lines


def offline_inventory(
    reports: Sequence[SosReport], overrides: Mapping[str, Sequence[str]], label: str
) -> Inventory:
    hosts: dict[str, Host] = {}
    for r in reports:
        if r.name in hosts:
            raise CloudtalesError(f"{r.origin}: two sosreports of host {r.name}")
        hosts[r.name] = Host(address=NO_ADDRESS, roles=roles_of(r, overrides), vars=host_vars(r))
    unknown = sorted(set(overrides) - set(hosts))
    if unknown:
        raise CloudtalesError(
            f"--role {unknown[0]}=...: no sosreport of host {unknown[0]} "
            f"(hosts: {', '.join(sorted(hosts))})"
        )
    return Inventory(name="sosreports", hosts=hosts, source=label, reader=READER)


def offline_setup(paths: Sequence[str], role_items: Sequence[str] = ()) -> OfflineSetup:
    """Inventory, provider and runner for ``--sosreport PATH ...`` (one line when bad)."""
    if not paths:
        raise CloudtalesError("--sosreport PATH is needed for an offline walk")
    reports = [r for p in paths for r in open_reports(p)]
    inventory = offline_inventory(reports, parse_role_overrides(role_items), "sosreports")
    sources = SosreportSources({r.name: r for r in reports})
    runner = SourcedRunner(OfflineRunner(), sources)
    absolute = [str(Path(p).expanduser().resolve()) for p in paths]  # a resume from elsewhere
    return OfflineSetup(inventory, sources, runner, reports, absolute, list(role_items))


def offline_of_journal(path: Path) -> OfflineSetup | None:
    """The offline setup a journal was walked with (its session event), or None if live."""
    from engine.journal import read_events

    for ev in read_events(path):
        if ev.type != "session":
            continue
        if not ev.data.get("offline"):
            return None
        paths = [str(p) for p in ev.data.get("sosreports") or []]
        return offline_setup(paths, [str(r) for r in ev.data.get("roles") or []])
    return None
