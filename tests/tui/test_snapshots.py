"""Snapshots of every screen at 80x24 and 120x40, in the default theme and in the ANSI
theme of 16-colour terminals, over the recorded Double VLAN session.

One app run per size and theme tours every screen (``drive.tour``) and compares each
with its SVG under __snapshots__ (pytest-textual-snapshot's SVG extension for syrupy;
``pytest tests/tui/test_snapshots.py --snapshot-update`` rewrites them after a change
someone has looked at). On the way, what a snapshot would freeze if it were wrong is
asserted: ``?`` and ``q`` in an uncut footer, a whole title.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from textual.widgets._header import HeaderTitle

from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory
from engine.remote.replay import ReplayRunner
from tests.tui.drive import fixed_journal, tour
from tui.app import CloudtalesApp, FollowApp

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
THEMES = {"default": False, "ansi": True}


def footer_keys(app: CloudtalesApp | FollowApp) -> list[str]:
    """The keys the footer shows, each whole and inside the screen."""
    shown = []
    for key in app.screen.query_one(Footer).query(FooterKey):
        region = key.region
        if region.width == 0:
            continue
        assert region.right <= app.size.width, f"{key.key_display} cut at {region}"
        assert region.width >= len(key.key_display) + len(key.description)
        shown.append(key.key_display)
    return shown


def title_text(app: CloudtalesApp | FollowApp) -> str:
    header = app.screen.query_one(HeaderTitle)
    plain = str(header.render())
    assert len(plain) <= header.region.width, f"title {plain!r} wider than {header.region}"
    assert "…" not in plain
    return plain


def check_frame(app: CloudtalesApp | FollowApp, name: str) -> None:
    if name in ("help", "score-card"):  # dialogs: their keys are in their border
        box = app.screen.query_one(".modal")
        assert "esc" in str(box.border_subtitle) or "q:" in str(box.border_subtitle)
        assert box.region.right <= app.size.width
        assert box.region.bottom <= app.size.height
        return
    keys = footer_keys(app)
    assert "?" in keys, name
    assert "q" in keys, name
    assert title_text(app).startswith("cloudtales")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
async def test_every_screen(
    graph: PlaybookGraph,
    inventory: Inventory,
    runner: ReplayRunner,
    tmp_path: Path,
    snapshot: SnapshotAssertion,
    size: str,
    theme: str,
) -> None:
    svg = snapshot.use_extension(SVGImageExtension)
    journal = tmp_path / "journal.jsonl"
    app = CloudtalesApp(
        graph=graph,
        inventory=inventory,
        journal_path=journal,
        runner_factory=lambda inv: runner,
        ansi=THEMES[theme],
    )
    seen = []

    async def shot(name: str) -> None:
        check_frame(app, name)
        got = app.export_screenshot()
        (tmp_path / f"{name}.svg").write_text(got)  # to look at when it differs
        assert svg(name=f"{name}-{size}-{theme}") == got
        seen.append(name)

    async with app.run_test(size=SIZES[size]) as pilot:
        await tour(app, pilot, shot, tmp_path)
    assert seen == [
        "picker", "investigation", "help", "packets", "packet-detail", "diagnosis", "score-card",
    ]  # fmt: skip

    follower = FollowApp(graph, fixed_journal(journal, tmp_path / "followed.jsonl"), poll=0.05)
    follower.ansi = THEMES[theme]
    if THEMES[theme]:
        follower.theme = "ansi-dark"
    async with follower.run_test(size=SIZES[size]) as pilot:
        await pilot.pause(0.3)
        follower.pop_screen()  # the walk ended: its diagnosis is on top; the walk first
        await pilot.pause()
        check_frame(follower, "follow")
        got = follower.export_screenshot()
        (tmp_path / "follow.svg").write_text(got)
        assert svg(name=f"follow-{size}-{theme}") == got
