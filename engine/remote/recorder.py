"""A runner that records what another runner returns, for rehearsal tests.

``RecordingRunner(inner, out_dir)`` passes every call through and writes
``out_dir/recordings.yaml`` (plus one file per byte stream), in the format
``engine.remote.replay.load_recordings`` reads back. A real lab session becomes
a rehearsal: recorded outputs in, expected path and diagnosis out.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import yaml

from engine.remote.inventory import Host
from engine.remote.runner import CommandResult, Runner
from engine.sources.live import LiveSources, Sources
from engine.sources.recorded import SOURCES_FILE, SourceRecorder, StreamTee


class RecordingRunner:
    @property
    def live(self) -> bool:
        return bool(getattr(self.inner, "live", True))

    def __init__(self, inner: Runner, out_dir: str | Path) -> None:
        self.inner = inner
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.entries: list[dict[str, Any]] = []
        self._streams = 0  # byte streams started: names their files (streams overlap)
        self._sources = SourceRecorder(LiveSources(self), self.out_dir / SOURCES_FILE)

    @property
    def sources(self) -> Sources:
        """Named sources run through this runner (so recordings.yaml has them too) and
        are also kept by name and parameters in sources.yaml, what rehearsals replay."""
        return self._sources

    def _match(self, command: str) -> str:
        return "^" + re.escape(command) + "$"

    def _save(self) -> None:
        (self.out_dir / "recordings.yaml").write_text(
            yaml.safe_dump(self.entries, sort_keys=False, width=200)
        )

    def add(self, host: str, command: str, stdout: str, stderr: str = "", status: int = 0) -> None:
        """Record one answer that did not come through ``run`` (e.g. a SQL query)."""
        self.entries.append(
            {
                "host": host,
                "match": self._match(command),
                "stdout": stdout,
                "stderr": stderr,
                "exit_status": status,
            }
        )
        self._save()

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        res = await self.inner.run(host, command, timeout)
        self.add(host.name, command, res.stdout, res.stderr, res.exit_status)
        return res

    async def stream_lines(
        self, host: Host, command: str, timeout: float = 60.0
    ) -> AsyncGenerator[str, None]:
        lines: list[str] = []
        try:
            async for line in self.inner.stream_lines(host, command, timeout):
                lines.append(line)
                yield line
        finally:
            self.entries.append(
                {
                    "host": host.name,
                    "match": self._match(command),
                    "stdout": "".join(f"{x}\n" for x in lines),
                }
            )
            self._save()

    async def stream_bytes(
        self,
        host: Host,
        command: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        tee = StreamTee(on_stderr)
        self._streams += 1
        name = f"stream-{self._streams:02d}-{host.name}.bin"
        try:
            async for chunk in self.inner.stream_bytes(host, command, timeout, tee.stderr_line):
                tee.chunks.append(chunk)
                yield chunk
        finally:
            (self.out_dir / name).write_bytes(tee.data)
            self.entries.append(
                {
                    "host": host.name,
                    "match": self._match(command),
                    "pcap_file": name,
                    "stderr": tee.stderr,
                }
            )
            self._save()

    async def close(self) -> None:
        await self.inner.close()
