"""A drill in the TUI: timed and counted, a score card at the diagnosis, a history of attempts.

Over the recorded Double VLAN lab session (what ``cloudtales drill double-vlan``
runs against the real lab)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from textual.widgets import OptionList, Static

from engine.drill_score import DrillAttempt, DrillSpec, load_history
from engine.journal import read_events
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from engine.session import Session
from labs.core.requirements import Requirements, missing
from tui.app import CloudtalesApp
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.score_card import ScoreCardScreen
from tui.screens.symptom_picker import SymptomPickerScreen
from tui.session_cli import Surprise, list_drills, score_lines

SIZE = (80, 24)
SPEC = DrillSpec("double-vlan", "ssh-freezes-on-large-output", "vlan-on-vlan")
META = {"drill": "double-vlan", "healthy": False, "lab_mode": "tc-bpf"}


def _drill_app(
    graph: PlaybookGraph,
    inventory: Inventory,
    runner: ReplayRunner,
    tmp_path: Path,
    attempt: DrillAttempt,
    start: bool = True,
) -> CloudtalesApp:
    journal = tmp_path / "journal.jsonl"
    session = (
        Session.start(graph, inventory, runner, SPEC.symptom, journal, **META) if start else None
    )
    return CloudtalesApp(
        graph=graph,
        inventory=inventory,
        session=session,
        journal_path=journal,
        runner_factory=lambda inv: runner,
        drill=attempt,
        session_meta={**META, "blind": True} if attempt.blind else META,
    )


async def test_a_drill_ends_with_a_score_card(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    history = tmp_path / "drills.jsonl"
    attempt = DrillAttempt(SPEC, history=history)
    app = _drill_app(graph, inventory, runner, tmp_path, attempt)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InvestigationScreen)
        await pilot.press("h")  # a hint: journalled, and it costs points
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        card_screen = app.screen
        assert isinstance(card_screen, ScoreCardScreen)
        card = card_screen.card
        assert card.right
        assert (card.steps, card.shortest, card.skips, card.wrong_turns, card.hints) == (
            4,
            4,
            0,
            0,
            1,
        )
        assert card.points == 90
        text = card_screen.plain
        assert "vlan-on-vlan  [RIGHT]" in text
        assert "steps        4 (shortest path: 4)" in text
        assert "points       90 / 100" in text
        assert "-10  1 hint(s)" in text
        assert "attempt 1" in text
        region = card_screen.query_one("#score-text", Static).region
        assert region.bottom <= SIZE[1]
        assert region.right <= SIZE[0]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DiagnosisScreen)
    hints = [e for e in read_events(tmp_path / "journal.jsonl") if e.type == "hint"]
    assert hints[0].data["text"].startswith("run pmtu-outside-instance (r)")
    (saved,) = load_history("double-vlan", history)
    assert saved.points == 90
    assert json.loads(history.read_text())["reached"] == "vlan-on-vlan"
    assert score_lines(attempt)[0].startswith("score: 90/100 (vlan-on-vlan: right) in ")


async def test_a_second_attempt_with_a_skip_compares_with_the_first(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    history = tmp_path / "drills.jsonl"
    for skip in (False, True):
        attempt = DrillAttempt(SPEC, history=history)
        app = _drill_app(graph, inventory, runner, tmp_path / str(skip), attempt)
        async with app.run_test(size=SIZE) as pilot:
            if skip:
                await pilot.press("s")
                await pilot.pause()
            await pilot.press("a")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, ScoreCardScreen)
            text = app.screen.plain
    assert attempt.card is not None
    assert (attempt.card.skips, attempt.card.points) == (1, 95)
    assert "attempt 2; best 100" in text
    assert "before: 100" in text


async def test_a_blind_drill_hides_the_tale_and_quitting_records_the_attempt(
    graph: PlaybookGraph, inventory: Inventory, runner: ReplayRunner, tmp_path: Path
) -> None:
    history = tmp_path / "drills.jsonl"
    attempt = DrillAttempt(SPEC, blind=True, history=history)
    app = _drill_app(graph, inventory, runner, tmp_path, attempt, start=False)
    async with app.run_test(size=SIZE) as pilot:
        picker = app.screen
        assert isinstance(picker, SymptomPickerScreen)
        options = picker.query_one("#symptoms", OptionList)
        assert options.option_count == len(graph.symptoms())  # every symptom
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert not [p for p in shown if "ssh-freezes-on-large-output" in p]  # no ids
        detail = str(picker.query_one("#symptom-detail", Static).render())
        assert "double-vlan" not in detail  # no tale named
        await pilot.press(*"freeze", "enter")
        await pilot.pause()
        assert isinstance(app.screen, InvestigationScreen)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.action_quit()
    session = next(read_events(tmp_path / "journal.jsonl"))
    assert session.data["blind"] is True
    assert session.data["drill"] == "double-vlan"
    (saved,) = load_history("double-vlan", history)
    assert saved.blind
    assert not saved.finished  # gave up after one step
    assert saved.steps == 1


def test_drill_list_says_what_each_drill_needs(graph: PlaybookGraph) -> None:
    lines = list_drills(graph)
    at = lines.index(next(line for line in lines if line.startswith("double-vlan: ")))
    assert lines[at] == "double-vlan: Double VLAN (ssh-freezes-on-large-output -> vlan-on-vlan)"
    needs = lines[at + 1]
    assert needs.startswith("  needs: root; commands ip, sysctl, sshd")
    assert "clang, tc" in needs
    assert "files /usr/include/bpf/bpf_helpers.h" in needs
    assert lines[at + 2] == "  here: yes"  # root, with the lab packages installed


def test_missing_requirements_name_their_package() -> None:
    req = Requirements(
        tools={"ip": "iproute2", "no-such-tool-xyz": "xyz-utils"},
        files={"/nonexistent/x.h": "libx-dev"},
        python={"no_such_module_xyz": "xyz"},
    )
    assert missing(req, euid=1000) == [
        "root (run with sudo)",
        "no-such-tool-xyz (apt install xyz-utils)",
        "/nonexistent/x.h (apt install libx-dev)",
        "python module no_such_module_xyz (pip install xyz)",
    ]
    assert missing(Requirements(root=True), euid=0) == []


def test_a_surprise_comes_within_the_window() -> None:
    from labs.double_vlan.lab import DoubleVlanLab

    delays = [Surprise(DoubleVlanLab(), 60.0, random.Random(seed)).delay for seed in range(20)]
    assert all(6.0 <= d <= 60.0 for d in delays)
    assert len({round(d) for d in delays}) > 5  # random, not fixed
