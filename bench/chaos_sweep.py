"""Chaos sweep: every drill, N seeds, one fault per run at a moment of the real walk.

    flock /tmp/cloudtales-lab.lock .venv/bin/python bench/chaos_sweep.py \
        [--drills a,b] [--seeds N] [--first-seed S] [--faults kill-sshd,...]

Per drill: the lab is built fresh, a baseline walk (no fault) must reach the expected
diagnosis and gives the walk's length, then each seed picks a fault, a step, a moment
(when the step starts, or once it ended) and a host the walk uses (labs/chaos/run.py).
Prints the table (runs, right, right after the evidence, inconclusive, wrong) and
every wrong run with its seed, fault, host and the tail of its output. Exit 1 if any
run was wrong. Needs root; takes minutes (the-issue's lab alone takes ~35 s to build,
compute-service-down's 60-80 s, and each stop-service there restarts nova-compute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labs.chaos import faults as chaos  # noqa: E402
from labs.chaos.run import DrillSpec, Plan, RunResult, drills, plan_for, run_once  # noqa: E402
from labs.core.registry import get_lab  # noqa: E402

DEFAULT_DRILLS = ("double-vlan", "valentines", "the-issue", "disappearing-images",
                  "rabbit-hole", "havana", "overlay-mtu", "dns", "metadata",
                  "security-group", "conntrack-full", "compute-service-down",
                  "neighbour-overflow")  # fmt: skip


def sweep_drill(spec: DrillSpec, seeds: list[int], faults: tuple[str, ...]) -> list[RunResult]:
    lab = get_lab(spec.lab)
    t = time.monotonic()
    lab.down()
    lab.up()
    print(f"[{spec.name}] lab up in {time.monotonic() - t:.1f} s", flush=True)
    base = run_once(lab, spec, Plan(None))
    print(f"[{spec.name}] baseline: {base.verdict}, {len(base.steps)} checks, "
          f"{base.seconds} s: {base.last_line}", flush=True)  # fmt: skip
    results = [base]
    for seed in seeds:
        plan = plan_for(seed, spec, len(base.steps), faults)
        t = time.monotonic()
        res = run_once(lab, spec, plan)
        landed = f"on {res.host} ({res.how})" if res.landed else "never landed"
        extra = (" after-evidence" if res.after_evidence else "") + (
            f" ({res.note})" if res.note else ""
        )
        print(f"[{spec.name}] {plan.describe()}: {res.verdict}{extra}, {landed}, "
              f"{res.seconds} s (+{time.monotonic() - t - res.seconds:.1f} s restore)"
              + (f" PROBLEMS: {'; '.join(res.problems)}" if res.problems else ""),
              flush=True)  # fmt: skip
        results.append(res)
    lab.down()
    return results


def table(per_drill: dict[str, list[RunResult]]) -> str:
    head = "| drill | runs | right | right after evidence | inconclusive | wrong |"
    rows = [head, "|---|---|---|---|---|---|"]
    for name, results in per_drill.items():
        runs = [r for r in results if r.plan.fault is not None]
        count = {v: sum(r.verdict == v for r in runs) for v in ("right", "inconclusive", "wrong")}
        after = sum(r.verdict == "right" and (r.after_evidence or not r.landed) for r in runs)
        rows.append(f"| {name} | {len(runs)} | {count['right']} | {after} | "
                    f"{count['inconclusive']} | {count['wrong']} |")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drills", default=",".join(DEFAULT_DRILLS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--faults", default=",".join(chaos.FAULTS))
    args = ap.parse_args(argv)
    known = drills()
    names = [n for n in args.drills.split(",") if n]
    faults = tuple(f for f in args.faults.split(",") if f)
    for bad in [n for n in names if n not in known] + [f for f in faults if f not in chaos.FAULTS]:
        print(f"chaos_sweep: unknown drill or fault {bad!r}", file=sys.stderr)
        return 2
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    per_drill: dict[str, list[RunResult]] = {}
    started = time.monotonic()
    for name in names:
        per_drill[name] = sweep_drill(known[name], seeds, faults)
    print(f"\n{table(per_drill)}\n\nsweep: {time.monotonic() - started:.0f} s")
    wrong = [r for rs in per_drill.values() for r in rs if r.verdict == "wrong"]
    for name, rs in per_drill.items():
        for r in rs:
            if r.verdict == "wrong":
                print(f"\nWRONG {name} {r.plan.describe()} host={r.host} ({r.how}): "
                      f"{'; '.join(r.problems)}\n{r.tail}")  # fmt: skip
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
