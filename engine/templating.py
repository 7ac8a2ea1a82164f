"""Placeholders in playbook parameters: ``{hosts.instance.ip}``, ``{facts.pmtu.max_payload}``.

A deliberately tiny language (dotted look-ups only), so branching and parameters
stay data and never become ``eval``. A host var that names an interface, a path or a
host is checked first (``engine/remote/host_vars.py``): a bad one is an ``InventoryError``,
which fails the check, rather than a strange argument on a command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError, InventoryError
from engine.remote import host_vars
from engine.remote.inventory import Inventory

PLACEHOLDER = re.compile(r"\{(hosts|facts)\.([A-Za-z0-9_.-]+)\}")


def references(value: Any) -> list[tuple[str, str]]:
    """Every (namespace, dotted name) placeholder inside a parameter value."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.extend((m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(value))
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(references(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(references(v))
    return found


def _lookup_host(inventory: Inventory, dotted: str) -> Any:
    selector, _, field = dotted.partition(".")
    host = inventory.resolve(selector)[0]
    if field in ("", "address"):
        return _checked(inventory, host.name, "address", host.address)
    if field == "name":
        return host.name
    if field in host.vars:
        return _checked(inventory, host.name, field, host.vars[field])
    raise CloudtalesError(
        f"{inventory.source or 'inventory'}: host {host.name} has no var {field!r} "
        f"(needed by a playbook parameter)"
    )


def _checked(inventory: Inventory, host: str, var: str, value: Any) -> Any:
    """``value`` if it can be what ``var`` names (``engine/remote/host_vars.py``)."""
    reason = host_vars.problem(var, value)
    if reason is not None:
        source = Path(inventory.source).name if inventory.source else "inventory"
        raise InventoryError(host_vars.message(source, host, var, value, reason), host=host)
    return value


def render(value: Any, inventory: Inventory, facts: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: render(v, inventory, facts) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, inventory, facts) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        ns, name = m.group(1), m.group(2)
        if ns == "hosts":
            return str(_lookup_host(inventory, name))
        if name not in facts:
            raise CloudtalesError(f"fact {name!r} is not known yet (needed by a parameter)")
        return str(facts[name])

    whole = PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) == "facts" and whole.group(2) in facts:
        return facts[whole.group(2)]
    return PLACEHOLDER.sub(sub, value)
