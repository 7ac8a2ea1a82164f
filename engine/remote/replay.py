"""``ReplayRunner``: the runner protocol over recorded outputs (rehearsals, screenshots).

A recording names a host (``"*"`` matches any host) and a regular expression searched
in the command; the first recording that matches and has not answered yet answers, so
a command asked twice in a session gets its two recorded answers in order (once every
match has answered, the last one keeps answering). Every command asked is kept
in ``calls`` (in order, with the method that asked) so tests can assert what ran. An
unmatched command raises ``TransportError(host, "no recording matches: <command>")``.

Recordings can be loaded from plain data (YAML/JSON) with ``load_recordings``::

    - {host: controller, match: '^ip -j -d link', stdout_file: controller-links.json}
    - {host: compute1, match: 'tcpdump .* -w -', pcap_file: bond0.pcap,
       stderr: "listening on bond0, link-type EN10MB (Ethernet)"}
    - {host: "*", match: '^ping ', stdout: "...", exit_status: 1}
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from engine.errors import TransportError
from engine.remote.inventory import Host
from engine.remote.runner import CommandResult

Method = Literal["run", "stream_lines", "stream_bytes"]


@dataclass(frozen=True)
class Recording:
    host: str
    match: str  # regex, searched (re.search) in the command
    stdout: str = ""
    stdout_bytes: bytes | None = None  # stream_bytes output; defaults to stdout encoded
    exit_status: int = 0
    stderr: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.match)
        except re.error as exc:
            raise ValueError(
                f"recording for {self.host}: bad regex {self.match!r}: {exc}"
            ) from None
        object.__setattr__(self, "pattern", compiled)

    def matches(self, host: str, command: str) -> bool:
        return (self.host == "*" or self.host == host) and bool(self.pattern.search(command))


class Call(NamedTuple):
    host: str
    command: str
    method: Method = "run"


class ReplayRunner:
    """Answers from recordings; never touches a host."""

    live = False  # a recorded stream ends where the recording was cut, not because it died

    def __init__(self, recordings: Iterable[Recording], *, chunks: int = 3) -> None:
        self.recordings = list(recordings)
        self.calls: list[Call] = []
        self._used: set[int] = set()  # indexes of recordings that have answered
        self._chunks = max(1, chunks)
        self.closed = False

    def commands(self, host: str | None = None) -> list[str]:
        """The commands asked so far (of one host, if given)."""
        return [c.command for c in self.calls if host is None or c.host == host]

    def _answer(self, host: Host, command: str, method: Method) -> Recording:
        self.calls.append(Call(host.name, command, method))
        matching = [i for i, r in enumerate(self.recordings) if r.matches(host.name, command)]
        if not matching:
            raise TransportError(host.name, f"no recording matches: {command}")
        index = next((i for i in matching if i not in self._used), matching[-1])
        self._used.add(index)
        return self.recordings[index]

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        rec = self._answer(host, command, "run")
        await asyncio.sleep(0)
        return CommandResult(
            host=host.name,
            command=command,
            exit_status=rec.exit_status,
            stdout=rec.stdout,
            stderr=rec.stderr,
        )

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        rec = self._answer(host, command, "stream_lines")
        for line in rec.stdout.splitlines():
            await asyncio.sleep(0)
            yield line

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        rec = self._answer(host, command, "stream_bytes")
        if on_stderr is not None:
            for line in rec.stderr.splitlines():
                on_stderr(line)
        data = rec.stdout_bytes if rec.stdout_bytes is not None else rec.stdout.encode()
        for chunk in _split(data, self._chunks):
            await asyncio.sleep(0)
            yield chunk

    async def close(self) -> None:
        self.closed = True


def _split(data: bytes, parts: int) -> list[bytes]:
    if not data:
        return []
    size = -(-len(data) // parts)
    return [data[i : i + size] for i in range(0, len(data), size)]


_KEYS = {"host", "match", "stdout", "stdout_file", "pcap_file", "exit_status", "stderr"}


def load_recordings(data: Iterable[Mapping[str, Any]], base_dir: Path) -> list[Recording]:
    """Recordings from plain data; ``stdout_file``/``pcap_file`` are read from ``base_dir``.

    ``stdout_file`` is text (the ``stdout``); ``pcap_file`` is bytes (the
    ``stdout_bytes`` that ``stream_bytes`` yields). Errors are one-line ValueErrors
    naming the entry."""
    out: list[Recording] = []
    for i, entry in enumerate(data):
        where = f"recording {i}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        for key in ("host", "match"):
            if not isinstance(entry.get(key), str):
                raise ValueError(f"{where}: {key!r} must be a string")
        if "stdout" in entry and "stdout_file" in entry:
            raise ValueError(f"{where}: give stdout or stdout_file, not both")
        stdout = str(entry.get("stdout", ""))
        stdout_bytes: bytes | None = None
        try:
            if "stdout_file" in entry:
                stdout = (base_dir / str(entry["stdout_file"])).read_text()
            if "pcap_file" in entry:
                stdout_bytes = (base_dir / str(entry["pcap_file"])).read_bytes()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read {exc.filename}: {exc.strerror}") from None
        status = entry.get("exit_status", 0)
        if not isinstance(status, int) or isinstance(status, bool):
            raise ValueError(f"{where}: exit_status must be an integer")
        out.append(
            Recording(
                host=entry["host"],
                match=entry["match"],
                stdout=stdout,
                stdout_bytes=stdout_bytes,
                exit_status=status,
                stderr=str(entry.get("stderr", "")),
            )
        )
    return out
