"""Permanent neighbour entries: what keeps the rest of the machine working.

The ARP table is one for the whole kernel: every namespace's entries count against the
global ``gc_thresh3``, and a full table refuses a new entry in ANY namespace. In the
story only the network node's table is full, so while the thresholds are lowered:

- the lab's other hosts get permanent entries for the neighbours they need (the outside
  host's gateway, the instance's router, the management network in both directions):
  permanent entries are exempt from garbage collection and not counted;
- the machine's own resolved entries (the root namespace's default gateway...) are
  pinned the same way, with the list saved first, and put back as ordinary (STALE)
  entries when the thresholds are restored: forced garbage collection would otherwise
  evict an idle one, and a full table would not let it come back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from labs.core import netns

PINNABLE = {"REACHABLE", "STALE", "DELAY", "PROBE"}


@dataclass(frozen=True)
class Pin:
    dst: str
    dev: str
    lladdr: str
    ns: str | None = None  # None: the root namespace


def mac_of(dev: str, ns: str | None = None) -> str:
    out = netns.ip("-j", "link", "show", "dev", dev, ns=ns).stdout
    return str(json.loads(out)[0]["address"])


def resolved_entries(ns: str | None = None) -> list[Pin]:
    """The IPv4 entries with a link-layer address in a dynamic state (not permanent)."""
    out = netns.ip("-4", "-j", "neigh", "show", ns=ns).stdout
    pins = []
    for e in json.loads(out or "[]"):
        if e.get("lladdr") and PINNABLE & set(e.get("state", [])):
            pins.append(Pin(str(e["dst"]), str(e["dev"]), str(e["lladdr"]), ns))
    return pins


def pin(pins: Iterable[Pin]) -> None:
    for p in pins:
        netns.ip("neigh", "replace", p.dst, "lladdr", p.lladdr, "dev", p.dev, "nud", "permanent",
                 ns=p.ns)  # fmt: skip


def unpin(pins: Iterable[Pin]) -> None:
    """Back to ordinary entries (STALE: checked again on first use); a device or
    namespace gone since is skipped."""
    for p in pins:
        netns.ip("neigh", "replace", p.dst, "lladdr", p.lladdr, "dev", p.dev, "nud", "stale",
                 ns=p.ns, check=False)  # fmt: skip


def to_extra(pins: Iterable[Pin]) -> dict[str, Any]:
    return {"root_pins": [asdict(p) for p in pins]}


def from_extra(extra: Mapping[str, Any]) -> list[Pin]:
    rows = extra.get("root_pins", [])
    return [Pin(**r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
