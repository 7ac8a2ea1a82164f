"""Before a walk: what the inventory lacks for the checks a symptom can lead to.

One line names each missing role or host, and each missing host variable, with the
checks that need it. The walk still starts: those checks end as errors (never as
findings), and the walk ends inconclusive naming them.

A check on every path from the symptom to an ending runs in every walk: what it lacks
is said plainly. A check only some branches reach (compute-service-down's bond check
routes into Valentine's Day's switch log only when every bond member is down) is said
as a note, "should the walk branch there": the preflight cannot tell which branch the
hosts will take, and the operator should not read it as "this walk will fail".
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
    every_walk: bool = True  # one of its checks is on every path to an ending


def _reachable_checks(graph: PlaybookGraph, symptom: str) -> list[str]:
    order = nx.topological_sort(graph.g.subgraph({symptom, *nx.descendants(graph.g, symptom)}))
    return [str(n) for n in order if graph.kind(str(n)) == "check"]


def _on_every_path(graph: PlaybookGraph, symptom: str) -> set[str]:
    """The nodes every path from the symptom to an ending passes (its dominators)."""
    sub = graph.g.subgraph({symptom, *nx.descendants(graph.g, symptom)})
    idom = nx.immediate_dominators(sub, symptom)
    common: set[str] | None = None
    for end in (n for n in sub if sub.out_degree(n) == 0):
        chain, node = set(), end
        while node != symptom and node in idom and node not in chain:
            chain.add(str(node))
            node = idom[node]
        common = chain if common is None else common & chain
    return common or set()


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
    every = _on_every_path(graph, symptom)
    return [
        Lack(what, tuple(nodes), any(n in every for n in nodes)) for what, nodes in found.items()
    ]


def lacks_line(graph: PlaybookGraph, symptom: str, inventory: Inventory) -> str | None:
    """One line for the operator, or None when the inventory has everything."""
    missing = lacks(graph, symptom, inventory)
    if not missing:
        return None
    src = inventory.source or "inventory"

    def said(group: list[Lack]) -> str:
        return "; ".join(f"{lack.what} (for {', '.join(lack.checks)})" for lack in group)

    sure = [lack for lack in missing if lack.every_walk]
    branch = [lack for lack in missing if not lack.every_walk]
    if not sure:
        return f"note: should the walk branch there, {src} lacks: {said(branch)}"
    line = f"{src} lacks: {said(sure)}"
    return line + (f"; should the walk branch there, also: {said(branch)}" if branch else "")
