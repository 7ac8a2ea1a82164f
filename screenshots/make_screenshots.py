"""Regenerate the README screenshots: the real app, driven by the Pilot, over a recorded
Double VLAN lab session (tests/rehearsals/double-vlan-faulty), so no lab is needed.

    .venv/bin/python screenshots/make_screenshots.py      # or: make screenshots
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.playbook.graph import load_valid_graph  # noqa: E402
from engine.rehearsal import load_rehearsal, rehearsal_runner  # noqa: E402
from engine.remote.inventory import load_inventory  # noqa: E402
from engine.remote.replay import ReplayRunner, load_recordings  # noqa: E402
from engine.session import Session  # noqa: E402
from tests.tui.drive import tour  # noqa: E402
from tui.app import CloudtalesApp  # noqa: E402

REHEARSAL = REPO / "tests" / "rehearsals" / "double-vlan-faulty"
OUT = REPO / "screenshots"


def _runner() -> ReplayRunner:
    entries = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    return ReplayRunner(load_recordings(entries, REHEARSAL))


def _app(journal: Path) -> CloudtalesApp:
    runner = _runner()
    return CloudtalesApp(
        graph=load_valid_graph(),
        inventory=load_inventory(REHEARSAL / "inventory.yaml"),
        journal_path=journal,
        title="cloudtales drill: Double VLAN",
        runner_factory=lambda inv: runner,
    )


async def shoot(size: tuple[int, int], suffix: str) -> list[Path]:
    """Every screen, on the same tour of the recorded session as the snapshot tests
    (tests/tui/drive.py): picker, investigation, help, packets, packet detail,
    diagnosis, score card."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp) / "journal.jsonl")
        async with app.run_test(size=size) as pilot:

            async def save(name: str) -> None:
                path = OUT / f"{name}{suffix}.svg"
                app.save_screenshot(filename=path.name, path=str(OUT))
                written.append(path)

            await tour(app, pilot, save, Path(tmp))
    return written


TALES: tuple[str, ...] = ("the-issue", "disappearing-images", "valentines", "rabbit-hole", "havana")
TALES += ("metadata", "security-group")
TALES += ("overlay-mtu", "dns", "conntrack-full", "neighbour-overflow")


async def shoot_tale(tale: str, size: tuple[int, int] = (120, 36)) -> Path:
    """A tale's diagnosis screen, reached by autopilot over its recorded faulty lab."""
    rehearsal = REPO / "tests" / "rehearsals" / f"{tale}-faulty"
    spec = load_rehearsal(rehearsal)
    runner = rehearsal_runner(spec).runner  # sources.yaml first: never a live host or API
    graph = load_valid_graph()
    inventory = load_inventory(spec.inventory)
    with tempfile.TemporaryDirectory() as tmp:
        session = Session.start(graph, inventory, runner, spec.symptom, Path(tmp) / "j.jsonl")
        app = CloudtalesApp(
            graph=graph, inventory=inventory, session=session, title=f"cloudtales drill: {tale}"
        )
        async with app.run_test(size=size) as pilot:
            await pilot.press("a")
            await app.workers.wait_for_complete()
            await pilot.pause()
            path = OUT / f"diagnosis-{tale}.svg"
            app.save_screenshot(filename=path.name, path=str(OUT))
    return path


async def main() -> None:
    written = await shoot((120, 36), "")
    written += await shoot((80, 24), "-80x24")
    for tale in TALES:
        written.append(await shoot_tale(tale))
    for path in written:
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
