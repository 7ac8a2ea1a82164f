"""Start-up: time from exec to the first paint of a known string, in tmux.

Run on demand (never in CI): ``.venv/bin/python bench/bench_startup.py`` (needs tmux).

What runs, each ``--runs`` times (median reported, min and max shown):
  - ``bare Textual app``: a minimal ``App`` that composes one ``Label`` (the anchor:
    what any Textual app costs on this machine, measured the same way);
  - ``investigate -i INV``: ``cloudtales investigate -i INV`` up to the symptom picker
    (INV is a shipped rehearsal inventory; nothing connects to its hosts before a
    symptom is chosen);
  - ``--help``: ``cloudtales --help`` run to exit (no terminal needed, so no tmux).

How. One private tmux server (120x40 windows) driven over one control-mode connection
(as bench/bench_panes.py). For each run: t0 just before ``new-window 'exec CMD'`` is
sent; then ``capture-pane`` is polled every ~2 ms until the window shows the known
string; first paint = that moment - t0. It includes tmux forking the shell that execs
the command, Python's start, every import, building the screen, and the terminal
parsing the frame, as a user sees it. Runs alternate between the targets, so a burst of
load on the machine hits all of them alike.

Byte code is compiled first (``compileall`` over engine/ and tui/):
an installed package has its ``.pyc`` files, while a checkout under
``PYTHONDONTWRITEBYTECODE`` (set on the CI machine kind) compiles every edited module
from source on each start, which the bare Textual app (its ``.pyc`` come with the
wheel) never pays.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_panes import Tmux, _tmux_start  # noqa: E402  (a sibling script, not a package)

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "tests" / "rehearsals" / "double-vlan-faulty" / "inventory.yaml"
BARE_MARK = "BARE-TEXTUAL-APP-READY"
PICKER_MARK = "What does the incident look like?"
BARE_APP = f"""
from textual.app import App
from textual.widgets import Label
class Bare(App):
    def compose(self):
        yield Label({BARE_MARK!r})
Bare().run()
"""


def _first_paint(tmux: Tmux, command: str, mark: str, window: str, timeout: float) -> float:
    """Seconds from sending ``new-window`` to the mark on the window's screen."""
    t0 = time.perf_counter()
    tmux.cmd(f"new-window -d -t bench: -n {window} {_quote(f'exec {command}')}")
    deadline = t0 + timeout
    target = f"bench:{window}"
    while time.perf_counter() < deadline:
        if any(mark in row for row in tmux.cmd(f"capture-pane -p -t {target}")):
            seen = time.perf_counter() - t0
            tmux.cmd(f"kill-window -t {target}")
            return seen
        time.sleep(0.002)
    shown = "\n".join(tmux.cmd(f"capture-pane -p -t {target}"))
    tmux.cmd(f"kill-window -t {target}")
    raise RuntimeError(f"{command}: {mark!r} not painted within {timeout:g} s; screen:\n{shown}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _help_time(cloudtales: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([*cloudtales, "--help"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(runs: int, timeout: float) -> dict[str, list[float]]:
    python = sys.executable
    cloudtales = [str(Path(python).parent / "cloudtales")]
    bare = Path(f"/tmp/cloudtales-bench-bare-{os.getpid()}.py")
    bare.write_text(BARE_APP)
    targets = {
        "bare Textual app (one Label)": (f"{python} {bare}", BARE_MARK),
        "investigate -i INV: symptom picker": (
            f"{' '.join(cloudtales)} investigate -i {INVENTORY}",
            PICKER_MARK,
        ),
    }
    sock = f"cloudtales-startup-{os.getpid()}"
    tm = ["tmux", "-L", sock]
    env_cmd = f"cd {ROOT} && sleep 3600"
    # the control client attaches to an idle session, so the measured windows' output
    # is not streamed to it (as in bench_panes)
    _tmux_start([*tm, "new-session", "-d", "-s", "ctl", "-x", "80", "-y", "5", "sleep 3600"])
    _tmux_start([*tm, "new-session", "-d", "-s", "bench", "-x", "120", "-y", "40", env_cmd])
    tmux = Tmux(sock, "ctl")
    results: dict[str, list[float]] = {name: [] for name in targets}
    results["cloudtales --help (to exit)"] = []
    try:
        for command, mark in targets.values():  # warm the page cache once each
            _first_paint(tmux, f"sh -c {_quote(f'cd {ROOT} && exec {command}')}", mark, "w", 60)
        for i in range(runs):
            for what, (command, mark) in targets.items():
                cmd = f"sh -c {_quote(f'cd {ROOT} && exec {command}')}"
                results[what].append(_first_paint(tmux, cmd, mark, f"r{i}", timeout))
            results["cloudtales --help (to exit)"].append(_help_time(cloudtales))
    finally:
        tmux.close()
        subprocess.run([*tm, "kill-server"], check=False, stderr=subprocess.DEVNULL)
        bare.unlink(missing_ok=True)
    return results


def rows(results: dict[str, list[float]]) -> list[dict[str, Any]]:
    bare = statistics.median(results["bare Textual app (one Label)"]) * 1000
    out = []
    for what, times in results.items():
        value = statistics.median(times) * 1000
        anchored = what.startswith("investigate")
        out.append(
            {
                "what": f"startup {what}",
                "value": round(value, 1),
                "unit": "ms",
                "anchor": "bare Textual app (one Label), same method" if anchored else None,
                "anchor_value": round(bare, 1) if anchored else None,
                "ratio": round(value / bare, 2) if anchored else None,
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per target (median reported)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a paint")
    ap.add_argument("--json-out", metavar="FILE", help="also write the rows as JSON to FILE")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("bench_startup: tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 1
    for tree in ("engine", "tui"):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / tree)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f}; tmux 120x40, {args.runs} runs\n")
    results = measure(args.runs, args.timeout)
    head = f"{'what':<40} {'median ms':>9} {'min ms':>7} {'max ms':>7}"
    print(head)
    print("-" * len(head))
    for what, times in results.items():
        ms = [t * 1000 for t in times]
        print(f"{what:<40} {statistics.median(ms):>9.0f} {min(ms):>7.0f} {max(ms):>7.0f}")
    print("\nfirst paint: exec to the known string on tmux's screen; --help: exec to exit.")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json_out:
        doc = {"bench": "startup", "rows": rows(results)}
        Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
