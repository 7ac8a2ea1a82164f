"""The TUI over an offline walk (sosreports): the title says so, the panes show the files
each check read, and the Disappearing Images fixtures reach the diagnosis; at 80x24."""

from __future__ import annotations

from pathlib import Path

from engine.checks.base import LiveLine
from engine.playbook.graph import load_valid_graph
from engine.session import Session
from engine.sources.sosreport import offline_setup
from tui.app import CloudtalesApp
from tui.screens.diagnosis import DiagnosisScreen
from tui.screens.investigation import InvestigationScreen

FIXTURE = Path(__file__).parents[1] / "sosreports" / "disappearing-images-faulty.tar.xz"
PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "disappearing-images.yaml"


async def test_offline_tui_shows_files_read_and_reaches_the_diagnosis(tmp_path: Path) -> None:
    graph = load_valid_graph([PLAYBOOK])
    offline = offline_setup([str(FIXTURE)])
    session = Session.start(
        graph,
        offline.inventory,
        offline.runner,
        "instance-wont-start-backing-missing",
        tmp_path / "j.jsonl",
        **offline.meta(),
    )
    app = CloudtalesApp(
        graph=graph,
        inventory=offline.inventory,
        session=session,
        title="cloudtales (offline: 1 sosreports)",
        runner_factory=lambda _inv: offline.runner,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, InvestigationScreen)
        screen = app.screen
        assert "offline: 1 sosreports" in app.title
        routed: list[LiveLine] = []
        route = screen.route

        def spy(line: LiveLine) -> None:  # every line a pane is given, in order
            routed.append(line)
            route(line)

        screen.route = spy  # type: ignore[method-assign]
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DiagnosisScreen)
    read = [line.text for line in routed if line.source == "sosreports:files read"]
    assert "compute1 nova_log_grep: var/log/nova/nova-compute.log" in read
    assert "compute2 mounts: sos_commands/sos_extras/cloudtales/cloudtales-mountinfo" in read
    assert len(read) == len(offline.sources.reads)  # one line per file read
    assert session.walker.diagnosis is not None
    assert session.walker.diagnosis.id == "imagecache-removed-shared-base"
