"""The symptom index: what the symptom picker needs, cached between runs.

Loading and validating the playbooks (yaml, pydantic, the networkx graph, the evidence
lint) costs more than Textual's whole start-up, but the picker only shows each
symptom's id, title, keywords, description and tale. So after a graph has been
validated, those are written to a small JSON file keyed by the playbook files' paths,
sizes and modification times. The next start paints the picker from it while the
graph is loaded and validated again in the background: the cache decides only what
the picker shows first, never whether the playbooks are valid.

Only the standard library is imported here (this runs before the first paint).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.playbook.files import playbook_files

if TYPE_CHECKING:
    from engine.playbook.graph import PlaybookGraph

VERSION = 1
FILE_NAME = "symptom-index.json"


class SymptomLike(Protocol):
    """What the picker reads of a symptom (``engine.playbook.model.Symptom`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def keywords(self) -> Sequence[str]: ...


class SymptomSource(Protocol):
    """What the picker asks of the playbooks (``PlaybookGraph`` and ``SymptomIndex``)."""

    def symptoms(self) -> Sequence[SymptomLike]: ...
    def symptom(self, node: str) -> SymptomLike: ...
    def tale_of(self, node: str) -> str: ...


@dataclass(frozen=True)
class IndexedSymptom:
    id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    tale: str


class SymptomIndex:
    def __init__(self, entries: Sequence[IndexedSymptom]) -> None:
        self._by_id = {e.id: e for e in entries}

    @classmethod
    def from_graph(cls, graph: PlaybookGraph) -> SymptomIndex:
        return cls(
            [
                IndexedSymptom(s.id, s.title, s.description, tuple(s.keywords), graph.tale_of(s.id))
                for s in graph.symptoms()
            ]
        )

    def symptoms(self) -> list[IndexedSymptom]:
        return list(self._by_id.values())

    def symptom(self, node: str) -> IndexedSymptom:
        return self._by_id[node]

    def tale_of(self, node: str) -> str:
        return self._by_id[node].tale


def index_key(paths: Sequence[str | Path] | None = None) -> str | None:
    """A digest of each playbook file's resolved path, size and mtime; None when one
    cannot be read (the full loader then says why)."""
    digest = hashlib.sha256(f"v{VERSION}".encode())
    try:
        for f in playbook_files(paths):
            st = f.stat()
            digest.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return digest.hexdigest()


def cache_dir() -> Path:
    """``$CLOUDTALES_CACHE_DIR``, else ``$XDG_CACHE_HOME/cloudtales``, else ~/.cache."""
    explicit = os.environ.get("CLOUDTALES_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cloudtales"


def cached_index(key: str | None) -> SymptomIndex | None:
    """The index stored under ``key``; None when absent, stale or unreadable."""
    if key is None:
        return None
    try:
        doc = json.loads((cache_dir() / FILE_NAME).read_text())
        if doc.get("key") != key:
            return None
        return SymptomIndex(
            [
                IndexedSymptom(
                    str(e["id"]),
                    str(e["title"]),
                    str(e["description"]),
                    tuple(str(k) for k in e["keywords"]),
                    str(e["tale"]),
                )
                for e in doc["symptoms"]
            ]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store_index(key: str | None, index: SymptomIndex) -> None:
    """Write the index for ``key`` (atomically); a cache that cannot be written is
    only a slower next start, never an error."""
    if key is None:
        return
    folder = cache_dir()
    doc = {"key": key, "symptoms": [asdict(e) for e in index.symptoms()]}
    tmp = folder / f".{FILE_NAME}.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, folder / FILE_NAME)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
