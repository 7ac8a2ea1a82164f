"""Resume, engine side: alive time, a drill scored again after a resume, panes without a
pane map (headless journals), and journals that do not replay.

The TUI side (a recorded drill cut after every event) is tests/tui/test_resume.py."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

import engine.journal
from engine.drill_score import (
    HINT,
    DrillAttempt,
    DrillSpec,
    ScoreCard,
    append_history,
    clock,
    load_history,
    resumed_attempt,
    score,
)
from engine.errors import CloudtalesError
from engine.journal import HEARTBEAT, RESUMED, Event, Journal, alive_seconds
from engine.journal_follow import LIVE
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from engine.results import CheckResult, ResultTable
from engine.resume_state import PANE_LINES, restore
from engine.session import Session
from engine.walker import Walker

SYMPTOM = "ssh-freezes-on-large-output"
SPEC = DrillSpec("double-vlan", SYMPTOM, "vlan-on-vlan")
INVENTORY = Path(__file__).resolve().parents[1] / "rehearsals" / "double-vlan-faulty"


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def _drill(graph: PlaybookGraph) -> Walker:
    """A drill walked to its diagnosis with a hint, the walker's own events."""
    w = Walker.start(graph, SYMPTOM, drill="double-vlan")
    w.record(HINT, node="pmtu-outside-instance", text="run it")
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    table = ResultTable("same packet", ("packet", "a"), (("1", "seen"),))
    hop = {"first_stacking_hop": "compute:bond0"}
    w.record_result("capture-path", CheckResult("stacked", "2 tags", hop, tables=[table]))
    w.record_result("links-compute", CheckResult("vlan_on_vlan", "vlan100@vlan20"))
    nova = CheckResult("is_vlan_device", "vlan20", {"vlan_interface": "vlan20"})
    w.record_result("nova-vlan-interface", nova)
    return w


def _at(events: list[Event], times: list[float]) -> list[Event]:
    return [Event(e.type, e.data, t, e.seq) for e, t in zip(events, times, strict=True)]


def test_doctests() -> None:
    assert doctest.testmod(engine.journal).failed == 0


def test_alive_seconds_skips_the_gap_before_each_resume() -> None:
    ev = [Event(t, ts=ts) for t, ts in [("session", 0.0), (HEARTBEAT, 5.0), (RESUMED, 900.0)]]
    ev += [Event("note", ts=902.0), Event(RESUMED, ts=5000.0), Event("note", ts=5001.0)]
    assert alive_seconds(ev) == 8.0
    assert clock(ev, now=5011.0) == 18.0
    assert alive_seconds([]) == 0.0


def test_a_resumed_drill_is_timed_alive_only(graph: PlaybookGraph) -> None:
    events = _drill(graph).events  # session, hint, four results
    straight = score(graph, _at(events, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), SPEC)
    late = _at(events, [0.0, 1.0, 2.0, 3.0, 3603.0, 3604.0])  # killed after event 4 ...
    resumed = [*late[:4], Event(RESUMED, {}, 3602.0, 99), *late[4:]]  # ... resumed an hour on
    card = score(graph, resumed, SPEC)
    assert straight.seconds == card.seconds == 5.0
    assert (card.points, card.hints, card.started, card.so_far) == (90, 1, 0.0, 90)


def test_a_resumed_attempt_keeps_one_history_entry(graph: PlaybookGraph, tmp_path: Path) -> None:
    history = tmp_path / "drills.jsonl"
    w = _drill(graph)
    attempt = resumed_attempt(graph, w.events, history)
    assert attempt is not None
    assert attempt.spec == SPEC
    first = attempt.finish(graph, w.events[:3])  # killed before the diagnosis: unfinished
    again = resumed_attempt(graph, w.events, history)
    assert again is not None
    second = again.finish(graph, w.events)  # resumed and finished
    other = DrillAttempt(SPEC, history=history).finish(graph, Walker.start(graph, SYMPTOM).events)
    assert first.started == second.started == w.events[0].ts != 0.0
    cards = load_history("double-vlan", history)
    assert [c.reached for c in cards] == ["vlan-on-vlan", None]  # the first attempt, updated
    assert cards[1].started == other.started
    append_history(ScoreCard.from_dict({**second.to_dict(), "started": 0.0}), history)
    assert len(load_history("double-vlan", history)) == 3  # old cards (no start) never merge


