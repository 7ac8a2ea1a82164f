"""``cloudtales serve`` in a real browser: Debian's headless Chromium over the DevTools protocol.

The operator's journal is written by another process; ``cloudtales serve JOURNAL``
publishes it with textual-serve; Chromium loads the page and xterm.js renders the
follower. What the terminal shows is read from xterm.js's own buffer: a property
trap (installed before the page's scripts run) catches the ``Terminal`` instance
that textual-serve's page keeps to itself. Keys are typed as real key events; the
journal must not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.tui.test_follow import REPO, Writer
from tui.serve import wait_listening

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
    "--remote-debugging-port=0",
]
# textual-serve's page keeps its xterm.js Terminal in a closure; the page assigns it
# with ``this.terminal = new Terminal(...)``, which goes through this setter
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  get() { return undefined; },
  set(v) {
    Object.defineProperty(this, 'terminal', {value: v, writable: true, configurable: true});
    if (v && v.buffer && v.buffer.active && !window.__term) { window.__term = v; }
  },
});
"""
READ_SCREEN = """(() => {
  const t = window.__term;
  if (!t) { return null; }
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    rows.push(line ? line.translateToString(true) : '');
  }
  return rows.join('\\n');
})()"""
KEYS: dict[str, dict[str, Any]] = {
    "enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "escape": {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
    "?": {"key": "?", "code": "Slash", "windowsVirtualKeyCode": 191, "text": "?", "modifiers": 8},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Writer, Path, str]]:
    """An operator writing a journal, and ``cloudtales serve`` publishing it."""
    journal = tmp_path / "journal.jsonl"
    writer = Writer(journal)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", str(journal), "--port", str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_listening("127.0.0.1", port, server, 20.0)
        yield writer, journal, f"http://127.0.0.1:{port}/"
    finally:
        _stop(server)
        writer.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """Headless Chromium; yields the page target's DevTools websocket URL."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "chromium.log").open("wb"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        active = profile / "DevToolsActivePort"
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert proc.poll() is None, (tmp_path / "chromium.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = json.load(resp)
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A minimal DevTools protocol client (commands only; events are skipped)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=30)
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return dict(msg.get("result", {}))

    async def screen(self) -> str:
        res = await self.call("Runtime.evaluate", expression=READ_SCREEN, returnByValue=True)
        return str(res["result"].get("value") or "")

    async def until(self, condition: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            text = await self.screen()
            if condition(text):
                return text
            assert time.monotonic() < deadline, f"the browser never showed {what}:\n{text}"
            await asyncio.sleep(0.1)

    async def press(self, key: str) -> None:
        spec = KEYS.get(key) or {
            "key": key,
            "code": f"Key{key.upper()}",
            "windowsVirtualKeyCode": ord(key.upper()),
            "text": key,
        }
        await self.call("Input.dispatchKeyEvent", type="keyDown", **spec)
        up = {k: v for k, v in spec.items() if k != "text"}
        await self.call("Input.dispatchKeyEvent", type="keyUp", **up)


@contextlib.asynccontextmanager
async def _page(ws_url: str) -> AsyncIterator[Page]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url, max_msg_size=0) as ws,
    ):
        yield Page(ws)


async def test_followers_see_the_walk_in_a_browser_and_cannot_run_anything(
    served: tuple[Writer, Path, str], chromium: str
) -> None:
    writer, journal, url = served
    writer.do("start")
    writer.do("probe")
    writer.do("probed")
    async with _page(chromium) as page:
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
        await page.call("Page.navigate", url=url)
        text = await page.until(
            lambda t: "-> reduced" in t and "following journal.jsonl" in t, "the decision path"
        )
        assert "1. pmtu-outside-instance" in text
        assert "> 2. capture-path (next)" in text
        assert "(read-only)" in text
        await page.until(lambda t: "icmp_seq=1" in t, "the live pane the operator journalled")

        writer.do("note followers are watching")  # the operator goes on: the page follows
        await page.until(lambda t: "followers are watching" in t, "the operator's new note")

        before = journal.read_bytes()
        await page.call("Runtime.evaluate", expression="document.querySelector('textarea').focus()")
        for key in ("r", "a", "enter", "s", "b", "f", "n", "p"):
            await page.press(key)
        await page.press("?")  # typed after them, so they all reached the follower first
        await page.until(lambda t: "Keys: follow (read-only)" in t, "the help screen")
        await page.press("escape")
        await page.until(lambda t: "Keys: follow" not in t, "the help screen closed")
        after = journal.read_bytes()
        assert after == before, "a browser key changed the operator's journal"
        kinds = [json.loads(line)["type"] for line in after.decode().splitlines()]
        assert kinds.count("check_started") == 1  # only the operator's own
        assert "remedy_run" not in kinds
