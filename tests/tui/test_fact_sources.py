"""A fact the session set from the OpenStack API (``--server``) is observed, not the
operator's: it must not be marked "(you)" nor counted with the operator's facts, and a
resumed journal must say the same."""

from __future__ import annotations

from pathlib import Path

from engine.journal import Journal, read_events
from engine.playbook.graph import load_valid_graph
from engine.walker import Walker
from tui.widgets.facts_panel import facts_text


def test_api_facts_are_observed_and_operator_facts_are_the_operators(tmp_path: Path) -> None:
    graph = load_valid_graph()
    path = tmp_path / "j.jsonl"
    w = Walker.start(graph, "ssh-freezes-on-large-output", Journal(path))
    w.set_fact("server.host", "compute-2", source="api")
    w.set_fact("compute.bond0_state", "down")  # the operator's, as `f` sets it
    assert w.operator_facts == {"compute.bond0_state"}
    assert w.facts["server.host"] == "compute-2"
    panel = facts_text(w).plain
    assert "server.host = compute-2 (api)" in panel
    assert "compute.bond0_state = down (you)" in panel
    resumed = Walker.resume(graph, read_events(path))
    assert resumed.operator_facts == {"compute.bond0_state"}
    assert "server.host = compute-2 (api)" in facts_text(resumed).plain
