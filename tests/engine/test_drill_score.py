"""Drill scoring from journal events: steps against the shortest path, wrong turns, history."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import engine.drill_score
from engine.drill_score import (
    FAULT_INJECTED,
    HINT,
    DrillAttempt,
    DrillSpec,
    ScoreCard,
    append_history,
    best,
    hint,
    history_path,
    load_history,
    score,
)
from engine.journal import Event
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.results import CheckResult
from engine.walker import Walker

SYMPTOM = "ssh-freezes-on-large-output"
SPEC = DrillSpec("double-vlan", SYMPTOM, "vlan-on-vlan")
STACKED_AT = {"first_stacking_hop": "compute:bond0"}
SHORTEST = [
    SYMPTOM,
    "pmtu-outside-instance",
    "capture-path",
    "links-compute",
    "nova-vlan-interface",
    "vlan-on-vlan",
]


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def _clocked(w: Walker) -> list[Event]:
    """The walker's events with one second between each (the walker stamps real time)."""
    return [Event(e.type, e.data, 1000.0 + i, e.seq) for i, e in enumerate(w.events)]


def _finish(w: Walker) -> None:
    w.record_result("links-compute", CheckResult("vlan_on_vlan", "vlan100@vlan20"))
    w.record_result(
        "nova-vlan-interface",
        CheckResult("is_vlan_device", "vlan20", {"vlan_interface": "vlan20"}),
    )


