"""All playbooks merged into one networkx DiGraph, validated in phases.

Phases (orquesta style): 1. syntax (per file, pydantic; see loader), 2. references
(duplicate ids, dangling edges, unknown check types, parameters, outcome mapping
complete), 3. graph (acyclic, every symptom reaches a diagnosis, every sink is a
diagnosis, nothing unreachable, evidence and placeholders name upstream facts).

Nodes carry ``kind`` (symptom | check | diagnosis), ``model`` and ``source``
(the LoadedPlaybook). Edges carry ``label``: an outcome name, ``fallback`` or ``start``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import networkx as nx
from pydantic import ValidationError

from engine.checks.registry import check_types
from engine.errors import PlaybookError
from engine.playbook.evidence_lint import INCONCLUSIVE, check_evidence
from engine.playbook.files import playbook_files
from engine.playbook.loader import LoadedPlaybook, load_playbook
from engine.playbook.model import Check, Diagnosis, Remedy, Symptom
from engine.templating import references

_M = TypeVar("_M", Symptom, Check, Diagnosis)

FALLBACK = "fallback"
START = "start"


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlaybookGraph:
    def __init__(
        self, graph: nx.DiGraph, remedies: dict[str, Remedy], sources: list[LoadedPlaybook]
    ):
        self.g = graph
        self.remedies = remedies
        self.sources = sources

    def kind(self, node: str) -> str:
        return str(self.g.nodes[node]["kind"])

    def is_end(self, node: str) -> bool:
        """A diagnosis, or the built-in ``inconclusive`` ending."""
        return self.kind(node) in ("diagnosis", INCONCLUSIVE)

    def symptoms(self) -> list[Symptom]:
        return [d["model"] for _, d in self.g.nodes(data=True) if d["kind"] == "symptom"]

    def symptom(self, node: str) -> Symptom:
        return self._model(node, "symptom", Symptom)

    def check(self, node: str) -> Check:
        return self._model(node, "check", Check)

    def diagnosis(self, node: str) -> Diagnosis:
        return self._model(node, "diagnosis", Diagnosis)

    def tale_of(self, node: str) -> str:
        return str(self.g.nodes[node]["source"].playbook.tale)

    def source_link(self, node: str) -> tuple[str, str]:
        src = self.g.nodes[node]["source"].playbook.source
        return src.title, src.url

    def next_node(self, node: str, label: str) -> str | None:
        for _, target, data in self.g.out_edges(node, data=True):
            if data["label"] == label:
                return str(target)
        return None

    def shortest_path(self, start: str, target: str) -> list[str] | None:
        try:
            return [str(n) for n in nx.shortest_path(self.g, start, target)]
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None

    def _model(self, node: str, kind: str, cls: type[_M]) -> _M:
        if node not in self.g or self.g.nodes[node]["kind"] != kind:
            raise KeyError(f"no {kind} {node!r}")
        model = self.g.nodes[node]["model"]
        assert isinstance(model, cls)
        return model


def _problem(src: LoadedPlaybook, loc: tuple[str | int, ...], field: str, msg: str) -> Problem:
    return Problem(src.path, src.line_of(*loc), field, msg)


def build_graph(sources: Iterable[LoadedPlaybook]) -> tuple[PlaybookGraph, list[Problem]]:
    sources = list(sources)
    g: nx.DiGraph = nx.DiGraph()
    problems: list[Problem] = []
    remedies: dict[str, Remedy] = {}
    types = check_types()
    where: dict[str, tuple[LoadedPlaybook, tuple[str | int, ...]]] = {}

    # the built-in ending of a walk that cannot conclude (``fallback: inconclusive``)
    g.add_node(INCONCLUSIVE, kind=INCONCLUSIVE, model=None, source=None)
    # phase 2a: nodes and duplicate ids (ids are global: playbooks merge into one graph)
    for src in sources:
        pb = src.playbook
        sections: tuple[tuple[str, Sequence[Symptom | Check | Diagnosis]], ...] = (
            ("symptoms", pb.symptoms),
            ("checks", pb.checks),
            ("diagnoses", pb.diagnoses),
        )
        for section, items in sections:
            for i, item in enumerate(items):
                loc = (section, i, "id")
                if item.id == INCONCLUSIVE:
                    problems.append(_problem(src, loc, f"{section}[{item.id}].id", "a reserved id"))
                    continue
                if item.id in g:
                    other, oloc = where[item.id]
                    problems.append(
                        _problem(
                            src,
                            loc,
                            f"{section}[{item.id}].id",
                            f"duplicate id (also at {other.path}:{other.line_of(*oloc)})",
                        )
                    )
                    continue
                kind = {"symptoms": "symptom", "checks": "check", "diagnoses": "diagnosis"}[section]
                g.add_node(item.id, kind=kind, model=item, source=src)
                where[item.id] = (src, loc)
        for i, rem in enumerate(pb.remedies):
            if rem.id in remedies:
                problems.append(
                    _problem(
                        src, ("remedies", i, "id"), f"remedies[{rem.id}].id", "duplicate remedy id"
                    )
                )
            remedies[rem.id] = rem

    def edge(
        src: LoadedPlaybook, loc: tuple[str | int, ...], field: str, a: str, b: str, label: str
    ) -> None:
        if b not in g:
            problems.append(_problem(src, loc, field, f"refers to unknown node {b!r}"))
            return
        if g.nodes[b]["kind"] == "symptom":
            problems.append(_problem(src, loc, field, f"cannot lead back to symptom {b!r}"))
            return
        g.add_edge(a, b, label=label)

    # phase 2b: edges, check types, parameters, outcome mapping
    for src in sources:
        pb = src.playbook
        for i, sym in enumerate(pb.symptoms):
            edge(
                src, ("symptoms", i, "start"), f"symptoms[{sym.id}].start", sym.id, sym.start, START
            )
        for i, chk in enumerate(pb.checks):
            base = f"checks[{chk.id}]"
            ctype = types.get(chk.type)
            if ctype is None:
                problems.append(
                    _problem(
                        src,
                        ("checks", i, "type"),
                        f"{base}.type",
                        f"unknown check type {chk.type!r} (known: {', '.join(sorted(types))})",
                    )
                )
            else:
                try:
                    ctype.params.model_validate(chk.params)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    sub = ".".join(str(x) for x in err["loc"])
                    problems.append(
                        _problem(
                            src,
                            ("checks", i, "params", *err["loc"]),
                            f"{base}.params.{sub}",
                            err["msg"],
                        )
                    )
                for outcome in ctype.outcomes:
                    if outcome not in chk.on:
                        problems.append(
                            _problem(
                                src,
                                ("checks", i, "on"),
                                f"{base}.on",
                                f"outcome {outcome!r} of {chk.type} is not mapped",
                            )
                        )
                for outcome in chk.on:
                    if outcome not in ctype.outcomes:
                        problems.append(
                            _problem(
                                src,
                                ("checks", i, "on", outcome),
                                f"{base}.on.{outcome}",
                                f"{chk.type} has no outcome {outcome!r}"
                                f" (declared: {', '.join(ctype.outcomes)})",
                            )
                        )
                if ctype.needs_hosts and not chk.hosts:
                    problems.append(
                        _problem(src, ("checks", i), f"{base}.hosts", f"{chk.type} needs hosts")
                    )
            for outcome, target in chk.on.items():
                edge(
                    src,
                    ("checks", i, "on", outcome),
                    f"{base}.on.{outcome}",
                    chk.id,
                    target,
                    outcome,
                )
            if g.has_edge(chk.id, chk.fallback):
                # the fallback shares a target with an outcome: keep both labels visible
                g.edges[chk.id, chk.fallback]["also_fallback"] = True
            else:
                edge(
                    src,
                    ("checks", i, "fallback"),
                    f"{base}.fallback",
                    chk.id,
                    chk.fallback,
                    FALLBACK,
                )
        for i, dia in enumerate(pb.diagnoses):
            for j, rid in enumerate(dia.remedies):
                if rid not in remedies:
                    problems.append(
                        _problem(
                            src,
                            ("diagnoses", i, "remedies", j),
                            f"diagnoses[{dia.id}].remedies",
                            f"unknown remedy {rid!r}",
                        )
                    )

    graph = PlaybookGraph(g, remedies, sources)
    if not problems:
        problems.extend(_validate_structure(graph))
    return graph, problems


def _validate_structure(pg: PlaybookGraph) -> list[Problem]:
    g = pg.g
    problems: list[Problem] = []

    def at(node: str, *loc: str | int) -> tuple[LoadedPlaybook, tuple[str | int, ...]]:
        src: LoadedPlaybook = g.nodes[node]["source"]
        section = {"symptom": "symptoms", "check": "checks", "diagnosis": "diagnoses"}[
            g.nodes[node]["kind"]
        ]
        items = getattr(src.playbook, section)
        idx = next(i for i, it in enumerate(items) if it.id == node)
        return src, (section, idx, *loc)

    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        first = str(cycle[0][0])
        src, loc = at(first)
        problems.append(
            _problem(
                src, loc, f"{first}", "cycle: " + " -> ".join([str(a) for a, _ in cycle] + [first])
            )
        )
        return problems

    types = check_types()
    for node, data in g.nodes(data=True):
        kind = data["kind"]
        if kind in ("diagnosis", INCONCLUSIVE):
            continue
        if g.out_degree(node) == 0:
            src, loc = at(node)
            problems.append(_problem(src, loc, str(node), f"{kind} leads nowhere"))
        if kind == "symptom" and not any(
            g.nodes[d]["kind"] == "diagnosis" for d in nx.descendants(g, node)
        ):
            src, loc = at(node)
            problems.append(_problem(src, loc, f"symptoms[{node}]", "reaches no diagnosis"))
        if kind != "symptom" and not any(
            g.nodes[a]["kind"] == "symptom" for a in nx.ancestors(g, node)
        ):
            src, loc = at(node)
            problems.append(_problem(src, loc, f"checks[{node}]", "unreachable from every symptom"))

    for src in pg.sources:
        drill = src.playbook.drill
        if drill is None:
            continue
        if drill.symptom not in g or g.nodes[drill.symptom]["kind"] != "symptom":
            problems.append(
                _problem(
                    src, ("drill", "symptom"), "drill.symptom", f"no symptom {drill.symptom!r}"
                )
            )
        elif drill.expect not in g or g.nodes[drill.expect]["kind"] != "diagnosis":
            problems.append(
                _problem(src, ("drill", "expect"), "drill.expect", f"no diagnosis {drill.expect!r}")
            )
        elif not nx.has_path(g, drill.symptom, drill.expect):
            problems.append(
                _problem(
                    src,
                    ("drill", "expect"),
                    "drill.expect",
                    f"{drill.expect!r} is not reachable from {drill.symptom!r}",
                )
            )

    # facts named by diagnoses and placeholders must come from an upstream check
    def produced_upstream(node: str) -> set[str]:
        facts: set[str] = set()
        for anc in nx.ancestors(g, node):
            if g.nodes[anc]["kind"] == "check":
                chk: Check = g.nodes[anc]["model"]
                ctype = types.get(chk.type)
                keys = ("outcome", "summary", *(ctype.facts if ctype else ()))
                facts.update(f"{anc}.{k}" for k in keys)
        return facts

    for node, data in g.nodes(data=True):
        if data["kind"] == "diagnosis":
            dia: Diagnosis = data["model"]
            upstream = produced_upstream(node)
            for j, fact in enumerate(dia.evidence):
                if fact not in upstream:
                    src, loc = at(node, "evidence", j)
                    problems.append(
                        _problem(
                            src,
                            loc,
                            f"diagnoses[{node}].evidence",
                            f"fact {fact!r} is not produced by any check upstream",
                        )
                    )
            if not any(g.nodes[a]["kind"] == "symptom" for a in nx.ancestors(g, node)):
                src, loc = at(node)
                problems.append(
                    _problem(src, loc, f"diagnoses[{node}]", "unreachable from every symptom")
                )
        elif data["kind"] == "check":
            chk = data["model"]
            upstream = produced_upstream(node)
            for ns, name in references(chk.params):
                if ns == "facts" and name not in upstream:
                    src, loc = at(node, "params")
                    problems.append(
                        _problem(
                            src,
                            loc,
                            f"checks[{node}].params",
                            f"placeholder {{facts.{name}}} names no fact produced upstream",
                        )
                    )
    for ep in check_evidence(g):
        loc_field = ep.field if ep.field in ("title", "explanation", "requires") else ()
        src, loc = at(ep.node, *((loc_field,) if loc_field else ()))
        where_field = f"{loc[0]}[{ep.node}]"
        problems.append(
            _problem(src, loc, f"{where_field}.{ep.field}" if ep.field else where_field, ep.message)
        )
    return problems


def load_graph(paths: list[str | Path] | None = None) -> tuple[PlaybookGraph, list[Problem]]:
    """Load every playbook; syntax errors become problems too (one per file)."""
    loaded: list[LoadedPlaybook] = []
    problems: list[Problem] = []
    for f in playbook_files(paths):
        try:
            loaded.append(load_playbook(f))
        except PlaybookError as exc:
            problems.append(Problem(exc.path, exc.line, exc.field, exc.message))
    graph, more = build_graph(loaded)
    return graph, problems + more


def load_valid_graph(paths: list[str | Path] | None = None) -> PlaybookGraph:
    graph, problems = load_graph(paths)
    if problems:
        first = problems[0]
        extra = (
            f" (and {len(problems) - 1} more; run `cloudtales lint`)" if len(problems) > 1 else ""
        )
        raise PlaybookError(first.path, first.line, first.field, first.message + extra)
    return graph
