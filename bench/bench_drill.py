"""End-to-end drill time: ``cloudtales drill double-vlan --autopilot``, faulty and healthy.

Run on demand (never in CI), as root: ``.venv/bin/python bench/bench_drill.py [--runs 3]
[--json-out FILE]`` (the rows for bench/run_all.py's table: median total and walk seconds
of each kind; there is no anchor to compare with).
It builds and removes the real lab each run, so nothing else may hold the lab's
namespaces at the same time.

Each run is a subprocess; every output line is timestamped as it arrives (the CLI
flushes each line), which splits the wall time into:
  start-up   exec -> the first line (interpreter, imports, playbook graph);
  lab up     first line -> ``lab up, mode ...`` (the ``lab: ...`` progress lines);
  walk       ``lab up`` -> the last numbered step line (session start + all checks);
  teardown   last step -> ``lab NAME down``;
  total      exec -> exit (the closing lines print after teardown).
``steps s`` is the sum of the per-step seconds the CLI prints (``N. node -> outcome
(1.9s)``), i.e. time inside the checks. ``result`` is the last line; a faulty run must end
with ``diagnosis: EXPECTED`` and a healthy one must not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r"^\s+\d+\. (\S+) -> .*\((\d+(?:\.\d+)?)s\)")


@dataclass
class Run:
    healthy: bool
    total: float = 0.0
    startup: float = 0.0
    lab_up: float = 0.0
    walk: float = 0.0
    teardown: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)
    last_line: str = ""
    rc: int = 0
    progress: list[tuple[float, str]] = field(default_factory=list)  # (seconds, lab: ...)

    @property
    def step_seconds(self) -> float:
        return sum(s for _, s in self.steps)


def drill_once(lab: str, healthy: bool) -> Run:
    argv = [str(ROOT / ".venv" / "bin" / "cloudtales"), "drill", lab, "--autopilot"]
    if healthy:
        argv.append("--healthy")
    run = Run(healthy)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # a lab teardown never signals this process group
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    first = up = last_step = down = None
    lines: list[str] = []
    for line in proc.stdout:
        now = time.perf_counter() - t0
        line = line.rstrip("\n")
        lines.append(line)
        first = now if first is None else first
        text = line.strip()
        if text.startswith("lab: "):
            run.progress.append((now, text[5:]))
        elif text.startswith("lab up"):
            up = now
        elif m := STEP.match(line):
            run.steps.append((m.group(1), float(m.group(2))))
            last_step = now
        elif text.startswith(f"lab {lab} down"):
            down = now
    run.rc = proc.wait()
    run.total = time.perf_counter() - t0
    run.last_line = lines[-1] if lines else ""
    if first is None or up is None or last_step is None or down is None:
        tail = "\n".join(lines[-15:])
        raise SystemExit(f"bench_drill: unexpected drill output (rc {run.rc}):\n{tail}")
    run.startup, run.lab_up = first, up - first
    run.walk, run.teardown = last_step - up, down - last_step
    return run


def print_runs(lab: str, expected: str, runs: list[Run]) -> None:
    head = (
        f"{'run':<14} {'total s':>7} {'start-up':>8} {'lab up':>7} {'walk':>6} {'steps s':>7} "
        f"{'teardown':>8}  {'steps':>5}  result"
    )
    print(head)
    print("-" * (len(head) + 24))
    counters = {False: 0, True: 0}
    for r in runs:
        counters[r.healthy] += 1
        i = counters[r.healthy]
        ok = r.last_line == f"diagnosis: {expected}"
        verdict = ("ok" if not ok else "WRONG") if r.healthy else ("ok" if ok else "WRONG")
        kind = "healthy" if r.healthy else "faulty"
        print(
            f"{kind + ' ' + str(i):<14} {r.total:>7.2f} {r.startup:>8.2f} {r.lab_up:>7.2f} "
            f"{r.walk:>6.2f} {r.step_seconds:>7.1f} {r.teardown:>8.2f}  {len(r.steps):>5}  "
            f"{r.last_line!r} ({verdict}, rc {r.rc})"
        )
    for healthy in (False, True):
        sel = [r for r in runs if r.healthy is healthy]
        if len(sel) > 1:
            med = statistics.median
            print(
                f"{('healthy' if healthy else 'faulty') + ' median':<14} "
                f"{med(r.total for r in sel):>7.2f} {med(r.startup for r in sel):>8.2f} "
                f"{med(r.lab_up for r in sel):>7.2f} {med(r.walk for r in sel):>6.2f} "
                f"{med(r.step_seconds for r in sel):>7.1f} {med(r.teardown for r in sel):>8.2f}"
            )
    print()
    for healthy in (False, True):
        sel = [r for r in runs if r.healthy is healthy]
        if not sel:
            continue
        r = sel[0]
        name = "healthy" if healthy else "faulty"
        steps = ", ".join(f"{node} {secs:.1f}s" for node, secs in r.steps)
        print(f"{name} run 1 steps: {steps}")
        stamps = r.progress + [(r.startup + r.lab_up, "")]
        marks = [f"{w} {b[0] - a:.2f}s" for (a, w), b in zip(stamps, stamps[1:], strict=False)]
        print(f"{name} run 1 lab stages: " + "; ".join(marks))


def expected_diagnosis(lab: str) -> str:
    from engine.playbook.graph import load_valid_graph

    graph = load_valid_graph([ROOT / "playbooks"])
    for src in graph.sources:
        drill = src.playbook.drill
        if drill and drill.lab == lab:
            return str(drill.expect)
    raise SystemExit(f"bench_drill: no playbook has a drill for lab {lab!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--lab", default="double-vlan")
    ap.add_argument("--runs", type=int, default=3, help="runs of each kind")
    ap.add_argument("--no-healthy", action="store_true")
    ap.add_argument("--json-out", metavar="FILE", help="write the rows as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_drill: needs root (the lab builds network namespaces)", file=sys.stderr)
        return 1
    expected = expected_diagnosis(args.lab)
    load = os.getloadavg()
    print(
        f"drill {args.lab} --autopilot, {args.runs} run(s) each, expect diagnosis: {expected}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f}\n"
    )
    kinds = [False] + ([] if args.no_healthy else [True])
    runs = [drill_once(args.lab, healthy) for healthy in kinds for _ in range(args.runs)]
    print_runs(args.lab, expected, runs)
    bad = [r for r in runs if r.rc != 0 or (r.last_line == f"diagnosis: {expected}") is r.healthy]
    if args.json_out:
        write_json(Path(args.json_out), args.lab, [r for r in runs if r not in bad])
    return 1 if bad else 0


def write_json(path: Path, lab: str, good: list[Run]) -> None:
    """Median total and walk seconds per kind, from the runs that ended as expected."""
    rows = []
    for healthy in (False, True):
        sel = [r for r in good if r.healthy is healthy]
        if not sel:
            continue
        kind = "healthy" if healthy else "faulty"
        for what, value in (
            ("total", statistics.median(r.total for r in sel)),
            ("walk", statistics.median(r.walk for r in sel)),
        ):
            name = f"drill {lab} --autopilot, {kind}, {what}"
            rows.append({"what": name, "value": value, "unit": "s", "anchor": None,
                         "anchor_value": None, "ratio": None})  # fmt: skip
    path.write_text(json.dumps({"bench": "drill", "rows": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
