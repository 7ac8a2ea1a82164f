"""Pick the symptom, run a step, see packets in a pane, reach the diagnosis; at 80x24."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, OptionList

from engine.remote.replay import ReplayRunner
from tui.app import CloudtalesApp
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.modals import ConfirmModal
from tui.screens.symptom_picker import SymptomPickerScreen
from tui.widgets.decision_path import DecisionPath
from tui.widgets.live_pane import LivePane
from tui.widgets.step_panel import StepPanel

SIZE = (80, 24)


async def _settle(app: CloudtalesApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _start_investigation(app: CloudtalesApp, pilot) -> InvestigationScreen:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, SymptomPickerScreen)
    await pilot.press(*"freeze")
    options = app.screen.query_one("#symptoms", OptionList)
    assert options.option_count == 1
    assert options.get_option_at_index(0).id == "ssh-freezes-on-large-output"
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, InvestigationScreen)
    return app.screen


async def test_fuzzy_filter_ranks_and_hides(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        options = app.screen.query_one("#symptoms", OptionList)
        assert options.option_count >= 1
        await pilot.press(*"zzzqqq")
        assert options.option_count == 0
        app.screen.query_one("#filter", Input).value = ""
        await pilot.press(*"ps aux")  # a keyword of the double-vlan symptom
        assert options.get_option_at_index(0).id == "ssh-freezes-on-large-output"


async def test_run_a_step_then_packets_in_panes_then_diagnosis(
    make_app, runner: ReplayRunner, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _start_investigation(app, pilot)
        assert "Probe the path MTU from outside" in screen.query_one(StepPanel).plain

        await pilot.press("r")  # step 1: the path-MTU sweep from outside
        await _settle(app, pilot)
        assert screen.walker.facts["pmtu-outside-instance.outcome"] == "reduced"
        assert screen.walker.facts["pmtu-outside-instance.path_mtu"] == 1496
        assert runner.commands("outside"), "the sweep ran on the outside host"
        assert screen.walker.proposal().node == "capture-path"  # type: ignore[union-attr]

        await pilot.press("r")  # step 2: tcpdump on controller and compute at once
        await _settle(app, pilot)
        panes = {p.source: p for p in screen.query(LivePane) if p.source}
        bond_panes = [p for src, p in panes.items() if src.endswith(":bond0")]
        assert {p.source for p in bond_panes} == {"controller:bond0", "compute:bond0"}
        for pane in bond_panes:
            text = pane.text
            assert "vlan 20, vlan 100" in text  # decoded 802.1Q stack, outer tag first
            assert pane.anomalies > 0  # the oversize double-tagged frames are flagged
        assert screen.walker.facts["capture-path.outcome"] == "stacked"

        await pilot.press("a")  # autopilot the rest
        await _settle(app, pilot)
        assert isinstance(app.screen, DiagnosisScreen)
        text = app.screen.plain
        assert "vlan-on-vlan" in text
        assert "DRY RUN - nothing has been run." in text
        assert "crudini --set /etc/nova/nova.conf DEFAULT vlan_interface bond0" in text

    events = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session"
    assert kinds.count("check_result") == 4
    assert "remedy_dry_run" in kinds


async def test_remedy_needs_its_id_typed(make_app, runner: ReplayRunner) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _start_investigation(app, pilot)
        await pilot.press("a")
        await _settle(app, pilot)
        assert isinstance(app.screen, DiagnosisScreen)
        before = len(runner.calls)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(*"yes", "enter")  # not the remedy id: refused
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")
        await _settle(app, pilot)
        assert isinstance(app.screen, DiagnosisScreen)
        assert len(runner.calls) == before, "nothing ran on any host"


async def test_skip_and_back_move_along_the_graph(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _start_investigation(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert screen.walker.proposal().node == "capture-path"  # type: ignore[union-attr]
        path_text = screen.query_one(DecisionPath).plain
        assert "skipped" in path_text
        await pilot.press("b")
        await pilot.pause()
        assert screen.walker.proposal().node == "pmtu-outside-instance"  # type: ignore[union-attr]


async def test_palette_opens_an_adhoc_pane(make_app, runner: ReplayRunner) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _start_investigation(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"open on compute")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        command = app.screen.query_one("#pane-command", Input)
        command.value = "ip -s link show bond0"
        await pilot.press("enter")
        await _settle(app, pilot)
        assert ("compute", "ip -s link show bond0", "stream_lines") in [
            tuple(c) for c in runner.calls
        ]
        source = "compute: ip -s link show bond0"
        pane = next(p for p in screen.query(LivePane) if p.source == source)
        assert "123456" in pane.text


async def test_packet_table_after_the_capture_step(make_app) -> None:  # type: ignore[no-untyped-def]
    from tui.screens.packets import PacketTablesScreen
    from tui.widgets.correlation_table import CorrelationTable

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _start_investigation(app, pilot)
        await pilot.press("t")  # nothing captured yet: just a notice
        await pilot.pause()
        assert app.screen is screen
        for _ in range(2):  # the MTU sweep, then the capture on controller and compute
            await pilot.press("r")
            await _settle(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, PacketTablesScreen)
        table = app.screen.query_one(CorrelationTable)
        assert app.screen.focused is table  # the arrows work at once
        points = ["outside:eth0", "controller:bond0", "compute:bond0"]
        cells = []
        for point in points:  # 80 columns: one capture point per page, ] turns the page
            labels = [str(col.label) for col in table.columns.values()]
            assert labels == ["packet", point, "last seen", "verdict"]
            cells += [c.plain for n in range(table.row_count) for c in table.get_row_at(n)]
            await pilot.press("right_square_bracket")
            await pilot.pause()
        assert table.row_count > 0
        assert any("[20,100]" in c for c in cells)  # the reply's stacked tags at a hop
        assert "lost after controller:bond0" in cells  # the 1522-byte replies never get out
        assert table.lost_rows
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
