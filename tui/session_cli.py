"""``cloudtales investigate`` and ``cloudtales drill``: headless autopilot or the TUI.

An interactive drill is timed and scored (``engine.drill_score``): the score card
shows when the trainee reaches a diagnosis, and every attempt is appended to the
local history. ``--surprise`` builds the lab healthy and makes it faulty after a
random delay (``labs.core.faults``); ``--blind`` lets the trainee pick the symptom among
all of them. ``--serve [HOST:]PORT`` publishes the session read-only to browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.checks.base import LiveLine
from engine.drill_score import (
    FAULT_INJECTED,
    DrillAttempt,
    DrillSpec,
    history_path,
    resumed_attempt,
)
from engine.errors import CloudtalesError
from engine.journal_follow import LIVE, LiveSampler
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.preflight import lacks_line
from engine.rehearsal import fresh_record_dir, record_rehearsal
from engine.remote.factory import make_runner
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.recorder import RecordingRunner
from engine.remote.runner import Runner
from engine.report import duration
from engine.session import Session, default_journal_path, format_step
from engine.sources.sosreport import OfflineSetup, offline_of_journal, offline_setup

if TYPE_CHECKING:
    from engine.server_resolution import ServerResolution
    from labs.core.base import Lab, LabInfo
    from labs.core.faults import Injection
    from tui.app import CloudtalesApp


INCONCLUSIVE_EXIT = 3  # --autopilot: the walk could not stand on evidence


def _say(msg: str) -> None:
    print(msg, flush=True)


async def _autopilot(session: Session, tail: list[str] | None = None) -> int:
    """Walk headless. The closing lines go to ``tail`` when given (printed by the caller
    after lab teardown, so the output always ends with ``diagnosis: ID``)."""
    n = 0
    sampler = LiveSampler()  # followers (cloudtales follow/serve) see the live lines too

    def journal_live(node: str | None = None) -> None:
        data = sampler.take()
        if data is not None:
            session.walker.record(LIVE, node=node or session.walker.state.current, **data)

    def on_step(report):  # type: ignore[no-untyped-def]
        nonlocal n
        n += 1
        journal_live(report.node)
        sampler.new_step()
        _say(format_step(n, report))

    def emit(line: LiveLine) -> None:
        text = f"!! {line.text}  [{line.anomaly}]" if line.anomaly else line.text
        sampler.add(line.source, (text,))

    async def every_second() -> None:
        while True:
            await asyncio.sleep(1.0)
            journal_live()

    lacking = lacks_line(session.graph, session.walker.state.symptom, session.inventory)
    if lacking:
        _say(lacking)
    ticker = asyncio.create_task(every_second())
    try:
        await session.autopilot(on_step=on_step, emit=emit)
    finally:
        ticker.cancel()
        await session.close()
    w = session.walker
    verdict = w.verdict
    assert verdict is not None
    lines = ["path: " + " -> ".join(w.path)]
    ops = verdict.operator_facts
    lines += [
        f"  evidence {name}: {value}" + (" (the operator's)" if name in ops else "")
        for name, value in w.evidence()
    ]
    lines += [f"  by hand: {line}" for line in verdict.by_hand()]
    lines += [f"journal: {session.journal.path}", verdict.title, verdict.line()]
    if tail is None:
        for line in lines:
            _say(line)
    else:
        tail.extend(lines)
    return 0 if verdict.conclusive else INCONCLUSIVE_EXIT


def _app(
    graph: PlaybookGraph,
    inventory: Inventory,
    session: Session | None,
    journal: Path | None,
    title: str,
    args: argparse.Namespace,
    **extra: Any,
) -> CloudtalesApp:
    from tui.app import CloudtalesApp, sixteen_colours

    return CloudtalesApp(
        graph=graph,
        inventory=inventory,
        session=session,
        journal_path=journal,
        title=title,
        read_only=getattr(args, "read_only", False),
        ansi=sixteen_colours(),
        **extra,
    )


@contextlib.contextmanager
def _serving(args: argparse.Namespace, journal: Path | None) -> Iterator[str | None]:
    """``--serve``: ``cloudtales serve JOURNAL`` in the background while the TUI runs."""
    hostport = getattr(args, "serve", None)
    if not hostport:
        yield None
        return
    if journal is None:
        raise CloudtalesError("--serve needs a journal path")
    from tui.serve import BackgroundServer

    with BackgroundServer(journal, hostport, args.playbooks) as srv:
        banner = f"followers: {srv.url} (read-only; log {srv.log})"
        _say(f"serving read-only: {srv.url}")
        yield banner


def cmd_investigate(args: argparse.Namespace) -> int:
    graph = load_valid_graph(args.playbooks)
    if getattr(args, "sosreport", None):
        return _investigate_offline(graph, args)
    if getattr(args, "role", None):
        raise CloudtalesError(
            "--role HOST=ROLE names a sosreport host's roles: give --sosreport too "
            "(live hosts take their roles from the inventory)"
        )
    inventory = load_inventory(args.inventory) if args.inventory else None
    session: Session | None
    if args.resume:
        offline = offline_of_journal(Path(args.resume))
        if offline is not None:  # an offline walk resumes offline, from the same reports
            session = Session.resume(
                graph, Path(args.resume), lambda _inv: offline.runner, offline.inventory
            )
            return _offline_session(graph, session, offline, args)
        session = Session.resume(graph, Path(args.resume), make_runner, inventory)
        if args.autopilot:
            return asyncio.run(_autopilot(session))
        return _resume_app(graph, session, args)
    if inventory is None:
        raise CloudtalesError(
            "--inventory FILE is needed (or --resume JOURNAL); "
            "try `cloudtales drill double-vlan` for a lab"
        )
    journal = Path(args.journal) if args.journal else None
    if journal is None and getattr(args, "serve", None):
        journal = default_journal_path(args.symptom or "live")
    meta: dict[str, Any] = {}
    if getattr(args, "server", None):  # Session.start sets its server.* facts
        inventory, meta["server"] = _resolve_server(inventory, args.server)
    if args.symptom:
        session = Session.start(
            graph, inventory, make_runner(inventory), args.symptom, journal, **meta
        )
        if args.autopilot:
            return asyncio.run(_autopilot(session))
    elif args.autopilot:
        raise CloudtalesError("--autopilot needs --symptom (see `cloudtales symptoms`)")
    else:
        session = None
    with _serving(args, journal) as banner:
        _app(
            graph, inventory, session, journal, "cloudtales", args, banner=banner, session_meta=meta
        ).run()  # a symptom picked in the TUI journals the --server resolution too
    return 0


def _resolve_server(inventory: Inventory, server: str) -> tuple[Inventory, dict[str, Any]]:
    """``--server``: where it runs, from the API; the inventory narrowed to its compute;
    the resolution as the journal keeps it (``--resume`` narrows from it)."""
    from engine.server_resolution import narrow, resolve

    async def run() -> ServerResolution:
        runner = make_runner(inventory)
        try:
            return await resolve(inventory, runner, server)
        finally:
            await runner.close()

    res = asyncio.run(run())
    for line in res.lines():
        _say(line)
    return narrow(inventory, res), res.as_event()


def _investigate_offline(graph: PlaybookGraph, args: argparse.Namespace) -> int:
    """``--sosreport PATH ...``: hosts from reports, sources from their files, no runner
    that can connect (``engine.sources.sosreport``)."""
    if args.inventory or args.resume:
        raise CloudtalesError("--sosreport walks offline: drop --inventory/--resume")
    if args.autopilot and not args.symptom:
        raise CloudtalesError("--autopilot needs --symptom (see `cloudtales symptoms`)")
    offline = offline_setup(args.sosreport, getattr(args, "role", None) or [])
    journal = Path(args.journal) if args.journal else None
    if journal is None and getattr(args, "serve", None):
        journal = default_journal_path(args.symptom or "offline")
    session = None
    if args.symptom:
        session = Session.start(
            graph, offline.inventory, offline.runner, args.symptom, journal, **offline.meta()
        )
    return _offline_session(graph, session, offline, args, journal)


def _offline_session(
    graph: PlaybookGraph,
    session: Session | None,
    offline: OfflineSetup,
    args: argparse.Namespace,
    journal: Path | None = None,
) -> int:
    """Headless or the TUI; a symptom picked in the TUI starts offline too (the app's
    runner factory is the offline runner, its session meta says offline)."""
    for line in offline.describe():
        _say(line)
    if args.autopilot:
        assert session is not None
        return asyncio.run(_autopilot(session))
    title = f"cloudtales (offline: {len(offline.reports)} sosreports)"
    where = session.journal.path if session is not None else journal
    with _serving(args, where) as banner:
        _app(
            graph,
            offline.inventory,
            session,
            journal,
            title,
            args,
            banner=banner,
            runner_factory=lambda _inv: offline.runner,
            session_meta=offline.meta(),
        ).run()
    return 0


def _resume_app(graph: PlaybookGraph, session: Session, args: argparse.Namespace) -> int:
    """The TUI over a resumed session; a drill's journal is a drill again (clock, hints,
    score card, one history entry per attempt)."""
    drill = resumed_attempt(graph, session.walker.events)
    title = "cloudtales"
    if drill is not None:
        title = "cloudtales drill" if drill.blind else f"cloudtales drill: {drill.spec.name}"
    with _serving(args, session.journal.path) as banner:
        app = _app(graph, session.inventory, session, None, title, args, banner=banner, drill=drill)
        app.run()
    if drill is not None:
        for line in score_lines(drill):
            _say(line)
    return 0


# ---- drills ------------------------------------------------------------------------


def _drills(graph: PlaybookGraph) -> dict[str, Any]:
    return {src.playbook.drill.lab: src.playbook for src in graph.sources if src.playbook.drill}


def list_drills(graph: PlaybookGraph) -> list[str]:
    """``drill --list``: each drill, what it needs, and whether this machine can run it."""
    from labs.core.registry import LABS
    from labs.core.requirements import missing, requirements_of

    lines: list[str] = []
    for name, pb in sorted(_drills(graph).items()):
        lines.append(f"{name}: {pb.title} ({pb.drill.symptom} -> {pb.drill.expect})")
        lines += [f"  --fault {f} -> {d}" for f, d in pb.drill.faults.items()]
        lab = LABS.get(pb.drill.lab)
        if lab is None:
            lines += [f"  needs: a lab module {pb.drill.lab!r}", "  here: no (no such lab)"]
            continue
        req = requirements_of(lab)
        lines.append(f"  needs: {req.summary()}")
        lacking = missing(req)
        lines.append("  here: yes" if not lacking else "  here: no, missing " + "; ".join(lacking))
    return lines or ["no playbook declares a drill"]


class Surprise:
    """Makes the lab faulty at a random moment (a thread), and tells the app."""

    def __init__(self, lab: Lab, within: float, rng: random.Random | None = None) -> None:
        if within <= 0:
            raise CloudtalesError("--surprise-within must be more than 0 seconds")
        self.lab = lab
        self.delay = (rng or random.Random()).uniform(0.1 * within, within)
        self.started = time.monotonic()
        self.injection: Injection | None = None
        self.error: str | None = None
        self.app: CloudtalesApp | None = None
        self._timer = threading.Timer(self.delay, self.fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def fire(self) -> None:
        from labs.core.faults import inject_fault

        try:
            self.injection = inject_fault(self.lab)
        except CloudtalesError as exc:
            self.error = str(exc)
            return
        app = self.app
        if app is not None and app.is_running:
            app.call_from_thread(app.fault_injected, self.event_data())

    def wait(self) -> None:
        """Headless: block until the fault is in (``--surprise --autopilot``)."""
        self._timer.join()
        if self.error:
            raise CloudtalesError(f"surprise: {self.error}")

    def event_data(self) -> dict[str, Any]:
        inj = self.injection
        assert inj is not None
        return {
            "at": time.time(),
            "after_seconds": round(self.delay, 1),
            "how": inj.how,
            "rebuilt": inj.rebuilt,
            "inventory": str(self.lab.inventory_path()),
        }


def cmd_drill(args: argparse.Namespace) -> int:
    from labs.core.base import health, running_as, with_fault
    from labs.core.registry import get_lab

    graph = load_valid_graph(args.playbooks)
    if getattr(args, "list", False):
        for line in list_drills(graph):
            _say(line)
        return 0
    drills = _drills(graph)
    if not args.name:
        raise CloudtalesError("drill needs a NAME (see `cloudtales drill --list`)")
    if args.name not in drills:
        raise CloudtalesError(
            f"unknown drill {args.name!r} (known: {', '.join(sorted(drills)) or 'none'})"
        )
    surprise, blind = getattr(args, "surprise", False), getattr(args, "blind", False)
    if surprise and args.healthy:
        raise CloudtalesError("--surprise makes the lab faulty later: drop --healthy")
    if blind and args.autopilot:
        raise CloudtalesError("--blind is for a trainee: drop --autopilot")
    pb = drills[args.name]
    assert pb.drill is not None
    symptom = getattr(args, "symptom", None) or pb.drill.symptom
    if symptom not in {s.id for s in graph.symptoms()}:
        raise CloudtalesError(f"unknown symptom {symptom!r} (see `cloudtales symptoms`)")
    fault = getattr(args, "fault", None)
    if fault and fault not in pb.drill.faults:
        known = ", ".join(sorted(pb.drill.faults)) or "none"
        raise CloudtalesError(f"drill {args.name}: no fault {fault!r} (known: {known})")
    lab = with_fault(get_lab(pb.drill.lab), fault)
    found = running_as(lab)  # a lab someone brought up: used as it is, left up
    if found is not None:
        _refuse_found_lab(
            args.name, found, bool(args.healthy), surprise, getattr(lab, "fault", None)
        )
    state = "healthy" if args.healthy else "faulty"
    shown = "a tale" if blind else pb.title
    _say(f"drill {args.name}: {shown} ({'surprise' if surprise else state} lab)")
    if found is None:
        info = lab.up(healthy=args.healthy or surprise, progress=lambda m: _say(f"  lab: {m}"))
        _say(f"  lab up, mode {info.mode}; inventory {info.inventory_path}")
    else:
        info = found
        _say(f"  lab already up ({state}, mode {info.mode}): used as it is, left up afterwards")
    tail: list[str] = []
    timer = Surprise(lab, getattr(args, "surprise_within", 120.0)) if surprise else None
    try:
        inventory = load_inventory(info.inventory_path)
        journal = Path(args.journal) if args.journal else None
        if journal is None and getattr(args, "serve", None):
            journal = default_journal_path(symptom)
        runner: Runner = make_runner(inventory)
        if args.record:
            if not args.autopilot:
                raise CloudtalesError("--record needs --autopilot")
            fresh_record_dir(Path(args.record))
            runner = RecordingRunner(runner, args.record)
        meta: dict[str, Any] = {
            "drill": args.name,
            "healthy": args.healthy,
            "lab_mode": info.mode,
        }
        meta.update({k: True for k, on in (("blind", blind), ("surprise", surprise)) if on})
        if fault:
            meta["fault"] = fault
        session = None
        if not blind:
            session = Session.start(graph, inventory, runner, symptom, journal, **meta)
        if args.autopilot:
            assert session is not None
            if timer is not None:
                _say(f"surprise: the fault starts within {args.surprise_within:g} s")
                timer.start()
                timer.wait()
                session.walker.record(FAULT_INJECTED, **timer.event_data())
                _say(f"surprise: fault in after {timer.delay:.1f} s ({timer.event_data()['how']})")
            _say(f"symptom: {symptom}")
            rc = asyncio.run(_autopilot(session, tail))
            if args.record:
                note = f"recorded from `cloudtales drill {args.name}` ({state} lab, {info.mode})"
                where = record_rehearsal(args.record, session.walker, info.inventory_path, note)
                tail.insert(0, f"rehearsal recorded in {where}")
            return rc
        expect = pb.drill.faults.get(fault or "", pb.drill.expect)
        spec = DrillSpec(args.name, symptom, expect)
        attempt = DrillAttempt(spec, blind=blind, surprise=surprise)
        title = "cloudtales drill" if blind else f"cloudtales drill: {pb.title}"
        with _serving(args, journal) as banner:
            app = _app(
                graph,
                inventory,
                session,
                journal,
                title,
                args,
                drill=attempt,
                session_meta=meta,
                banner=banner,
            )
            if timer is not None:
                timer.app = app
                timer.start()
            app.run()
        tail += score_lines(attempt)
        return 0
    finally:
        if timer is not None:
            timer.cancel()
        if found is not None:
            _say(f"  lab {lab.name} left up, as the drill found it ({health(found.healthy)})")
        elif args.keep:
            _say(f"lab kept running: `cloudtales lab down {lab.name}` removes it")
        else:
            lab.down()
            _say(f"  lab {lab.name} down")
        for line in tail:
            _say(line)


def _refuse_found_lab(
    name: str, found: LabInfo, healthy: bool, surprise: bool, fault: str | None = None
) -> None:
    """A drill uses a lab that is up only as it is: one line saying what to do instead.

    ``fault``: the fault this drill expects (a lab with several faults runs one of them as
    its mode); a faulty lab up with another fault would be scored against the wrong
    diagnosis."""
    from labs.core.base import health

    now, down = health(found.healthy), f"run `cloudtales lab down {name}`"
    if surprise:
        instead = "" if found.healthy else " or drop --surprise"
        raise CloudtalesError(
            f"drill {name}: the lab is up {now} and --surprise would change it; "
            f"{down} first{instead}"
        )
    if found.healthy != healthy:
        instead = "drop --healthy" if healthy else "add --healthy"
        raise CloudtalesError(f"drill {name}: the lab is up {now}; {down} or {instead}")
    if fault and not healthy and not found.healthy and found.mode != fault:
        raise CloudtalesError(
            f"drill {name}: the lab is up with fault {found.mode!r}, not {fault!r}; "
            f"{down} or use --fault {found.mode}"
        )


def score_lines(attempt: DrillAttempt) -> list[str]:
    card = attempt.card
    if card is None:
        return ["no score: the drill ended before it started"]
    verdict = "right" if card.right else f"wrong, expected {card.expect}"
    took = duration(card.seconds) if card.seconds is not None else "unfinished"
    return [
        f"score: {card.points}/100 ({card.reached or 'no diagnosis'}: {verdict}) in {took}",
        f"  {card.steps} steps (shortest {card.shortest}), {card.skips} skips, "
        f"{card.wrong_turns} wrong turns, {card.hints} hints",
        f"  attempt {len(attempt.past())} of {card.drill}; "
        f"history: {attempt.history or history_path()}",
    ]
