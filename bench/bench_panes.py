"""Live-pane throughput: four real ``LivePane`` widgets fed 10,000 lines/s each.

Run on demand (never in CI): ``.venv/bin/python bench/bench_panes.py`` (needs tmux).

What runs (``bench/pane_apps.py``). ``--screen grid`` (the default): a small Textual app
lays out a 2x2 grid of the app's real pane widget, ``tui.widgets.live_pane.LivePane``,
styled by the real ``tui/app.tcss``. ``--screen investigation``: the real app on the real
investigation screen (the recorded Double VLAN session) with a check running whose
lines go through the screen's ``route``, as a check's ``emit`` does. Each pane is fed by
its own asyncio worker on the app's event loop, the way the app feeds panes (a check's
``emit`` and ``LivePane._stream`` both call ``LivePane.push`` from the loop): every 10 ms
it pushes the lines due by then for the target rate (default 10,000 lines/s per pane),
from a pool of ~110-character tcpdump-style lines, 1 in 100 flagged as an anomaly.
``--producer thread`` (grid) uses one OS thread per pane instead. The panes flush on
the app's 30 Hz clock (one ``LiveLog.write_lines`` per pane and tick). A label at the top
shows ``KEY#NNNN#``; the ``x`` binding increments it (a layout pass).

How it is measured. The app runs in a tmux pane (200x50) on a private tmux socket, so
the terminal emulator parses every byte Textual writes, as a user's terminal would.
The driver talks to tmux over one control-mode connection (``tmux -C``, attached to
a separate idle session, so no pane output is streamed to it and no process is spawned
per poll). For each of ~50 presses, spaced randomly over ~10 s:
  t0 = before ``send-keys x``; then ``capture-pane`` of the top rows is polled every
  ~2 ms until tmux's screen holds the new ``KEY#NNNN#``; latency = that moment - t0.
So latency covers tmux delivering the key, Textual handling it and repainting, and
tmux parsing the output backlog up to the new label. The polling adds up to ~2 ms plus
one control-mode round trip (its median is printed). The ``idle`` row (no feed) is the
floor of the method. CPU% = (utime + stime) delta of the app process from
``/proc/PID/stat`` over the measured window, as a share of one core (the producers run
in the same process, as in the app); the tmux server's CPU is shown apart. RSS is
sampled from ``/proc/PID/status`` between presses. ``written/s`` counts lines pushed
into the panes; ``dropped`` counts lines the panes' bounded deques discarded.
``--profile FILE`` runs the fed app under cProfile (slower) and prints where time went.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a sibling script, not a package
from pane_apps import MARK, PANES, run_grid, run_investigation  # noqa: E402


# ---- the driver ---------------------------------------------------------------------------
class Tmux:
    """One control-mode connection to a private tmux server."""

    def __init__(self, socket: str, session: str) -> None:
        self.base = ["tmux", "-L", socket]
        self.proc = subprocess.Popen(
            [*self.base, "-C", "attach", "-t", session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        if self.cmd("display -p sync") != ["sync"]:
            raise RuntimeError("tmux control mode: unexpected reply to a sync")

    def cmd(self, line: str) -> list[str]:
        """Send one command; its output lines (notifications are skipped)."""
        self._send(line)
        return self._reply(line)

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def _reply(self, line: str) -> list[str]:
        """The next reply block to one of our commands (``%begin T N 1``). Blocks with
        flags 0 (the attach itself, which may arrive late) and notifications are skipped."""
        assert self.proc.stdout is not None
        out: list[str] = []
        state = "outside"  # -> "ours" or "other" inside a block
        while True:
            text = self.proc.stdout.readline()
            if not text:
                raise RuntimeError(f"tmux control connection closed during {line!r}")
            text = text.rstrip("\n")
            if state == "outside":
                if text.startswith("%begin"):
                    state = "ours" if text.split()[-1] == "1" else "other"
                continue
            if text.startswith(("%end", "%error")):
                if state == "other":
                    state = "outside"
                    continue
                if text.startswith("%error"):
                    raise RuntimeError(f"tmux: {line!r}: {out}")
                return out
            if state == "ours":
                out.append(text)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=5)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def _host_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _tmux_start(argv: list[str]) -> None:
    """``tmux new-session``; retried, as a fresh server once exited during start-up here."""
    for attempt in range(3):
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode == 0:
            return
        time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _wait_for(tmux: Tmux, marker: str, deadline: float, step: float = 0.002) -> float | None:
    while time.perf_counter() < deadline:
        if any(marker in row for row in tmux.cmd("capture-pane -p -t app -S 0 -E 2")):
            return time.perf_counter()
        time.sleep(step)
    return None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    rate: int,
    producer: str,
    screen: str,
    presses: int,
    seconds: float,
    profile: str | None = None,
    fed: int = PANES,
) -> dict[str, Any]:
    sock = f"cloudtales-bench-{os.getpid()}"
    out = Path(f"/tmp/{sock}-{rate}.json")
    out.unlink(missing_ok=True)
    app_cmd = (
        f"exec {sys.executable} {Path(__file__).resolve()} --app --rate {rate} "
        f"--producer {producer} --screen {screen} --fed {fed} --out {out}"
        + (f" --profile {profile}" if profile else "")
    )
    tm = ["tmux", "-L", sock]
    _tmux_start([*tm, "new-session", "-d", "-s", "ctl", "-x", "80", "-y", "5", "sleep 3600"])
    _tmux_start([*tm, "new-session", "-d", "-s", "app", "-x", "200", "-y", "50", app_cmd])
    subprocess.run([*tm, "set-option", "-t", "app", "remain-on-exit", "on"], check=True)
    tmux = Tmux(sock, "ctl")
    try:
        pid = int(tmux.cmd("display -p -t app '#{pane_pid}'")[0])
        server = int(tmux.cmd("display -p '#{pid}'")[0])
        if _wait_for(tmux, MARK.format(0), time.perf_counter() + 30, 0.05) is None:
            shown = "\n".join(tmux.cmd("capture-pane -p -t app"))
            raise RuntimeError(f"the app did not paint within 30 s; its screen:\n{shown}")
        time.sleep(1.5)  # warm-up: the feed reaches its rate, the panes fill
        rtts = []
        for _ in range(20):
            t = time.perf_counter()
            tmux.cmd("capture-pane -p -t app -S 0 -E 2")
            rtts.append(time.perf_counter() - t)
        clk = os.sysconf("SC_CLK_TCK")
        c0, s0, h0, w0 = _cpu_ticks(pid), _cpu_ticks(server), _host_ticks(), time.perf_counter()
        rss = [_rss_mb(pid)]
        lat: list[float] = []
        sent: list[float] = []
        seen_at: list[float] = []
        missed = 0
        gap = seconds / presses
        rng = random.Random(1)
        for i in range(1, presses + 1):
            time.sleep(rng.uniform(0.5 * gap, 1.5 * gap) * 0.8)
            rss.append(_rss_mb(pid))
            t0 = time.perf_counter()
            tmux.cmd("send-keys -t app x")
            seen = _wait_for(tmux, MARK.format(i), t0 + 5)
            if seen is None:
                missed += 1
            else:
                lat.append(seen - t0)
                sent.append(t0)
                seen_at.append(seen)
        c1, s1, h1, w1 = _cpu_ticks(pid), _cpu_ticks(server), _host_ticks(), time.perf_counter()
        rss.append(_rss_mb(pid))
        final = tmux.cmd("capture-pane -p -t app")
        tmux.cmd("send-keys -t app z")
        deadline = time.monotonic() + 15
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        app_stats = json.loads(out.read_text()) if out.exists() else {}
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # let it exit by itself (and write its profile)
    finally:
        tmux.close()
        subprocess.run([*tm, "kill-server"], check=False, stderr=subprocess.DEVNULL)
        Path(f"/tmp/tmux-{os.getuid()}/{sock}").unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    window = w1 - w0
    return {
        "rate": rate,
        "fed": fed if rate else 0,
        "producer": producer if rate else "-",
        "screen": screen,
        "window": window,
        "lat": lat,
        "missed": missed,
        "rtt": statistics.median(rtts),
        "cpu": (c1 - c0) / clk / window * 100,
        "tmux_cpu": (s1 - s0) / clk / window * 100,
        "host_busy": (h1[0] - h0[0]) / max(1, h1[1] - h0[1]) * 100,
        "others": ((h1[0] - h0[0]) - (c1 - c0) - (s1 - s0)) / clk / window * 100,
        "rss": rss,
        "visible": sum("ICMP echo" in row for row in final),
        "app": app_stats,
        "split": _split(sent, seen_at, app_stats),
        "sent": sent,
        "seen": seen_at,
    }


def _split(sent: list[float], seen: list[float], app: dict[str, Any]) -> dict[str, str]:
    """Median/p95 ms of each leg of a press: sent -> handled by the app -> its frame
    handed to the terminal -> seen on tmux's screen (presses matched in order)."""
    handled, written = app.get("handled", []), app.get("written", [])
    legs: dict[str, list[float]] = {"key": [], "paint": [], "terminal": []}
    pairs = zip(sent, seen, handled[-len(sent) :], written[-len(sent) :], strict=False)
    for t0, t1, h, w in pairs:
        if t0 <= h <= w <= t1:
            legs["key"].append(h - t0)
            legs["paint"].append(w - h)
            legs["terminal"].append(t1 - w)
    return {
        k: f"{statistics.median(v) * 1000:.1f}/{_percentile(v, 0.95) * 1000:.1f}"
        for k, v in legs.items()
        if v
    }


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'feed':<22} {'presses':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
        f"{'app CPU':>7} {'tmux CPU':>8} {'others':>6} {'RSS start/max/end':>17} "
        f"{'pushed/s':>8} {'dropped':>7} {'flushed/s':>9} {'tick p95/max ms':>15}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        lat = [x * 1000 for x in r["lat"]] or [float("nan")]
        app = r["app"]
        secs = app.get("seconds") or 1
        pushed = sum(app.get("lines", [0])) / secs
        dropped = sum(app.get("dropped", [0]))
        where = "" if r["screen"] == "grid" else " inv."
        feed = f"{r['fed']} x {r['rate']:,}/s ({r['producer']})" if r["rate"] else "idle (no feed)"
        feed += where
        gaps = [g * 1000 for g in app.get("tick_gaps", [])] or [float("nan")]
        ticks = f"{_percentile(gaps, 0.95):.0f}/{max(gaps):.0f}"
        rss = f"{r['rss'][0]:.0f}/{max(r['rss']):.0f}/{r['rss'][-1]:.0f} MB"
        ok = f"{len(r['lat'])}" + (f" ({r['missed']} missed)" if r["missed"] else "")
        print(
            f"{feed:<22} {ok:>7} {_percentile(lat, 0.5):>7.1f} {_percentile(lat, 0.95):>7.1f} "
            f"{max(lat):>7.1f} {r['cpu']:>6.0f}% {r['tmux_cpu']:>7.0f}% {r['others']:>5.0f}% "
            f"{rss:>17} {pushed:>8,.0f} {dropped:>7,} {app.get('flush_events', 0) / secs:>9.0f} "
            f"{ticks:>15}"
        )
    print(
        "\nCPU columns: % of one core over the measured window; 'others' = every other process"
        "\non the host (other work competes for the same cores). flushed/s = PaneFlushed"
        "\nmessages handled (they collapse when queued, so at most 4 x 30/s). tick = the gap"
        "\nbetween two flushes of the panes' 30 Hz clock: a pushed line waits at most one gap"
        "\nbefore it is written, then one paint (the key->paint columns) before it is seen."
    )
    for r in results:
        app = r["app"]
        print(
            f"  {r['rate']:,}/s: window {r['window']:.1f}s (app ran {app.get('seconds', 0):.1f}s); "
            f"lines per pane {app.get('lines')}; kept per Log {app.get('log_lines')};\n"
            f"    tcpdump lines on screen at the end: {r['visible']}; "
            f"control-mode poll round trip {r['rtt'] * 1000:.2f} ms"
        )
        split = r["split"]
        if split:
            legs = ", ".join(f"{k} {v}" for k, v in split.items())
            print(f"    key->paint legs p50/p95 ms: {legs} (sent->handled->written->seen)")


def json_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows ``make bench`` combines: key->paint and CPU against the LAB-NOTES design."""
    rows: list[dict[str, Any]] = []

    def row(
        what: str,
        value: float,
        unit: str,
        anchor: str | None = None,
        anchor_value: float | None = None,
    ) -> None:
        ratio = value / anchor_value if anchor_value else None
        rows.append(
            {
                "what": what,
                "value": round(value, 2),
                "unit": unit,
                "anchor": anchor,
                "anchor_value": anchor_value,
                "ratio": ratio and round(ratio, 2),
            }
        )

    lab = "LAB-NOTES: deque + 30 Hz flush + Log subclass (4 x 10k/s)"
    for r in results:
        lat = [x * 1000 for x in r["lat"]] or [float("nan")]
        app = r["app"]
        feed = f"{r['fed']} x {r['rate']:,}/s" if r["rate"] else "idle"
        if r["screen"] != "grid":
            feed = f"investigation {feed}"
        four = r["rate"] and r["fed"] == PANES and r["screen"] == "grid"
        row(f"panes {feed}: key->paint p50", _percentile(lat, 0.5), "ms")
        row(
            f"panes {feed}: key->paint p95",
            _percentile(lat, 0.95),
            "ms",
            lab if four else None,
            8.0 if four else None,
        )
        row(f"panes {feed}: key->paint max", max(lat), "ms")
        row(
            f"panes {feed}: app CPU",
            r["cpu"],
            "% of a core",
            lab if four else None,
            19.0 if four else None,
        )
        row(f"panes {feed}: RSS max", max(r["rss"]), "MB")
        row(f"panes {feed}: RSS growth", r["rss"][-1] - r["rss"][0], "MB")
        row(f"panes {feed}: dropped", float(sum(app.get("dropped", [0]))), "lines")
        gaps = [g * 1000 for g in app.get("tick_gaps", [])]
        if gaps:
            row(f"panes {feed}: flush gap p95", _percentile(gaps, 0.95), "ms")
    return rows


def run_app(args: argparse.Namespace) -> None:
    """Inside tmux: the app under test (under cProfile with ``--profile``)."""
    if args.screen == "investigation":
        app = lambda: run_investigation(args.rate, args.out, args.fed)  # noqa: E731
    else:
        app = lambda: run_grid(args.rate, args.producer, args.out, args.fed)  # noqa: E731
    if not args.profile:
        app()
        return
    import cProfile

    with cProfile.Profile() as prof:
        app()
    prof.dump_stats(args.profile)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rate", type=int, default=10_000, help="lines/s per pane")
    ap.add_argument("--producer", choices=("loop", "thread"), default="loop")
    ap.add_argument(
        "--no-investigation",
        action="store_true",
        help="skip the row on the real investigation screen (a check running, 4 sources)",
    )
    ap.add_argument("--presses", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0, help="spread the presses over this")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle (no feed) baseline")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the fed app (slows it) to FILE")
    ap.add_argument(
        "--profile-screen",
        choices=("grid", "investigation"),
        default="grid",
        help="which 4-pane row --profile profiles",
    )
    ap.add_argument(
        "--single-rate",
        type=int,
        default=100_000,
        help="lines/s into one pane for the ceiling row (0 skips it)",
    )
    ap.add_argument("--json-out", metavar="FILE", help="also write the rows as JSON to FILE")
    ap.add_argument("--fed", type=int, default=PANES, help=argparse.SUPPRESS)
    ap.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--screen", choices=("grid", "investigation"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.app:
        run_app(args)
        return 0
    if not shutil.which("tmux"):
        print("bench_panes: tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 1
    import textual

    load = os.getloadavg()
    print(
        f"textual {textual.__version__}, {os.cpu_count()} CPUs, load average {load[0]:.2f}; "
        f"{PANES} LivePane in a 2x2 grid (inv.: on the investigation screen), tmux 200x50\n"
    )
    runs = ([] if args.no_idle else [(0, PANES, "grid")]) + [(args.rate, PANES, "grid")]
    if args.single_rate:
        runs.append((args.single_rate, 1, "grid"))
    if not args.no_investigation:
        runs.append((args.rate, PANES, "investigation"))
    results = [
        measure(
            rate,
            args.producer if screen == "grid" else "loop",
            screen,
            args.presses,
            args.seconds,
            rate and fed == PANES and screen == args.profile_screen and args.profile or None,
            fed,
        )
        for rate, fed, screen in runs
    ]
    print_table(results)
    if args.json_out:
        doc = {"bench": "panes", "rows": json_rows(results)}
        Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"\nwrote {args.json_out}")
    if args.profile:
        import pstats

        deadline = time.monotonic() + 10
        while not Path(args.profile).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"\nprofile of the fed app ({args.profile}), top 25 by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
