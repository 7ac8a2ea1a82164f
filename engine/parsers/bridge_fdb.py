"""Parse ``bridge -j fdb show``: which bridge port learned which MAC.

>>> e = parse_bridge_fdb('[{"mac":"fa:16:3e:24:e7:22","ifname":"tap3f2a9c1e-7b",'
...     '"master":"br100","flags":[],"state":""}]')[0]
>>> e.mac, e.port, e.bridge, e.learned
('fa:16:3e:24:e7:22', 'tap3f2a9c1e-7b', 'br100', True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.errors import CloudtalesError


@dataclass(frozen=True)
class FdbEntry:
    mac: str
    port: str  # the device the entry points at (a bridge port, or the bridge itself)
    bridge: str | None  # the master bridge; None for the bridge's own "self" entries
    state: str  # "" (dynamic), permanent, static, stale
    flags: tuple[str, ...] = ()
    vlan: int | None = None

    @property
    def learned(self) -> bool:
        """A dynamically learned entry: the MAC was seen arriving on ``port``."""
        return self.bridge is not None and self.state in ("", "reachable", "stale")


def parse_bridge_fdb(text: str, source: str = "bridge -j fdb show") -> list[FdbEntry]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise CloudtalesError(f"{source}: output is not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise CloudtalesError(f"{source}: expected a JSON list of fdb entries")
    entries = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict) or "mac" not in obj or "ifname" not in obj:
            raise CloudtalesError(f"{source}: entry {i} has no mac or ifname")
        vlan = obj.get("vlan")
        entries.append(
            FdbEntry(
                mac=str(obj["mac"]).lower(),
                port=str(obj["ifname"]),
                bridge=str(obj["master"]) if obj.get("master") else None,
                state=str(obj.get("state", "")),
                flags=tuple(str(f) for f in obj.get("flags", []) or []),
                vlan=int(vlan) if isinstance(vlan, int) else None,
            )
        )
    return entries
