"""The registry of named data sources: catalogue modules register on import."""

from __future__ import annotations

import importlib
import pkgutil

from engine.errors import CloudtalesError
from engine.sources.spec import Source

_SOURCES: dict[str, Source] = {}
_CATALOGUES = frozenset(
    {"network", "host", "nova", "services", "neutron", "api", "compute", "conntrack", "clock"}
    | {"neighbour"}
)


def register(source: Source) -> Source:
    if source.name in _SOURCES:
        raise ValueError(f"source {source.name} registered twice")
    _SOURCES[source.name] = source
    return source


_discovered: list[bool] = []


def _discover() -> None:
    """Import every catalogue (a check may have imported one directly before)."""
    import engine.sources as pkg

    _discovered.append(True)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in _CATALOGUES:
            importlib.import_module(f"engine.sources.{info.name}")


def all_sources() -> dict[str, Source]:
    if not _discovered:
        _discover()
    return dict(_SOURCES)


def get(name: str) -> Source:
    sources = all_sources()
    if name not in sources:
        raise CloudtalesError(f"unknown data source {name!r} (known: {', '.join(sorted(sources))})")
    return sources[name]
