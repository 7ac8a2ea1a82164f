"""The live-pane dialog (``p``) never pre-fills a command built from an invalid value."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input

from tui.screens.modals import PaneCommandModal

BAD = "tcpdump -i eth0;touch $HOME/pwned -n -e"
GOOD = "tcpdump -i bond0 -n -e"


async def prefilled(suggestions: list[str]) -> str:
    app: App[None] = App()
    async with app.run_test() as pilot:
        await app.push_screen(PaneCommandModal(["compute"], "compute", {"compute": suggestions}))
        await pilot.pause()
        return app.screen.query_one("#pane-command", Input).value


async def test_an_invalid_interface_is_not_prefilled() -> None:
    assert await prefilled([BAD, "ip -d link show"]) == "ip -d link show"
    assert await prefilled([BAD]) == ""
    assert await prefilled([GOOD, BAD]) == GOOD
