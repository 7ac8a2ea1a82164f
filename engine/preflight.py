"""Before a walk: what the inventory lacks for the checks a symptom can lead to.

One line names each missing role or host, and each missing host variable, with the
checks that need it. The walk still starts: those checks end as errors (never as
findings), and the walk ends inconclusive naming them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.templating import references


@dataclass(frozen=True)
class Lack:
    what: str  # "role 'outside'" or "var nova_conf on compute"
    checks: tuple[str, ...]


def _reachable_checks(graph: PlaybookGraph, symptom: str) -> list[str]:
    order = nx.topological_sort(graph.g.subgraph({symptom, *nx.descendants(graph.g, symptom)}))
    return [str(n) for n in order if graph.kind(str(n)) == "check"]


def lacks(graph: PlaybookGraph, symptom: str, inventory: Inventory) -> list[Lack]:
    """What the symptom's checks need and the inventory does not have, in walk order."""
    found: dict[str, list[str]] = {}

    def need(what: str, node: str) -> None:
        users = found.setdefault(what, [])
        if node not in users:
            users.append(node)

    for node in _reachable_checks(graph, symptom):
        chk = graph.check(node)
        for selector in chk.hosts:
            try:
                inventory.resolve(selector)
            except CloudtalesError:
                need(f"role {selector!r}", node)
        for ns, dotted in references(chk.params):
            if ns != "hosts":
                continue
            selector, _, var = dotted.partition(".")
            try:
                host = inventory.resolve(selector)[0]
            except CloudtalesError:
                need(f"role {selector!r}", node)
                continue
            if var not in ("", "address", "name") and var not in host.vars:
                need(f"var {var} on {host.name}", node)
    return [Lack(what, tuple(nodes)) for what, nodes in found.items()]


def lacks_line(graph: PlaybookGraph, symptom: str, inventory: Inventory) -> str | None:
    """One line for the operator, or None when the inventory has everything."""
    missing = lacks(graph, symptom, inventory)
    if not missing:
        return None
    parts = [f"{lack.what} (for {', '.join(lack.checks)})" for lack in missing]
    return f"{inventory.source or 'inventory'} lacks: " + "; ".join(parts)
