"""Walker state machine and the crash-safe journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.errors import CloudtalesError
from engine.journal import Journal, read_events
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.report import render_report
from engine.results import CheckResult, Evidence
from engine.walker import Walker

SYMPTOM = "ssh-freezes-on-large-output"


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def walk_to_diagnosis(w: Walker) -> None:
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496 max", {"path_mtu": 1496}))
    w.record_result(
        "capture-path",
        CheckResult(
            "stacked",
            "2 tags",
            {"stacks": {"20/100": 8}, "first_stacking_hop": "compute:bond0"},
            [Evidence("frames", "20/100 x8", "compute")],
        ),
    )
    w.record_result("links-compute", CheckResult("no_vlan_devices", "none", {"vlan_devices": []}))
    w.record_result(
        "nova-vlan-interface", CheckResult("is_vlan_device", "vlan20", {"vlan_interface": "vlan20"})
    )


def test_walk_follows_outcomes(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    p = w.proposal()
    assert p is not None
    assert p.node == "pmtu-outside-instance"
    assert p.step_number == 1
    assert "MTU" in p.reason
    walk_to_diagnosis(w)
    assert w.done
    assert w.diagnosis is not None
    assert w.diagnosis.id == "vlan-on-vlan"
    assert w.path == [
        SYMPTOM,
        "pmtu-outside-instance",
        "capture-path",
        "links-compute",
        "nova-vlan-interface",
        "vlan-on-vlan",
    ]
    assert dict(w.evidence())["nova-vlan-interface.vlan_interface"] == "vlan20"
    assert w.proposal() is None


def test_reason_mentions_previous_outcome(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "x"))
    p = w.proposal()
    assert p is not None
    assert p.reason.startswith("pmtu-outside-instance found 'reduced'")


def test_skip_follows_fallback_and_back_undoes(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.skip()
    assert w.state.current == "capture-path"
    assert w.state.steps[-1].how == "skipped"
    w.back()
    assert w.state.current == "pmtu-outside-instance"
    assert not w.state.steps
    with pytest.raises(CloudtalesError, match="first step"):
        w.back()


def test_undeclared_outcome_and_wrong_node_are_refused(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    with pytest.raises(CloudtalesError, match="undeclared outcome"):
        w.record_result("pmtu-outside-instance", CheckResult("weird", "x"))
    with pytest.raises(CloudtalesError, match="not the current step"):
        w.record_result("capture-path", CheckResult("stacked", "x"))


def test_manual_fact_answers_a_check(graph: PlaybookGraph) -> None:
    w = Walker.start(graph, SYMPTOM)
    w.set_fact("capture-path.outcome", "stacked")  # known already from an earlier capture
    w.record_result("pmtu-outside-instance", CheckResult("reduced", "x"))
    assert w.state.current == "links-compute"
    assert w.state.steps[-1].how == "answered"
    w.back()  # undo the answered step: it forgets the answer, so it does not re-answer
    assert w.state.current == "capture-path"
    assert "capture-path.outcome" not in w.facts


def test_unknown_symptom(graph: PlaybookGraph) -> None:
    with pytest.raises(CloudtalesError, match="unknown symptom 'nope'"):
        Walker.start(graph, "nope")


def test_resume_restores_state(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        w = Walker.start(graph, SYMPTOM, j)
        w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496", {"path_mtu": 1496}))
        w.note("customer says it started Monday")
        w.set_fact("compute.bond0", "up")
    events = list(read_events(path))
    assert [e.type for e in events] == ["session", "check_result", "note", "fact"]
    r = Walker.resume(graph, events)
    assert r.state.current == "capture-path"
    assert r.facts["pmtu-outside-instance.path_mtu"] == 1496
    assert r.facts["compute.bond0"] == "up"
    assert r.state.notes[0][1] == "customer says it started Monday"


def test_torn_last_line_is_ignored_and_sealed(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        Walker.start(graph, SYMPTOM, j)
    with path.open("ab") as f:
        f.write(b'{"seq": 2, "type": "check_res')  # power cut mid-write
    assert [e.type for e in read_events(path)] == ["session"]
    with Journal(path) as j:
        w = Walker.resume(graph, read_events(path), j)
        w.skip()
    assert [e.type for e in read_events(path)] == ["session", "skip"]


def test_not_a_journal(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("hello\n")
    with pytest.raises(CloudtalesError, match=r"x.jsonl:1: not a cloudtales journal"):
        list(read_events(p))


def test_journal_survives_kill_9(tmp_path: Path) -> None:
    """A process killed with SIGKILL right after recording keeps every recorded event."""
    path = tmp_path / "j.jsonl"
    code = textwrap.dedent(f"""
        import os, sys
        from engine.playbook.graph import load_valid_graph
        from engine.journal import Journal
        from engine.walker import Walker
        from engine.results import CheckResult
        j = Journal({str(path)!r})
        w = Walker.start(load_valid_graph(), {SYMPTOM!r}, j)
        w.record_result("pmtu-outside-instance", CheckResult("reduced", "1496"))
        w.note("before the crash")
        print("recorded", flush=True)
        sys.stdin.readline()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "recorded"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    types = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert types == ["session", "check_result", "note"]


