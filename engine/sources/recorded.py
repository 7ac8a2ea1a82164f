"""The recording provider: answers keyed by host, source name and canonical parameters.

A recording names what a check asked for (``compute ip_link {}``), not the command line
that fetched it, so changing a live command's flags does not break it, while asking
with other parameters does: the miss is one line naming the host, source and params.
``SourceRecorder`` wraps a provider and keeps every answer for ``save``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from engine.errors import CloudtalesError
from engine.remote.inventory import Host
from engine.remote.runner import CommandResult
from engine.sources.live import Sources, command_of
from engine.sources.registry import get
from engine.sources.spec import canonical

SOURCES_FILE = "sources.yaml"  # beside a rehearsal's recordings.yaml


class SourceAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    source: str
    params: str = ""  # canonical: "iface=bond0,snaplen=96"
    exit_status: int = 0
    stdout: str = ""
    stderr: str = ""
    stream: str = ""  # bytes sources: a .bin file next to the recordings


@dataclass(frozen=True)
class Key:
    host: str
    source: str
    params: str


def key(host: str, name: str, params: dict[str, Any]) -> Key:
    return Key(host, name, canonical(get(name).bind(params)))


def load_answers(path: Path) -> list[SourceAnswer]:
    try:
        raw = yaml.safe_load(path.read_text()) or []
        return [SourceAnswer(**item) for item in raw]
    except (OSError, yaml.YAMLError, TypeError) as err:
        raise CloudtalesError(f"{path}: cannot read source recordings: {err}") from None
    except ValidationError as err:
        raise CloudtalesError(f"{path}: {err.errors()[0]['msg']}") from None


class RecordedSources:
    """Replays answers; never opens a connection (it has no runner at all)."""

    def __init__(self, answers: list[SourceAnswer], stream_dir: Path | None = None) -> None:
        self.answers: dict[Key, list[SourceAnswer]] = {}
        for a in answers:  # the same read twice: answered in order, then the last again
            self.answers.setdefault(Key(a.host, a.source, a.params), []).append(a)
        self._next: dict[Key, int] = {}
        self.asked: list[str] = []  # "ip_link()" / "nova_conf(path=...)", in order
        self.stream_dir = stream_dir

    def command(self, name: str, **params: Any) -> str:
        return command_of(name, **params)

    def _answer(self, host: Host, name: str, params: dict[str, Any]) -> SourceAnswer:
        k = key(host.name, name, params)
        self.asked.append(f"{name}({k.params})")
        found = self.answers.get(k)
        if not found:
            raise CloudtalesError(
                f"no recording of source {name}({k.params}) on host {host.name}", host=host.name
            )
        i = self._next.get(k, 0)
        self._next[k] = i + 1
        return found[min(i, len(found) - 1)]

    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult:
        a = self._answer(host, name, params)
        return CommandResult(
            host.name, command_of(name, **params), a.exit_status, a.stdout, a.stderr
        )

    async def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        a = self._answer(host, name, params)
        if on_stderr is not None:
            for line in a.stderr.splitlines():
                on_stderr(line)
        if a.stream and self.stream_dir is not None:
            yield (self.stream_dir / a.stream).read_bytes()


class StreamTee:
    """What a recorded byte stream carried: its chunks and its stderr lines, which are
    passed on to the caller's ``on_stderr`` as they come."""

    def __init__(self, on_stderr: Callable[[str], None] | None) -> None:
        self.chunks: list[bytes] = []
        self.errs: list[str] = []
        self._on_stderr = on_stderr

    def stderr_line(self, line: str) -> None:
        self.errs.append(line)
        if self._on_stderr is not None:
            self._on_stderr(line)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def stderr(self) -> str:
        return "".join(f"{x}\n" for x in self.errs)


class SourceRecorder:
    """Wraps a provider; every ``read`` answer is kept for ``save``."""

    def __init__(self, inner: Sources, path: Path | None = None) -> None:
        self.inner = inner
        self.path = path  # given: saved after every answer (a session may end anywhere)
        self.answers: list[SourceAnswer] = []
        self.streams: dict[str, bytes] = {}  # stream file name -> the bytes it answered

    def command(self, name: str, **params: Any) -> str:
        return self.inner.command(name, **params)

    async def read(
        self, host: Host, name: str, timeout: float = 30.0, **params: Any
    ) -> CommandResult:
        res = await self.inner.read(host, name, timeout, **params)
        k = key(host.name, name, params)
        self.answers.append(
            SourceAnswer(
                host=k.host,
                source=k.source,
                params=k.params,
                exit_status=res.exit_status,
                stdout=res.stdout,
                stderr=res.stderr,
            )
        )
        if self.path is not None:
            self.save(self.path)
        return res

    async def stream_bytes(
        self,
        host: Host,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        """Passed through; the bytes and stderr are kept as one answer (its ``stream``
        file is written next to sources.yaml) once the stream ends or is stopped."""
        tee = StreamTee(on_stderr)
        k = key(host.name, name, params)
        try:
            stream = self.inner.stream_bytes(host, name, timeout, tee.stderr_line, **params)
            async for chunk in stream:
                tee.chunks.append(chunk)
                yield chunk
        finally:
            file = f"stream-{name}-{len(self.streams) + 1:02d}-{host.name}.bin"
            self.streams[file] = tee.data
            self.answers.append(
                SourceAnswer(
                    host=k.host, source=name, params=k.params, stderr=tee.stderr, stream=file
                )
            )
            if self.path is not None:
                self.save(self.path)

    def save(self, path: Path) -> None:
        """sources.yaml, and the streams' files beside it."""
        for file, data in self.streams.items():
            (path.parent / file).write_bytes(data)
        rows = [a.model_dump(exclude_defaults=True) for a in self.answers]
        path.write_text(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True))
