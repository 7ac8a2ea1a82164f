"""One sosreport as a read-only tree: found, unpacked once, read within its root and bounds.

``open_reports(PATH)`` takes what an operator was sent: a report directory
(``sosreport-HOST-DATE-x/``), a directory holding several (``lab sosreport`` writes
``DIR/<lab>-<health>/<host>/``), or a ``.tar.xz`` (``.tar.gz``, ``.tar``) of either. An
archive is unpacked once into a private temporary directory with tarfile's ``data``
filter (no absolute names, no ``..``, no links leaving the tree, no devices); it is
removed when the process exits.

Every read resolves the path, symlinks included (sos leaves ``proc/net`` and
``*.tailed`` symlinks), and refuses one that lands outside the report. Reads are
bounded: the head or the tail of a file, never a whole big log.
"""

from __future__ import annotations

import atexit
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import CloudtalesError

MARKERS = ("sos_commands", "sos_reports")  # a directory holding one is a report
ARCHIVES = (".tar.xz", ".tar.gz", ".tgz", ".tar")
MAX_DEPTH = 3  # how deep a directory of reports is searched
MAX_LINE = 1 << 20
_UNPACKED: list[Path] = []


def _cleanup() -> None:
    for path in _UNPACKED:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_cleanup)


class SosReport:
    """One host's report: its root, its host name, bounded reads inside it."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root.resolve()
        self.origin = origin  # what the operator passed (the archive or the directory)
        self.name = self._host_name()

    def _host_name(self) -> str:
        """``sos_commands/host/hostname`` (the host plugin), else ``sosreport-HOST-...``."""
        found = self.path("sos_commands/host/hostname")
        if found is not None:
            text = self.head(found, 256).strip().split(".")[0]
            if text:
                return text
        name = self.root.name
        if name.startswith("sosreport-"):
            return name[len("sosreport-") :].split("-")[0] or name
        return name

    def __repr__(self) -> str:
        return f"SosReport({self.name}, {self.root})"

    def inside(self, path: Path) -> Path | None:
        """``path`` resolved, if it stays inside the report; else None."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return None
        return real if real == self.root or self.root in real.parents else None

    def path(self, rel: str) -> Path | None:
        """An existing regular file at ``rel`` (a report path, no leading /), or None."""
        rel = rel.lstrip("/")
        if not rel or ".." in Path(rel).parts:
            return None
        real = self.inside(self.root / rel)
        return real if real is not None and real.is_file() else None

    def glob(self, pattern: str) -> list[Path]:
        """Files matching ``pattern`` under the root (sorted), each inside the report."""
        if ".." in Path(pattern).parts:
            return []
        out: list[Path] = []
        for p in sorted(self.root.glob(pattern.lstrip("/"))):
            real = self.inside(p)
            if real is not None and real.is_file():
                out.append(p)
        return out

    def shown(self, path: Path) -> str:
        """A file as the report names it (relative to its root)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def head(self, path: Path, max_bytes: int) -> str:
        with path.open("rb") as f:
            return f.read(max_bytes).decode("utf-8", "replace")

    def tail(self, path: Path, max_bytes: int) -> str:
        """The last ``max_bytes`` of a file (a partial first line is dropped)."""
        with path.open("rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read(max_bytes)
        if start:
            data = data.partition(b"\n")[2]
        return data.decode("utf-8", "replace")

    def lines(self, path: Path, max_bytes: int = 1 << 30) -> Iterator[str]:
        """Lines of a file, streamed, stopping after ``max_bytes``."""
        read = 0
        with path.open("rb") as f:
            while raw := f.readline(MAX_LINE):  # a file without newlines: 1 MiB pieces
                read += len(raw)
                if read > max_bytes:
                    return
                yield raw.decode("utf-8", "replace").rstrip("\n")


def _is_report(d: Path) -> bool:
    return any((d / m).is_dir() for m in MARKERS)


def _find(base: Path, depth: int = 0) -> list[Path]:
    if _is_report(base):
        return [base]
    if depth >= MAX_DEPTH:
        return []
    found: list[Path] = []
    for child in sorted(base.iterdir()):
        if child.is_dir() and not child.is_symlink():
            found += _find(child, depth + 1)
    return found


def _unpack(archive: Path) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="cloudtales-sos-"))
    _UNPACKED.append(dest)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CloudtalesError(f"{archive}: cannot unpack the sosreport: {exc}") from None
    return dest


def open_reports(path: str | Path) -> list[SosReport]:
    """The host reports in ``path``; one line naming the path when there are none."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CloudtalesError(f"{p}: no such sosreport (a directory or a .tar.xz)")
    if p.is_file():
        if not p.name.endswith(ARCHIVES):
            raise CloudtalesError(f"{p}: not a sosreport (a directory or a .tar.xz)")
        base = _unpack(p)
    else:
        base = p
    roots = _find(base)
    if not roots:
        raise CloudtalesError(f"{p}: holds no sosreport (no sos_commands/ or sos_reports/)")
    return [SosReport(r, str(p)) for r in roots]