def test_a_journal_that_is_not_a_drill_has_no_attempt(graph: PlaybookGraph) -> None:
    assert resumed_attempt(graph, Walker.start(graph, SYMPTOM).events) is None
    lost = Walker.start(graph, SYMPTOM, drill="no-such-lab").events
    with pytest.raises(CloudtalesError, match="drill 'no-such-lab': no playbook declares it"):
        resumed_attempt(graph, lost)


def _live(sources: dict[str, list[str]], omitted: int = 0, **panes: str) -> dict[str, object]:
    data: dict[str, object] = {
        "node": "capture-path",
        "sources": {s: {"lines": lines, "omitted": omitted} for s, lines in sources.items()},
    }
    if panes:
        data["panes"] = {k.replace("_", ":"): v for k, v in panes.items()}
    return data


def test_panes_without_a_pane_map_are_the_newest_sources(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)  # a headless (autopilot) journal: no "panes"
    for n in range(6):
        w.record(LIVE, **_live({f"host{n}:eth0": [f"line {n}"]}))
    w.record(LIVE, **_live({"host1:eth0": [f"again {i}" for i in range(PANE_LINES + 5)]}, 7))
    state = restore(graph, w.events)
    assert [(p.pane, p.source) for p in state.panes] == [
        ("", "host3:eth0"),
        ("", "host4:eth0"),
        ("", "host5:eth0"),
        ("", "host1:eth0"),
    ]
    host1 = state.panes[-1].lines
    assert len(host1) == PANE_LINES
    assert host1[-1] == f"again {PANE_LINES + 4}"


def test_a_pane_given_to_another_source_starts_empty(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record(LIVE, **_live({"a:eth0": ["a1", "a2"]}, a_eth0="pane-1"))
    w.record(LIVE, **_live({"a:eth0": ["a3"]}, 4, a_eth0="pane-1"))
    assert restore(graph, w.events).panes[0].lines == (
        "a1",
        "a2",
        "-- 4 lines not journalled",
        "a3",
    )
    w.record(LIVE, **_live({}, b_eth0="pane-1"))  # the screen cleared it for b, no lines yet
    (pane,) = restore(graph, w.events).panes
    assert (pane.pane, pane.source, pane.lines) == ("pane-1", "b:eth0", ())


def test_resume_names_the_event_that_does_not_replay(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        Walker.start(graph, SYMPTOM, j, inventory=str(INVENTORY / "inventory.yaml"))
        j.append("check_result", node="no-such-check", outcome="x")
    with pytest.raises(CloudtalesError, match=r"j\.jsonl: event 2 \(check_result\) does not"):
        Session.resume(graph, path, lambda inv: ReplayRunner([]))
    assert [json.loads(x)["type"] for x in path.read_text().splitlines()] == [
        "session",
        "check_result",
    ]  # nothing appended to a journal that could not be resumed


def test_resume_appends_resumed_after_a_torn_line(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        Walker.start(graph, SYMPTOM, j)
    with path.open("ab") as f:
        f.write(b'{"seq": 2, "ts": 1.0, "type": "no')  # kill -9 mid-write
    s = Session.resume(graph, path, lambda inv: ReplayRunner([]), Inventory(name="x", hosts={}))
    s.journal.close()
    assert [e.type for e in s.walker.events] == ["session", RESUMED]
    assert s.walker.events[-1].data == {"after": 1}
    assert restore(graph, s.walker.events).drill is None
