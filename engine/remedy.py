"""A remedy made concrete for this incident: its hosts and commands with placeholders
(``{facts.CHECK.NAME}``, ``{hosts.ROLE.var}``) filled from the walk's facts.

A remedy is only ever shown as a dry run from this plan; ``runnable`` is false while
a placeholder is still unknown or no host matches, so nothing half-filled can run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import CloudtalesError
from engine.playbook.model import Remedy
from engine.remote.inventory import Host, Inventory
from engine.templating import PLACEHOLDER, render


@dataclass(frozen=True)
class RemedyPlan:
    remedy: Remedy
    hosts: list[Host]
    missing_hosts: list[str]  # host selectors that matched nobody in the inventory
    description: str
    commands: list[str]
    unresolved: list[str]  # placeholders left as written (their fact was not gathered)

    @property
    def runnable(self) -> bool:
        return bool(self.hosts and self.commands and not self.unresolved)


def _fill(text: str, inventory: Inventory, facts: Mapping[str, Any], unresolved: list[str]) -> str:
    """Each placeholder filled on its own; one that cannot be stays as written."""

    def one(m: Any) -> str:
        try:
            return str(render(m.group(0), inventory, facts))
        except CloudtalesError:
            if m.group(0) not in unresolved:
                unresolved.append(m.group(0))
            return str(m.group(0))

    return PLACEHOLDER.sub(one, text)


def plan_remedy(remedy: Remedy, inventory: Inventory, facts: Mapping[str, Any]) -> RemedyPlan:
    unresolved: list[str] = []
    hosts: dict[str, Host] = {}
    missing: list[str] = []
    for selector in remedy.hosts:
        filled = _fill(selector, inventory, facts, unresolved)
        try:
            for h in inventory.resolve(filled):
                hosts.setdefault(h.name, h)
        except CloudtalesError:
            missing.append(filled)
    return RemedyPlan(
        remedy=remedy,
        hosts=list(hosts.values()),
        missing_hosts=missing,
        description=_fill(remedy.description.strip(), inventory, facts, unresolved),
        commands=[_fill(c, inventory, facts, unresolved) for c in remedy.commands],
        unresolved=unresolved,
    )
