"""An investigation session: graph + inventory + runner + walker + journal, UI-free.

The TUI and the headless autopilot both drive one of these.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.checks.base import LiveLine
from engine.errors import CloudtalesError
from engine.executor import StepReport, autopilot
from engine.journal import RESUMED, Journal, read_events
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.runner import Runner
from engine.walker import Walker


def journal_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cloudtales" / "journals"


def default_journal_path(symptom: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return journal_dir() / f"{stamp}-{symptom}.jsonl"


@dataclass
class Session:
    graph: PlaybookGraph
    inventory: Inventory
    runner: Runner
    walker: Walker
    journal: Journal

    @classmethod
    def start(
        cls,
        graph: PlaybookGraph,
        inventory: Inventory,
        runner: Runner,
        symptom: str,
        journal_path: Path | None = None,
        **meta: object,
    ) -> Session:
        """A new walk. ``server`` in ``meta`` (a ``--server`` resolution, as the journal
        keeps it) also starts the walk from the API's facts (``server.host``, ``server.tap``
        ...), whoever starts it: the headless ``-s`` path or a symptom picked in the TUI."""
        path = journal_path or default_journal_path(symptom)
        journal = Journal(path)
        walker = Walker.start(
            graph,
            symptom,
            journal,
            inventory=inventory.source,
            inventory_reader=inventory.reader,  # which program read it: Ansible, or ours
            **meta,
        )
        if meta.get("server"):
            from engine.server_resolution import ServerResolution

            res = ServerResolution.from_event(meta["server"], str(path))
            for name, value in res.facts().items():
                walker.set_fact(name, value, source="api")
        return cls(graph, inventory, runner, walker, journal)

    @classmethod
    def resume(
        cls,
        graph: PlaybookGraph,
        journal_path: Path,
        runner_factory: Callable[[Inventory], Runner],
        inventory: Inventory | None = None,
    ) -> Session:
        """Continue from a journal: the walk replayed, a ``resumed`` event appended. A
        walk started with ``--server`` gets the inventory narrowed by the resolution
        its session event kept (``engine.server_resolution``), not a new API answer.

        What else the screen showed comes from ``engine.resume_state.restore``."""
        events = list(read_events(journal_path))
        first = next((e for e in events if e.type == "session"), None)
        if first is None:
            raise CloudtalesError(f"{journal_path}: no session event; nothing to resume")
        if inventory is None:
            src = first.data.get("inventory")
            if not src:
                raise CloudtalesError(f"{journal_path}: no inventory recorded; pass --inventory")
            inventory = load_inventory(str(src))
        if first.data.get("server"):  # a --server walk: narrowed as it was, never re-asked
            from engine.server_resolution import narrow_resumed

            inventory = narrow_resumed(inventory, first.data["server"], str(journal_path))
        walker = Walker(graph)
        for ev in events:  # a journal from another playbook version: one line, which event
            try:
                walker.apply(ev)
            except (CloudtalesError, KeyError, ValueError, TypeError) as exc:
                raise CloudtalesError(
                    f"{journal_path}: event {ev.seq} ({ev.type}) does not replay "
                    f"on these playbooks: {exc}"
                ) from None
        journal = Journal(journal_path)  # seals a line torn by a crash mid-write
        walker.journal = journal
        walker.record(RESUMED, after=len(events))
        return cls(graph, inventory, runner_factory(inventory), walker, journal)

    async def autopilot(
        self,
        on_step: Callable[[StepReport], None] = lambda r: None,
        emit: Callable[[LiveLine], None] = lambda line: None,
    ) -> None:
        await autopilot(self.walker, self.runner, self.inventory, on_step, emit)

    async def close(self) -> None:
        await self.runner.close()
        self.journal.close()


def format_step(n: int, report: StepReport) -> str:
    result = report.outcome or "failed -> fallback"
    return f"  {n}. {report.node} -> {result} ({report.seconds:.1f}s): {report.summary}"
