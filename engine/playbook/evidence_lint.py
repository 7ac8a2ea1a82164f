"""Lint's proof that no diagnosis can be named without its evidence.

For every path from every symptom to every diagnosis, at least one of the diagnosis's
requirement sets must be able to hold on that path: each required fact is produced
upstream *on that path* by a check that reached a declared outcome (a fallback edge
produces nothing but ``CHECK.error``), and an outcome requirement agrees with the edge
the path took. Titles and explanations may only name required facts. A path that can
only be reached through errors ends at a diagnosis only if it declares ``from_errors``, and
a path through a fallback edge that cannot back it is allowed only where the diagnosis
says so (``reachable_by_fallback``: the walker's gate then ends that walk inconclusive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx

from engine.checks.registry import check_types
from engine.playbook.evidence import Requirement, fact_placeholders, parse_set
from engine.playbook.model import Check, Diagnosis

FALLBACK = "fallback"
INCONCLUSIVE = "inconclusive"
MAX_PATHS = 200_000


@dataclass(frozen=True)
class EvidenceProblem:
    node: str
    field: str  # e.g. "requires", "title"
    message: str


Path = tuple[tuple[str, str], ...]  # (check id, edge label taken)


def _paths(g: nx.DiGraph, start: str) -> Iterator[tuple[Path, str]]:
    """Every (checks with the edge taken, end node) from ``start``; a fallback edge that
    shares its target with an outcome counts as both."""
    stack: list[tuple[str, Path]] = [(start, ())]
    while stack:
        node, path = stack.pop()
        kind = g.nodes[node]["kind"]
        if kind in ("diagnosis", INCONCLUSIVE):
            yield path, node
            continue
        for _, target, data in g.out_edges(node, data=True):
            labels = [data["label"]]
            if data.get("also_fallback"):
                labels.append(FALLBACK)
            for label in labels:
                step = path if kind == "symptom" else (*path, (node, label))
                stack.append((target, step))


def _satisfiable(
    req: Requirement, taken: dict[str, str], produces: Callable[[str], set[str]], dia: Diagnosis
) -> str | None:
    """None if ``req`` can hold on a path that took ``taken``; else why not."""
    label = taken.get(req.node)
    if label is None:
        return f"{req.node} is not on this path"
    if req.on_error:
        if not dia.from_errors:
            return f"{req} names an error, but the diagnosis does not declare from_errors"
        return None if label == FALLBACK else f"{req.node} did not fail on this path"
    if label == FALLBACK:
        return f"{req.node} is passed by its fallback edge (no observed facts)"
    if req.key not in produces(req.node):
        return f"{req.node} never produces {req.key!r}"
    if not req.allows_outcome(label):
        return f"{req.node} ended {label!r} on this path"
    return None


def check_evidence(g: nx.DiGraph) -> list[EvidenceProblem]:
    types = check_types()
    problems: list[EvidenceProblem] = []
    cache: dict[str, set[str]] = {}

    def produces(node: str) -> set[str]:
        if node not in cache:
            chk: Check = g.nodes[node]["model"]
            ctype = types.get(chk.type)
            cache[node] = {"outcome", "summary", *(ctype.facts if ctype else ())}
        return cache[node]

    diagnoses = {n: d["model"] for n, d in g.nodes(data=True) if d["kind"] == "diagnosis"}
    sets = {n: [parse_set(s) for s in dia.requirement_sets()] for n, dia in diagnoses.items()}
    for node, dia in diagnoses.items():
        required_everywhere = set.intersection(*({r.fact for r in s} for s in sets[node]))
        for field, text in (("title", dia.title), ("explanation", dia.explanation)):
            for name in fact_placeholders(text):
                if name not in required_everywhere:
                    problems.append(
                        EvidenceProblem(
                            node, field, f"{{facts.{name}}} is not required by every evidence set"
                        )
                    )
    reported: set[str] = set()
    count = 0
    for start in (n for n, d in g.nodes(data=True) if d["kind"] == "symptom"):
        for path, end in _paths(g, start):
            count += 1
            if count > MAX_PATHS:
                problems.append(
                    EvidenceProblem(start, "", f"more than {MAX_PATHS} paths: split the playbook")
                )
                return problems
            if end not in diagnoses or end in reported:
                continue
            taken = dict(path)
            if diagnoses[end].reachable_by_fallback and FALLBACK in taken.values():
                continue  # it says so: the walker's gate ends such a walk inconclusive
            reasons = []
            for req_set in sets[end]:
                why = [
                    w for r in req_set if (w := _satisfiable(r, taken, produces, diagnoses[end]))
                ]
                if not why:
                    break
                reasons.append(why[0])
            else:
                reported.add(end)
                walk = " -> ".join([start, *(f"{c}[{lab}]" for c, lab in path), end])
                problems.append(
                    EvidenceProblem(
                        end, "requires", f"not backed on the path {walk}: {'; or '.join(reasons)}"
                    )
                )
    return problems
