"""``cloudtales investigate`` and ``cloudtales drill``: headless autopilot or the TUI."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.rehearsal import fresh_record_dir, record_rehearsal
from engine.remote.factory import make_runner
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.recorder import RecordingRunner
from engine.remote.runner import Runner
from engine.session import Session, format_step


def _say(msg: str) -> None:
    print(msg, flush=True)


async def _autopilot(session: Session, tail: list[str] | None = None) -> int:
    """Walk headless. The closing lines go to ``tail`` when given (printed by the caller
    after lab teardown, so the output always ends with ``diagnosis: ID``)."""
    n = 0

    def on_step(report):  # type: ignore[no-untyped-def]
        nonlocal n
        n += 1
        _say(format_step(n, report))

    try:
        await session.autopilot(on_step=on_step)
    finally:
        await session.close()
    w = session.walker
    dia = w.diagnosis
    assert dia is not None
    lines = ["path: " + " -> ".join(w.path)]
    lines += [f"  evidence {name}: {value}" for name, value in w.evidence()]
    lines += [f"journal: {session.journal.path}", dia.title, f"diagnosis: {dia.id}"]
    if tail is None:
        for line in lines:
            _say(line)
    else:
        tail.extend(lines)
    return 0


def _run_tui(
    graph: PlaybookGraph,
    inventory: Inventory,
    session: Session | None,
    journal: Path | None,
    title: str,
) -> int:
    from tui.app import CloudtalesApp

    app = CloudtalesApp(
        graph=graph, inventory=inventory, session=session, journal_path=journal, title=title
    )
    app.run()
    return 0


def cmd_investigate(args: argparse.Namespace) -> int:
    graph = load_valid_graph(args.playbooks)
    inventory = load_inventory(args.inventory) if args.inventory else None
    if args.resume:
        session = Session.resume(graph, Path(args.resume), make_runner, inventory)
        if args.autopilot:
            return asyncio.run(_autopilot(session))
        return _run_tui(graph, session.inventory, session, None, "cloudtales")
    if inventory is None:
        raise CloudtalesError(
            "--inventory FILE is needed (or --resume JOURNAL); "
            "try `cloudtales drill double-vlan` for a lab"
        )
    journal = Path(args.journal) if args.journal else None
    if args.symptom:
        session = Session.start(graph, inventory, make_runner(inventory), args.symptom, journal)
        if args.autopilot:
            return asyncio.run(_autopilot(session))
        return _run_tui(graph, inventory, session, journal, "cloudtales")
    if args.autopilot:
        raise CloudtalesError("--autopilot needs --symptom (see `cloudtales symptoms`)")
    return _run_tui(graph, inventory, None, journal, "cloudtales")


def cmd_drill(args: argparse.Namespace) -> int:
    from labs.registry import get_lab

    graph = load_valid_graph(args.playbooks)
    drills = {src.playbook.drill.lab: src.playbook for src in graph.sources if src.playbook.drill}
    if args.name not in drills:
        raise CloudtalesError(
            f"unknown drill {args.name!r} (known: {', '.join(sorted(drills)) or 'none'})"
        )
    pb = drills[args.name]
    assert pb.drill is not None
    lab = get_lab(pb.drill.lab)
    state = "healthy" if args.healthy else "faulty"
    _say(f"drill {args.name}: {pb.title} ({state} lab)")
    info = lab.up(healthy=args.healthy, progress=lambda m: _say(f"  lab: {m}"))
    _say(f"  lab up, mode {info.mode}; inventory {info.inventory_path}")
    tail: list[str] = []
    try:
        inventory = load_inventory(info.inventory_path)
        journal = Path(args.journal) if args.journal else None
        runner: Runner = make_runner(inventory)
        if args.record:
            if not args.autopilot:
                raise CloudtalesError("--record needs --autopilot")
            fresh_record_dir(Path(args.record))
            runner = RecordingRunner(runner, args.record)
        session = Session.start(
            graph,
            inventory,
            runner,
            pb.drill.symptom,
            journal,
            drill=args.name,
            healthy=args.healthy,
            lab_mode=info.mode,
        )
        if args.autopilot:
            _say(f"symptom: {pb.drill.symptom}")
            rc = asyncio.run(_autopilot(session, tail))
            if args.record:
                note = f"recorded from `cloudtales drill {args.name}` ({state} lab, {info.mode})"
                where = record_rehearsal(args.record, session.walker, info.inventory_path, note)
                tail.insert(0, f"rehearsal recorded in {where}")
            return rc
        return _run_tui(graph, inventory, session, journal, f"cloudtales drill: {pb.title}")
    finally:
        if args.keep:
            _say(f"lab kept running: `cloudtales lab down {lab.name}` removes it")
        else:
            lab.down()
            _say(f"  lab {lab.name} down")
        for line in tail:
            _say(line)