def test_report_reads_like_a_postmortem(graph: PlaybookGraph, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        w = Walker.start(graph, SYMPTOM, j)
        w.note("customer says ps aux hangs since Monday")
        w.record("check_started", node="pmtu-outside-instance", hosts=["outside"])
        walk_to_diagnosis(w)
        w.record("remedy_dry_run", diagnosis="vlan-on-vlan", remedy="set-vlan-interface-to-bond")
        w.note("fix planned for the maintenance window")
    text = render_report(graph, list(read_events(path)))
    assert text.startswith("# Incident report: SSH session freezes")
    assert "## Timeline" in text
    assert "## Root cause" in text
    assert "## Fix" in text
    assert "vlan-on-vlan" in text
    assert "vlan_interface bond0" in text
    assert "20/100 x8" in text  # evidence kept in the journal
    # it reads like a tale: symptom, what was checked and why, evidence, cause, fix, lesson
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[:7] == [
        "## The symptom",
        "## What was checked, and why",
        "## The evidence",
        "## Root cause",
        "## Fix",
        "## Lesson",
        "## Links",
    ]
    assert sections[-2:] == ["## Timeline", "## Notes"]
    assert "Four checks led in " in text  # the opening paragraph tells the story
    assert "`ps aux` or `cat` of a big file hangs" in text  # the symptom's description
    assert "*Why:* pmtu-outside-instance found `reduced`. The four-terminal session" in text
    assert "*How:* `path_mtu` on outside" in text
    assert "- `nova-vlan-interface.vlan_interface`: `vlan20`" in text
    assert "- `capture-path.first_stacking_hop`: `compute:bond0`" in text
    assert "- `links-compute.stacked_devices`: not gathered" in text
    assert "*During the incident:* shown as a dry run at " in text
    # notes: where they were made (the first step; after the diagnosis) and in the timeline
    why_1 = text.index("### 1. ")
    first_note = text.index("> **Note** (")
    assert why_1 < first_note < text.index("### 2. ")
    assert text.index("fix planned for the maintenance window") > text.index("## Root cause")
    assert "**note:** customer says ps aux hangs since Monday" in text


def test_report_shows_the_remedy_as_planned_for_this_incident(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        w = Walker.start(graph, SYMPTOM, j)
        walk_to_diagnosis(w)
        w.record(
            "remedy_dry_run",
            diagnosis="vlan-on-vlan",
            remedy="set-vlan-interface-to-bond",
            hosts=["nc01"],
            commands=["crudini --set /etc/nova/nova.conf DEFAULT vlan_interface bond1"],
        )
    text = render_report(graph, list(read_events(path)))
    assert "On nc01:" in text
    assert "vlan_interface bond1" in text  # what the dry run showed, not the template
