"""Parse ``ip -j -d link show`` (JSON, never text scraping).

>>> links = parse_ip_link('[{"ifindex":3,"ifname":"vlan100","link":"vlan20","mtu":1500,'
...     '"operstate":"UP","flags":["UP"],"linkinfo":{"info_kind":"vlan",'
...     '"info_data":{"protocol":"802.1Q","id":100}}}]')
>>> links[0].ifname, links[0].kind, links[0].vlan_id, links[0].parent
('vlan100', 'vlan', 100, 'vlan20')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.errors import CloudtalesError


@dataclass(frozen=True)
class LinkInfo:
    ifname: str
    ifindex: int
    mtu: int
    operstate: str
    flags: tuple[str, ...]
    kind: str | None = None  # vlan | bridge | veth | bond | None (physical)
    parent: str | None = None  # the "@" device: vlan100@vlan20 -> vlan20
    master: str | None = None  # bridge or bond this link is enslaved to
    vlan_id: int | None = None
    vlan_protocol: str | None = None
    address: str | None = None
    slave_kind: str | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def is_vlan(self) -> bool:
        return self.kind == "vlan"

    @property
    def carrier(self) -> bool:
        return "LOWER_UP" in self.flags

    @property
    def label(self) -> str:
        return f"{self.ifname}@{self.parent}" if self.parent else self.ifname


def _link(obj: dict[str, Any]) -> LinkInfo:
    info = obj.get("linkinfo") or {}
    data = info.get("info_data") or {}
    kind = info.get("info_kind")
    stats64 = obj.get("stats64") or {}
    stats: dict[str, int] = {}
    for direction in ("rx", "tx"):
        for k, v in (stats64.get(direction) or {}).items():
            if isinstance(v, int):
                stats[f"{direction}_{k}"] = v
    return LinkInfo(
        ifname=str(obj["ifname"]),
        ifindex=int(obj.get("ifindex", 0)),
        mtu=int(obj.get("mtu", 0)),
        operstate=str(obj.get("operstate", "UNKNOWN")),
        flags=tuple(str(f) for f in obj.get("flags", [])),
        kind=str(kind) if kind else None,
        parent=str(obj["link"]) if obj.get("link") else None,
        master=str(obj["master"]) if obj.get("master") else None,
        vlan_id=int(data["id"]) if kind == "vlan" and "id" in data else None,
        vlan_protocol=str(data.get("protocol")) if kind == "vlan" else None,
        address=str(obj["address"]) if obj.get("address") else None,
        slave_kind=str(info.get("info_slave_kind")) if info.get("info_slave_kind") else None,
        stats=stats,
    )


def parse_ip_link(text: str, source: str = "ip -j -d link") -> list[LinkInfo]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CloudtalesError(
            f"{source}: output is not JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, list):
        raise CloudtalesError(f"{source}: expected a JSON list of links")
    links = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict) or "ifname" not in obj:
            raise CloudtalesError(f"{source}: entry {i} has no ifname")
        links.append(_link(obj))
    return links
