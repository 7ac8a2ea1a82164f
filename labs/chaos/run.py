"""One chaos drill run: a real ``cloudtales investigate --autopilot`` walk on a lab, one
fault (``labs.chaos.faults``) injected at a moment read from the walk's own journal, and a
verdict on how the walk ended.

A run is *right* when it ends ``diagnosis: <expected>`` (exit 0); *inconclusive* when
it ends ``inconclusive: ...`` naming ``<check>@<affected host>`` (exit 3); anything
else is *wrong*: another diagnosis, an inconclusive naming only unaffected hosts, a
traceback, no exit within the playbook's check timeouts plus a margin, a process the
walk left in a lab namespace, or a fault that landed after every check on its host
had finished (or never landed) without the right diagnosis.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CloudtalesError
from engine.playbook.files import playbook_files
from engine.playbook.loader import load_playbook
from engine.remote.inventory import load_inventory
from labs.chaos import faults as chaos
from labs.chaos.services import service_for
from labs.core.base import Lab

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HANG_MARGIN = 60.0  # seconds past the sum of the playbook's check timeouts
LEFTOVER_GRACE = 10.0  # seconds for a walk's remote processes to go once it exited
PHASES = ("started", "result")  # the fault lands when step k starts, or once it ended


@dataclass(frozen=True)
class DrillSpec:
    name: str
    lab: str
    symptom: str
    expect: str
    timeouts: dict[str, float]  # check id -> timeout, every check of the drill's playbook
    # check id -> the host or role its traffic comes from (``traffic_from``): a host the
    # check drives over SSH besides its own ``hosts``, which the journal does not list
    traffic: dict[str, str] = field(default_factory=dict)


def drills() -> dict[str, DrillSpec]:
    found = {}
    for path in playbook_files():
        pb = load_playbook(path).playbook
        if pb.drill is not None:
            d = pb.drill
            timeouts = {c.id: c.timeout for c in pb.checks}
            traffic = {c.id: str(c.params["traffic_from"]) for c in pb.checks
                       if isinstance(c.params.get("traffic_from"), str)}  # fmt: skip
            found[pb.tale] = DrillSpec(pb.tale, d.lab, d.symptom, d.expect, timeouts, traffic)
    return found


def traffic_hosts(drill: DrillSpec, inventory_path: Path) -> dict[str, list[str]]:
    """check id -> the inventory hosts its ``traffic_from`` names."""
    inv = load_inventory(inventory_path)
    return {node: [h.name for h in inv.resolve(sel)] for node, sel in drill.traffic.items()}


@dataclass(frozen=True)
class Plan:
    """What to break, where and when. ``fault`` None is the baseline (no fault)."""

    fault: str | None
    step: int = 1  # 1-based index of the walk's check
    phase: str = "started"
    pick: float = 0.0  # which of the candidate hosts, as a fraction of their sorted list
    seed: int | None = None

    def describe(self) -> str:
        if self.fault is None:
            return "baseline (no fault)"
        when = f"step {self.step} {self.phase}"
        return f"seed {self.seed}: {self.fault} at {when}, host pick {self.pick:.2f}"


def plan_for(seed: int, drill: DrillSpec, path_len: int, faults: tuple[str, ...]) -> Plan:
    """The seeded plan: a fault the lab supports, a step of the walk (its baseline has
    ``path_len`` checks), before or after it, and a host among those the walk uses."""
    rng = random.Random(f"{drill.name}:{seed}")
    usable = [f for f in chaos.faults_for(drill.lab) if f in faults]
    if not usable:
        raise CloudtalesError(f"none of the faults {', '.join(faults)} applies to {drill.lab}")
    fault = rng.choice(usable)
    step = rng.randint(1, max(1, path_len))
    phase = "started" if fault == "kill-tcpdump" else rng.choice(PHASES)
    return Plan(fault, step, phase, rng.random(), seed)


@dataclass
class Step:
    node: str
    hosts: list[str]
    started: int  # journal seq
    ended: int | None = None


@dataclass
class RunResult:
    plan: Plan
    verdict: str  # right | inconclusive | wrong
    landed: bool = False
    after_evidence: bool = False
    host: str | None = None
    how: str = ""
    returncode: int | None = None
    last_line: str = ""
    problems: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    tail: str = ""
    makes_true: tuple[str, ...] = ()  # diagnoses the fault itself made true (stop-service)
    note: str = ""


class JournalTail:
    """The walk's JSONL journal, read as it grows (a partial last line waits). A step's
    hosts are those its ``check_started`` lists plus ``extra[node]`` (traffic sources)."""

    def __init__(self, path: Path, extra: dict[str, list[str]] | None = None) -> None:
        self.path = path
        self.extra = extra or {}
        self._offset = 0
        self._buf = ""
        self.steps: list[Step] = []
        self.seq = 0

    def poll(self) -> None:
        try:
            with self.path.open() as fh:
                fh.seek(self._offset)
                chunk = fh.read()
                self._offset = fh.tell()
        except OSError:
            return
        self._buf += chunk
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            if line.strip():
                self._event(json.loads(line))

    def _event(self, ev: dict[str, object]) -> None:
        seq = ev.get("seq")
        self.seq = seq if isinstance(seq, int) else self.seq + 1
        if ev.get("type") == "check_started":
            hosts = ev.get("hosts")
            names = [str(h) for h in hosts] if isinstance(hosts, list) else []
            node = str(ev.get("node"))
            names += [h for h in self.extra.get(node, []) if h not in names]
            self.steps.append(Step(node, names, self.seq))
        elif ev.get("type") == "check_result":
            for st in reversed(self.steps):
                if st.node == ev.get("node") and st.ended is None:
                    st.ended = self.seq
                    break


def _candidates(plan: Plan, steps: list[Step], lab_name: str) -> list[str] | None:
    """The hosts the fault may hit now, or None while its moment has not come."""
    if plan.fault == "stop-service":
        ready = len(steps) >= plan.step if plan.phase == "started" else _ended(steps, plan.step)
        return [service_for(lab_name, plan.pick).host] if ready else None
    if plan.phase == "started":
        return sorted(steps[plan.step - 1].hosts) if len(steps) >= plan.step else None
    if not _ended(steps, plan.step):
        return None
    return sorted({h for st in steps[: plan.step] for h in st.hosts})


def _ended(steps: list[Step], k: int) -> bool:
    return len(steps) >= k and steps[k - 1].ended is not None


def _after_evidence(steps: list[Step], host: str | None, at: int) -> bool:
    """Every check on ``host`` had ended when the fault landed (journal seq ``at``),
    and none started on it afterwards: the walk no longer needed that host. ``host``
    None: every check, whatever its host (a stopped service is read from other hosts
    too: the instance asks the controller's dnsmasq)."""
    for st in steps:
        on_it = host is None or host in st.hosts
        if on_it and (st.started > at or st.ended is None or st.ended > at):
            return False
    return True


def run_once(lab: Lab, drill: DrillSpec, plan: Plan, workdir: Path | None = None) -> RunResult:
    """One walk on the running ``lab`` with ``plan``'s fault; the lab is left as found
    (faults lifted, and rebuilt by ``lab.up()`` when a process had to die)."""
    work = workdir or Path(tempfile.mkdtemp(prefix="cloudtales-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    journal, out_path, err_path = work / "j.jsonl", work / "out.txt", work / "err.txt"
    journal.unlink(missing_ok=True)
    hosts = chaos.lab_hosts(lab)
    before = set(chaos.lab_processes(lab))
    argv = [sys.executable, "-m", "tui.cli", "investigate", "-i", str(lab.inventory_path()),
            "-s", drill.symptom, "--autopilot", "--journal", str(journal)]  # fmt: skip
    budget = sum(drill.timeouts.values()) + HANG_MARGIN
    result = RunResult(plan, "wrong")
    tail = JournalTail(journal, traffic_hosts(drill, lab.inventory_path()))
    injected: chaos.Injected | None = None
    at_seq = 0
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, cwd=PROJECT_ROOT)
        try:
            while proc.poll() is None:
                if time.monotonic() - started > budget:
                    proc.kill()
                    result.problems.append(f"no exit within {budget:g} s (hang)")
                    break
                tail.poll()
                if plan.fault is not None and injected is None:
                    injected = _maybe_inject(lab, drill, plan, tail.steps, hosts)
                    at_seq = tail.seq
                time.sleep(0.02)  # polling the journal and /proc, not a synchronisation
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result.seconds = round(time.monotonic() - started, 1)
    tail.poll()
    result.steps = tail.steps
    result.returncode = proc.returncode
    if injected is not None:
        injected.lift()
        result.landed, result.host, result.how = True, injected.host, injected.how
        on = None if plan.fault == "stop-service" else injected.host
        result.after_evidence = _after_evidence(tail.steps, on, at_seq)
        result.makes_true = injected.makes_true
    leftovers = _wait_leftovers(lab, before)
    result.problems += [f"left behind: {p}" for p in leftovers]
    if injected is not None:
        injected.restore()
    _classify(result, drill, out_path.read_text(), err_path.read_text())
    lab.up()  # rebuilds the lab if the fault killed what it needs (sshd, mariadbd, RabbitMQ)
    return result


def _maybe_inject(
    lab: Lab, drill: DrillSpec, plan: Plan, steps: list[Step], hosts: dict[str, chaos.LabHost]
) -> chaos.Injected | None:
    assert plan.fault is not None
    cands = _candidates(plan, steps, lab.name)
    if not cands:
        return None
    if plan.fault == "kill-tcpdump":  # wait for a capture on one of the step's hosts
        cands = [h for h in cands if h in hosts and chaos.procs_named(hosts[h].netns, "tcpdump")]
        if not cands:
            return None
    name = cands[min(int(plan.pick * len(cands)), len(cands) - 1)]
    if name not in hosts:
        raise CloudtalesError(f"journal host {name!r} is not in {lab.inventory_path()}")
    node = steps[min(plan.step, len(steps)) - 1].node
    freeze = drill.timeouts.get(node, 30.0) + 5.0
    return chaos.inject(plan.fault, lab, hosts[name], freeze_seconds=freeze, pick=plan.pick)


def _wait_leftovers(lab: Lab, before: set[int]) -> list[str]:
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (left := chaos.remote_leftovers(lab, before)) and time.monotonic() < deadline:
        time.sleep(0.1)  # sessions end once their client is gone: poll, with a deadline
    return left


def named_hosts(line: str) -> set[str]:
    """The hosts an ``inconclusive:`` line names: ``check@h1,h2 (reason), ...``."""
    entries = re.finditer(r"(?:^inconclusive: |\), )[\w.-]+@([\w.,-]+)", line)
    return {h for m in entries for h in m.group(1).split(",") if h}


def _classify(result: RunResult, drill: DrillSpec, out: str, err: str) -> None:
    lines = out.strip().splitlines()
    result.last_line = lines[-1] if lines else ""
    result.tail = "\n".join([*lines[-4:], *err.strip().splitlines()[-6:]])
    last, rc = result.last_line, result.returncode
    if "Traceback" in err:
        result.problems.append("traceback on stderr")
    verdict = "wrong"
    if last == f"diagnosis: {drill.expect}" and rc == 0:
        verdict = "right"
    elif (
        last.removeprefix("diagnosis: ") in result.makes_true
        and rc == 0
        and result.landed
        and not result.after_evidence
    ):
        verdict = "right"
        result.note = f"named what the stopped service made true: {last}"
    elif last.startswith("diagnosis: "):
        result.problems.append(f"wrong diagnosis (expected {drill.expect})")
    elif last.startswith("inconclusive: ") and rc == 3:
        if result.host is not None and result.host in named_hosts(last):
            verdict = "inconclusive"
        else:
            result.problems.append(f"inconclusive does not name the affected host {result.host}")
    else:
        result.problems.append(f"unexpected ending (exit {rc})")
    if verdict == "inconclusive" and (result.after_evidence or not result.landed):
        result.problems.append("the fault landed after the evidence (or never): must be right")
    result.verdict = "wrong" if result.problems else verdict
