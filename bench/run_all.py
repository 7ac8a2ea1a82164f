"""``make bench``: run every bench and print ONE table, each figure next to its anchor.

Run as root: ``.venv/bin/python bench/run_all.py [--quick] [--only hosts,pcap]``.
``--quick`` (or ``BENCH_QUICK=1``, which ``make bench-quick`` sets) asks each bench for a
short run: fewer runs, 50 hosts only, no healthy drill; benches that do not know the
flags read ``BENCH_QUICK`` from the environment.

Each bench runs as its own process with ``--json-out FILE`` and writes::

    {"bench": "pcap", "rows": [{"what": str, "value": float, "unit": str,
      "anchor": str | null, "anchor_value": float | null, "ratio": float | null}]}

A bench that exits non-zero, times out, or writes no (or malformed) JSON shows as a
FAILED row naming the reason, and the others still run. Rows it did write are shown
either way. Each bench's own output goes to ``LOGDIR/NAME.log`` (printed at the end).
Benches that build a lab run under ``flock /tmp/cloudtales-lab.lock`` so they never
share the lab's namespaces with anything else. Exit status 1 when any bench failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
LAB_LOCK = "/tmp/cloudtales-lab.lock"


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    quick: tuple[str, ...] = ()  # extra arguments for a short run
    lab: bool = False  # builds a lab: run under the lab lock
    limit: float = 1800.0  # seconds before it counts as failed


BENCHES = (
    Bench("pcap", "bench_pcap.py", ("--quick",)),
    Bench("panes", "bench_panes.py", ("--seconds", "4", "--presses", "20")),
    Bench("drill", "bench_drill.py", ("--runs", "1", "--no-healthy"), lab=True),
    Bench("hosts", "bench_hosts.py", ("--hosts", "50", "--runs", "1")),
    Bench("startup", "bench_startup.py"),
)


@dataclass
class Row:
    bench: str
    what: str
    value: float | None = None
    unit: str = ""
    anchor: str | None = None
    anchor_value: float | None = None
    ratio: float | None = None
    failed: str | None = None  # why the bench failed (a FAILED row)


@dataclass
class Outcome:
    bench: Bench
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    failed: str | None = None


def _number(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def read_rows(bench: str, path: Path) -> list[Row]:
    """The rows a bench wrote; ValueError naming what is wrong with the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError("wrote no JSON") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError('JSON without a "rows" list')
    rows = []
    for i, r in enumerate(data["rows"]):
        if not isinstance(r, dict) or not isinstance(r.get("what"), str):
            raise ValueError(f'row {i} has no "what"')
        anchor = r.get("anchor")
        rows.append(
            Row(
                bench=bench,
                what=r["what"],
                value=_number(r.get("value")),
                unit=str(r.get("unit") or ""),
                anchor=anchor if isinstance(anchor, str) else None,
                anchor_value=_number(r.get("anchor_value")),
                ratio=_number(r.get("ratio")),
            )
        )
    return rows


def run_bench(bench: Bench, quick: bool, logdir: Path) -> Outcome:
    out = Outcome(bench)
    script = ROOT / "bench" / bench.script
    if not script.exists():
        out.failed = f"{bench.script} not found"
        return out
    json_out = logdir / f"{bench.name}.json"
    argv = [str(PYTHON), str(script), "--json-out", str(json_out)]
    if quick:
        argv += bench.quick
    if bench.lab and shutil.which("flock"):
        argv = ["flock", LAB_LOCK, *argv]
    env = {**os.environ, "BENCH_QUICK": "1" if quick else "0"}
    started = time.perf_counter()
    with (logdir / f"{bench.name}.log").open("w") as log:
        try:
            proc = subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=ROOT, timeout=bench.limit,
            )  # fmt: skip
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    out.seconds = time.perf_counter() - started
    try:
        out.rows = read_rows(bench.name, json_out)
    except ValueError as exc:
        out.failed = str(exc)
    if rc is None:
        out.failed = f"timed out after {bench.limit:g} s"
    elif rc != 0:
        out.failed = f"exit status {rc}: {_last_line(logdir / f'{bench.name}.log')}"
    return out


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    return next((ln for ln in reversed(lines) if ln), "")[:120]


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or 0.01 <= abs(x) < 100_000:
        return f"{x:.3g}" if abs(x) < 1 else f"{x:,.2f}"
    return f"{x:,.0f}" if abs(x) >= 1 else f"{x:.2g}"


def table(outcomes: list[Outcome]) -> str:
    header = ["bench", "what", "value", "unit", "anchor (same run)", "anchor", "ratio"]
    lines: list[list[str]] = []
    for o in outcomes:
        for r in o.rows:
            lines.append([o.bench.name, r.what, _fmt(r.value), r.unit, r.anchor or "-",
                          _fmt(r.anchor_value), _fmt(r.ratio)])  # fmt: skip
        if o.failed:
            lines.append([o.bench.name, f"FAILED: {o.failed}", "", "", "", "", ""])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    right = {2, 5, 6}

    def fmt(row: list[str]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule, *(fmt(row) for row in lines)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="a short run of each bench")
    ap.add_argument("--only", metavar="NAMES", help="comma-separated bench names")
    ap.add_argument("--logdir", metavar="DIR", help="keep each bench's output and JSON here")
    args = ap.parse_args()
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    names = [b.name for b in BENCHES]
    chosen = [n.strip() for n in args.only.split(",")] if args.only else names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"run_all: unknown bench {', '.join(unknown)} (known: {', '.join(names)})")
        return 2
    logdir = Path(args.logdir or tempfile.mkdtemp(prefix="cloudtales-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(
        f"cloudtales benches{' (quick)' if quick else ''}: {', '.join(chosen)}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f}",
        flush=True,
    )
    outcomes = []
    for bench in (b for b in BENCHES if b.name in chosen):
        print(f"  {bench.name} ...", end="", flush=True)
        o = run_bench(bench, quick, logdir)
        print(f" {o.seconds:.0f} s{', FAILED' if o.failed else ''}", flush=True)
        outcomes.append(o)
    print()
    print(table(outcomes))
    print(f"\nratio = value / anchor. Each bench's output: {logdir}/NAME.log")
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