def test_reaching_the_node_without_its_evidence_is_not_right(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags"))  # no stacking hop seen
    _finish(w)
    card = score(graph, _clocked(w), SPEC)
    assert card.reached == "inconclusive"
    assert not card.right
    assert card.points == 0


def test_a_clean_run_scores_full_marks(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags", STACKED_AT))
    _finish(w)
    card = score(graph, _clocked(w), SPEC, now=5.0)
    assert card.shortest_path == SHORTEST
    assert (card.steps, card.shortest, card.skips, card.wrong_turns, card.hints) == (4, 4, 0, 0, 0)
    assert card.right
    assert card.reached == "vlan-on-vlan"
    assert card.seconds == 4.0  # session at t=1000, diagnosis reached at t=1004
    assert card.points == 100
    assert card.penalties() == []


def test_skip_back_and_hint_cost_points(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.skip()  # the MTU probe's fallback is capture-path: on the path, but a skip
    w.back()
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags", STACKED_AT))
    w.record(HINT, node="links-compute", text="run it")
    _finish(w)
    card = score(graph, _clocked(w), SPEC)
    assert (card.skips, card.backs, card.hints, card.wrong_turns) == (1, 1, 1, 0)
    assert card.steps == 5  # skip, then the four checks
    assert card.right
    # 100 - 10 (hint) - 5 (skip) - 3 (one extra step) - 2 (back)
    assert card.points == 80
    assert [what for what, _ in card.penalties()] == [
        "1 hint(s)",
        "1 skip(s)",
        "1 step(s) over the shortest path",
        "1 step(s) back",
    ]


DECOY = """\
tale: decoy
title: Decoy
source: {title: decoy, url: "https://example.invalid/decoy"}
symptoms:
  - {id: decoy-symptom, title: Something else is slow, start: decoy-links}
checks:
  - id: decoy-links
    title: Links
    why: because
    type: link_facts
    hosts: [compute]
    on: {vlan_on_vlan: decoy-dx, vlan_on_base: decoy-dx, no_vlan_devices: decoy-dx}
    fallback: inconclusive
diagnoses:
  - {id: decoy-dx, title: Not it, explanation: not it, conclusive: false,
     requires: [decoy-links.outcome]}
"""


def test_a_blind_pick_of_the_wrong_symptom_is_a_wrong_turn(tmp_path: Path) -> None:
    from engine.playbook.files import playbook_files

    (tmp_path / "decoy.yaml").write_text(DECOY)
    graph = load_valid_graph([*playbook_files(None), tmp_path / "decoy.yaml"])
    w = Walker.start(graph, "decoy-symptom")
    w.record_result("decoy-links", CheckResult("no_vlan_devices", "none"))
    card = score(graph, _clocked(w), SPEC, blind=True)
    assert card.symptom == "decoy-symptom"
    assert card.shortest_path == SHORTEST  # measured from the symptom the drill meant
    assert card.wrong_turns == 2
    assert card.off_path == ["decoy-symptom", "decoy-dx"]
    assert card.reached == "decoy-dx"
    assert not card.right
    assert card.blind


def test_the_wrong_diagnosis_scores_nothing(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("full", "1500 fits"))
    card = score(graph, _clocked(w), SPEC)
    assert card.reached == "path-mtu-ok"
    assert not card.right
    assert card.points == 0
    assert card.wrong_turns == 1


def test_an_unfinished_attempt(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    card = score(graph, _clocked(w), SPEC)
    assert not card.finished
    assert card.seconds is None
    assert card.points == 0


def test_surprise_counts_only_after_the_fault(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("full", "healthy so far"))
    w.back()  # the trainee starts over once the fault is in
    w.record(FAULT_INJECTED, after_seconds=3.0, how="test")
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags", STACKED_AT))
    _finish(w)
    events = _clocked(w)
    card = score(graph, events, SPEC, surprise=True)
    assert card.reached == "vlan-on-vlan"  # the healthy lab's dead end did not count
    assert (card.steps, card.wrong_turns, card.backs) == (4, 0, 0)
    fault = next(e.ts for e in events if e.type == FAULT_INJECTED)
    assert card.seconds == events[-1].ts - fault
    assert card.points == 100


def test_hints_point_along_the_shortest_path(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    assert hint(graph, w, "vlan-on-vlan") == (
        "run pmtu-outside-instance (r): the outcome that matters here is 'reduced'"
    )
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags", STACKED_AT))
    assert hint(graph, w, "vlan-on-vlan").startswith("run links-compute (r)")
    w.record_result("links-compute", CheckResult("vlan_on_vlan", "vlan100@vlan20"))
    w.record_result("nova-vlan-interface", CheckResult("is_base_device", "bond0"))
    assert hint(graph, w, "vlan-on-vlan").startswith("you reached a diagnosis")


def test_history_round_trip_and_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "cloudtales" / "drills.jsonl"
    assert load_history() == []
    base = {
        "drill": "double-vlan",
        "symptom": SYMPTOM,
        "expect": "vlan-on-vlan",
        "reached": "vlan-on-vlan",
        "right": True,
        "steps": 4,
        "shortest": 4,
        "shortest_path": SHORTEST,
        "skips": 0,
        "backs": 0,
        "wrong_turns": 0,
        "hints": 0,
    }
    slow = ScoreCard(**base, seconds=90.0, points=100, ts=1.0)  # type: ignore[arg-type]
    fast = ScoreCard(**base, seconds=40.0, points=100, ts=2.0)  # type: ignore[arg-type]
    worse = ScoreCard(**base, seconds=10.0, points=70, ts=3.0)  # type: ignore[arg-type]
    for card in (slow, fast, worse):
        append_history(card)
    with history_path().open("a") as f:
        f.write('{"drill": "double-vlan", "torn')  # a crash mid-write
    cards = load_history("double-vlan")
    assert [c.ts for c in cards] == [1.0, 2.0, 3.0]
    assert load_history("other") == []
    top = best(cards)
    assert top is not None
    assert top.ts == 2.0  # most points, then fastest


def test_an_attempt_is_scored_once(graph: PlaybookGraph, tmp_path: Path) -> None:
    attempt = DrillAttempt(SPEC, history=tmp_path / "h.jsonl")
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    w.record_result("capture-path", CheckResult("stacked", "2 tags", STACKED_AT))
    _finish(w)
    first = attempt.finish(graph, _clocked(w))
    again = attempt.finish(graph, _clocked(w))
    assert first is again
    assert len(attempt.past()) == 1


def test_doctests() -> None:
    assert doctest.testmod(engine.drill_score).failed == 0
