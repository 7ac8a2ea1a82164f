"""The walker: the investigation as a state machine over journal events.

It proposes the next check (and says why), records results as facts, follows the
branch the playbook maps for the outcome, and ends at a diagnosis. Skip follows
the check's fallback edge; back undoes the last step; a manual fact naming a
check's outcome (``capture.outcome = stacked``) answers that check without running it.

State is *derived* from the event list, so ``--resume JOURNAL`` is a replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import CloudtalesError
from engine.journal import Event, Journal
from engine.playbook.graph import PlaybookGraph
from engine.playbook.model import Check, Diagnosis
from engine.results import CheckResult, Evidence, FactValue
from engine.verdict import Failure, Verdict, judge


@dataclass(frozen=True)
class Step:
    node: str
    how: str  # "ran" | "skipped" | "failed" | "answered"
    outcome: str | None
    next_node: str
    summary: str = ""
    evidence: tuple[Evidence, ...] = ()
    failure: Failure | None = None  # why a "failed" step could not check


@dataclass(frozen=True)
class Proposal:
    node: str
    check: Check
    reason: str
    step_number: int


@dataclass
class WalkerState:
    symptom: str = ""
    current: str = ""
    steps: list[Step] = field(default_factory=list)
    manual_facts: dict[str, FactValue] = field(default_factory=dict)  # set, not by a check
    fact_sources: dict[str, str] = field(default_factory=dict)  # name -> "operator", "api", ...
    notes: list[tuple[float, str]] = field(default_factory=list)
    step_facts: list[dict[str, FactValue]] = field(default_factory=list)
    hosts: dict[str, list[str]] = field(default_factory=dict)  # node -> its check_started hosts


class Walker:
    def __init__(self, graph: PlaybookGraph, journal: Journal | None = None) -> None:
        self.graph = graph
        self.journal = journal
        self.events: list[Event] = []
        self.state = WalkerState()

    # ---- construction -------------------------------------------------
    @classmethod
    def start(
        cls, graph: PlaybookGraph, symptom: str, journal: Journal | None = None, **session: Any
    ) -> Walker:
        if symptom not in graph.g or graph.kind(symptom) != "symptom":
            known = ", ".join(sorted(s.id for s in graph.symptoms()))
            raise CloudtalesError(f"unknown symptom {symptom!r} (known: {known})")
        w = cls(graph, journal)
        w._record("session", symptom=symptom, **session)
        return w

    @classmethod
    def resume(
        cls, graph: PlaybookGraph, events: Iterable[Event], journal: Journal | None = None
    ) -> Walker:
        w = cls(graph, journal)
        for ev in events:
            w._apply(ev)
        if not w.state.symptom:
            raise CloudtalesError("journal has no session event; nothing to resume")
        return w

    # ---- queries -------------------------------------------------------
    @property
    def facts(self) -> dict[str, FactValue]:
        """Observed facts: those of checks that ran or were answered, and the operator's.

        A check that failed contributes only ``CHECK.error`` and ``CHECK.error_host``."""
        merged: dict[str, FactValue] = {}
        for f in self.state.step_facts:
            merged.update(f)
        merged.update(self.state.manual_facts)
        return merged

    @property
    def operator_facts(self) -> set[str]:
        """Facts the operator supplied (``f``), and the outcomes their answers imply."""
        answered = {f"{s.node}.outcome" for s in self.state.steps if s.how == "answered"}
        src = self.state.fact_sources
        given = {k for k in self.state.manual_facts if src.get(k, "operator") == "operator"}
        return given | answered

    @property
    def done(self) -> bool:
        return bool(self.state.current) and self.graph.is_end(self.state.current)

    @property
    def verdict(self) -> Verdict | None:
        """How the walk ended: a diagnosis backed by observed facts, or inconclusive."""
        if not self.done:
            return None
        node = self.state.current
        dia = self.graph.diagnosis(node) if self.graph.kind(node) == "diagnosis" else None
        failures = [s.failure for s in self.state.steps if s.failure is not None]
        return judge(dia, self.facts, self.operator_facts, failures, self._ended_by(dia))

    def _ended_by(self, dia: Diagnosis | None) -> str:
        """``CHECK@HOSTS (outcome: summary)``: the check whose outcome the playbook maps to
        inconclusive (an inconclusive line must say where it stopped, and on which host)."""
        last = self.state.steps[-1] if self.state.steps else None
        if dia is not None or last is None or last.how != "ran":
            return ""
        at = ",".join(self.state.hosts.get(last.node, []))
        said = f"{last.outcome}: {last.summary}" if last.summary else str(last.outcome)
        return f"{last.node}{'@' + at if at else ''} ({said})"

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The diagnosis the walk reached, only when its evidence holds."""
        v = self.verdict
        return v.diagnosis if v is not None else None

    @property
    def path(self) -> list[str]:
        return [
            self.state.symptom,
            *[s.node for s in self.state.steps],
            *([self.state.current] if self.done else []),
        ]

    def proposal(self) -> Proposal | None:
        if self.done or not self.state.current:
            return None
        node = self.state.current
        chk = self.graph.check(node)
        if self.state.steps:
            prev = self.state.steps[-1]
            if prev.how == "ran":
                because = f"{prev.node} found {prev.outcome!r}"
            elif prev.how == "answered":
                because = f"you said {prev.node} is {prev.outcome!r}"
            else:
                because = f"{prev.node} was {prev.how}"
            reason = f"{because}; {chk.why.strip()}"
        else:
            reason = chk.why.strip()
        return Proposal(node, chk, reason, len(self.state.steps) + 1)

    def evidence(self) -> list[tuple[str, Any]]:
        """The facts the diagnosis stands on, then the others it shows (missing skipped)."""
        v = self.verdict
        if v is None or v.diagnosis is None:
            return []
        facts = self.facts
        names = [*v.backed_by, *(n for n in v.diagnosis.evidence if n not in v.backed_by)]
        return [(name, facts[name]) for name in names if name in facts]

    # ---- intents -------------------------------------------------------
    def record_result(self, node: str, result: CheckResult) -> str:
        self._require_current(node)
        chk = self.graph.check(node)
        if result.outcome not in chk.on:
            raise CloudtalesError(f"check {node} returned undeclared outcome {result.outcome!r}")
        self._record(
            "check_result",
            node=node,
            outcome=result.outcome,
            summary=result.summary,
            facts=result.facts,
            evidence=[{"title": e.title, "text": e.text, "host": e.host} for e in result.evidence],
            **({"tables": [t.to_dict() for t in result.tables]} if result.tables else {}),
        )
        return self.state.current

    def record_failure(
        self, node: str, error: str, host: str | None = None, by_hand: str | None = None
    ) -> str:
        """The check could not check (unreachable, lost stream, missing command or var)."""
        self._require_current(node)
        extra = {k: v for k, v in (("host", host), ("by_hand", by_hand)) if v}
        self._record("check_failed", node=node, error=error, **extra)
        return self.state.current

    def skip(self) -> str:
        if self.done:
            raise CloudtalesError("the investigation already reached a diagnosis")
        self._record("skip", node=self.state.current)
        return self.state.current

    def back(self) -> str:
        if not self.state.steps:
            raise CloudtalesError("already at the first step")
        self._record("back")
        return self.state.current

    def set_fact(self, name: str, value: FactValue, source: str = "operator") -> str:
        if not name or " " in name:
            raise CloudtalesError(
                f"a fact name is one word like 'compute.bond0_state', not {name!r}"
            )
        self._record("fact", name=name, value=value, source=source)
        return self.state.current

    def note(self, text: str) -> None:
        self._record("note", text=text)

    def record(self, type_: str, **data: Any) -> None:
        """Events the walker does not interpret (remedy_dry_run...; of check_started it keeps
        the hosts, which an inconclusive ending names)."""
        self._record(type_, **data)

    def apply(self, ev: Event) -> None:
        """An event someone else recorded (a follower reading the journal as it grows).

        Nothing is written; types the walker does not interpret are kept and ignored."""
        self._apply(ev)

    # ---- internals -----------------------------------------------------
    def _require_current(self, node: str) -> None:
        if node != self.state.current:
            raise CloudtalesError(f"check {node} is not the current step ({self.state.current})")

    def _record(self, type_: str, **data: Any) -> None:
        if self.journal is not None:
            ev = self.journal.append(type_, **data)
        else:
            import time

            ev = Event(type=type_, data=data, ts=time.time(), seq=len(self.events) + 1)
        self._apply(ev)

    def _advance(
        self,
        node: str,
        how: str,
        outcome: str | None,
        facts: dict[str, FactValue],
        summary: str = "",
        evidence: tuple[Evidence, ...] = (),
        failure: Failure | None = None,
    ) -> None:
        chk = self.graph.check(node)
        nxt = chk.on[outcome] if outcome is not None else chk.fallback
        step_facts = {f"{node}.{k}": v for k, v in facts.items()}
        if outcome is not None:
            step_facts[f"{node}.outcome"] = outcome
            if summary:
                step_facts[f"{node}.summary"] = summary
        self.state.steps.append(Step(node, how, outcome, nxt, summary, evidence, failure))
        self.state.step_facts.append(step_facts)
        self.state.current = nxt
        self._auto_answer()

    def _auto_answer(self) -> None:
        """A manual fact '<check>.outcome' answers that check when the walk reaches it."""
        while not self.done and self.state.current:
            node = self.state.current
            answer = self.state.manual_facts.get(f"{node}.outcome")
            if not isinstance(answer, str) or answer not in self.graph.check(node).on:
                return
            self._advance(node, "answered", answer, {}, f"answered by the operator: {answer}")

    def _apply(self, ev: Event) -> None:
        self.events.append(ev)
        d = ev.data
        st = self.state
        if ev.type == "session":
            st.symptom = str(d["symptom"])
            st.current = self.graph.symptom(st.symptom).start
            self._auto_answer()
        elif ev.type == "check_result":
            ev_list = tuple(
                Evidence(e["title"], e["text"], e.get("host")) for e in d.get("evidence", [])
            )
            self._advance(
                str(d["node"]),
                "ran",
                str(d["outcome"]),
                dict(d.get("facts", {})),
                str(d.get("summary", "")),
                ev_list,
            )
        elif ev.type == "check_failed":
            node, error = str(d["node"]), str(d.get("error", ""))
            chk = self.graph.check(node)
            host = str(d["host"]) if d.get("host") else None
            failure = Failure(node, chk.title, host, error, str(d.get("by_hand") or ""))
            facts: dict[str, FactValue] = {"error": error}
            if host:
                facts["error_host"] = host
            self._advance(node, "failed", None, facts, f"failed: {error}", (), failure)
        elif ev.type == "skip":
            self._advance(str(d["node"]), "skipped", None, {}, "skipped by the operator")
        elif ev.type == "back":
            # undo the last step; an answered step forgets its answer, or it would re-answer
            if st.steps:
                last = st.steps.pop()
                st.step_facts.pop()
                st.current = last.node
                if last.how == "answered":
                    st.manual_facts.pop(f"{last.node}.outcome", None)
        elif ev.type == "fact":
            st.manual_facts[str(d["name"])] = d.get("value")
            st.fact_sources[str(d["name"])] = str(d.get("source") or "operator")
            self._auto_answer()
        elif ev.type == "note":
            st.notes.append((ev.ts, str(d.get("text", ""))))
        elif ev.type == "check_started":
            st.hosts[str(d.get("node"))] = [str(h) for h in d.get("hosts") or []]
