"""Following a journal as it grows: incremental reads, torn lines, resets, live samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import CloudtalesError
from engine.journal import Journal, read_events
from engine.journal_follow import LIVE, Follower, JournalTail, LiveSampler
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.results import CheckResult
from engine.walker import Walker

SYMPTOM = "ssh-freezes-on-large-output"


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def _line(seq: int, type_: str, **data: object) -> bytes:
    return (json.dumps({"seq": seq, "ts": 1000.0 + seq, "type": type_, **data}) + "\n").encode()


def test_missing_file_then_growth_reads_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    tail = JournalTail(path)
    assert tail.poll().events == []  # not there yet: a follower may start first
    first = _line(1, "session", symptom=SYMPTOM)
    path.write_bytes(first)
    assert [e.type for e in tail.poll().events] == ["session"]
    assert tail.offset == len(first)
    assert tail.poll().events == []  # nothing new: nothing read
    assert tail.offset == len(first)
    with path.open("ab") as f:
        f.write(_line(2, "note", text="a") + _line(3, "skip", node="x"))
    batch = tail.poll()
    assert [(e.seq, e.type) for e in batch.events] == [(2, "note"), (3, "skip")]
    assert tail.offset == path.stat().st_size


def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    whole = _line(1, "session", symptom=SYMPTOM) + _line(2, "note", text="half written")
    cut = len(whole) - 9
    path.write_bytes(whole[:cut])  # the writer is mid-write
    tail = JournalTail(path)
    assert [e.type for e in tail.poll().events] == ["session"]
    assert tail.pending == cut - len(_line(1, "session", symptom=SYMPTOM))
    with path.open("ab") as f:
        f.write(whole[cut:])
    events = tail.poll().events
    assert [(e.type, e.data["text"]) for e in events] == [("note", "half written")]
    assert tail.pending == 0


def test_a_line_torn_by_a_crash_is_skipped_once_sealed(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        Walker.start(graph, SYMPTOM, j)
    with path.open("ab") as f:
        f.write(b'{"seq": 2, "type": "check_res')  # power cut mid-write
    tail = JournalTail(path)
    assert [e.type for e in tail.poll().events] == ["session"]
    with Journal(path) as j:  # the operator resumes: the torn line is sealed
        w = Walker.resume(graph, read_events(path), j)
        w.skip()
    batch = tail.poll()
    assert batch.skipped == 1
    assert [e.type for e in batch.events] == ["skip"]


def test_truncated_or_replaced_file_resets(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(_line(1, "session", symptom=SYMPTOM) + _line(2, "note", text="old"))
    tail = JournalTail(path)
    assert len(tail.poll().events) == 2
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(_line(1, "session", symptom=SYMPTOM))
    os.replace(replacement, path)  # a new file under the same name
    batch = tail.poll()
    assert batch.reset
    assert [e.type for e in batch.events] == ["session"]
    path.write_bytes(b"")  # truncated
    assert tail.poll().reset
    path.unlink()
    assert tail.poll().reset


def test_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("hello\n")
    with pytest.raises(CloudtalesError, match=r"x.jsonl:1: not a cloudtales journal"):
        JournalTail(path).poll()
    path.write_text('{"seq": 1}\n')
    with pytest.raises(CloudtalesError, match=r"x.jsonl:1: not a journal event"):
        JournalTail(path).poll()


def test_live_sampler_bounds_per_flush_and_per_step() -> None:
    s = LiveSampler(per_flush=3, per_step=5)
    assert s.take() is None
    s.add("compute:bond0", [f"frame {i}" for i in range(10)])
    s.add("controller:bond0", ["one"])
    data = s.take()
    assert data == {
        "sources": {
            "compute:bond0": {"lines": ["frame 7", "frame 8", "frame 9"], "omitted": 7},
            "controller:bond0": {"lines": ["one"], "omitted": 0},
        }
    }
    assert s.take() is None  # nothing new since
    s.add("compute:bond0", ["a", "b", "c", "d"])
    data = s.take()
    assert data is not None
    assert data["sources"]["compute:bond0"] == {"lines": ["c", "d"], "omitted": 2}  # budget 5
    s.add("compute:bond0", ["e"])
    assert s.take() == {"sources": {"compute:bond0": {"lines": [], "omitted": 1}}}
    s.new_step()
    s.add("compute:bond0", ["f"])
    assert s.take() == {"sources": {"compute:bond0": {"lines": ["f"], "omitted": 0}}}


def test_follower_rebuilds_the_walk_and_the_panes(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    follower = Follower(graph, path)
    assert not follower.poll().changed
    assert not follower.started
    j = Journal(path)
    w = Walker.start(graph, SYMPTOM, j, inventory="inv.yaml")
    w.record("check_started", node="pmtu-outside-instance", hosts=["outside"])
    sample = {"outside:ping": {"lines": ["1472 bytes from 10.0.100.5"], "omitted": 2}}
    w.record(LIVE, node="pmtu-outside-instance", sources=sample)
    update = follower.poll()
    assert follower.started
    assert follower.session["inventory"] == "inv.yaml"
    assert follower.running is not None
    assert follower.running.node == "pmtu-outside-instance"
    assert follower.running.hosts == ("outside",)
    assert update.live == [
        ("outside:ping", "1472 bytes from 10.0.100.5"),
        ("outside:ping", "-- 2 more lines not journalled"),
    ]
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496", {"path_mtu": 1496}))
    w.note("seen by the follower")
    update = follower.poll()
    assert update.changed
    assert follower.running is None
    assert follower.walker.state.current == "capture-path"
    assert follower.walker.facts["pmtu-outside-instance.path_mtu"] == 1496
    assert follower.walker.state.notes[-1][1] == "seen by the follower"
    j.close()


def test_follower_survives_events_from_another_playbook(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(
        _line(1, "session", symptom=SYMPTOM)
        + _line(2, "check_result", node="no-such-check", outcome="x")
        + _line(3, "some_future_event", anything=1)
        + _line(4, "skip", node="pmtu-outside-instance")
    )
    follower = Follower(graph, path)
    follower.poll()
    assert len(follower.problems) == 1
    assert "event 2 (check_result)" in follower.problems[0]
    assert follower.walker.state.current == "capture-path"  # the skip still applied


def test_walker_resume_ignores_live_and_unknown_events(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        w = Walker.start(graph, SYMPTOM, j)
        w.record(LIVE, node="pmtu-outside-instance", sources={"a": {"lines": ["x"]}})
        w.record("hint", node="pmtu-outside-instance", text="run it")
        w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
    r = Walker.resume(graph, read_events(path))
    assert r.state.current == "capture-path"
    assert [s.node for s in r.state.steps] == ["pmtu-outside-instance"]


def test_doctests() -> None:
    import doctest

    import engine.report

    assert doctest.testmod(engine.report).failed == 0
