"""``cloudtales investigate -i INV`` (no symptom yet): the symptom picker first.

The picker is painted from the cached symptom index (engine/playbook/index.py); the
playbook graph and the inventory are loaded and validated in a thread once it is on
screen, and a symptom picked before they are ready starts as soon as they are. When
the index is missing or stale (the first run, or a playbook changed), the graph is
loaded and validated here first, as before, and the index written for the next start.
A playbook or inventory error is one line on stderr (exit 2) either way: the app
exits and the CLI prints it.

Only cheap modules are imported at the top: the CLI imports this one to decide.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CloudtalesError

if TYPE_CHECKING:
    from engine.playbook.graph import PlaybookGraph
    from engine.remote.inventory import Inventory


def picks_first(args: argparse.Namespace) -> bool:
    """The plain interactive ``investigate``: an inventory and nothing else to do first."""
    return bool(
        args.cmd == "investigate"
        and getattr(args, "inventory", None)
        and not getattr(args, "symptom", None)
        and not getattr(args, "resume", None)
        and not getattr(args, "autopilot", False)
        and not getattr(args, "serve", None)
    )


def cmd_pick_first(args: argparse.Namespace) -> int:
    from engine.playbook.index import SymptomIndex, cached_index, index_key, store_index

    key = index_key(args.playbooks)
    index = cached_index(key)
    validated: PlaybookGraph | None = None
    if index is None:  # first run or playbooks changed: validate before the TUI starts
        from engine.playbook.graph import load_valid_graph

        validated = load_valid_graph(args.playbooks)
        index = SymptomIndex.from_graph(validated)
        store_index(key, index)

    def load() -> tuple[PlaybookGraph, Inventory]:
        from engine.playbook.graph import load_valid_graph
        from engine.remote.inventory import load_inventory

        graph = validated if validated is not None else load_valid_graph(args.playbooks)
        return graph, load_inventory(args.inventory)

    from tui.app import CloudtalesApp, sixteen_colours

    app = CloudtalesApp(
        graph=None,
        inventory=None,
        journal_path=Path(args.journal) if args.journal else None,
        read_only=getattr(args, "read_only", False),
        ansi=sixteen_colours(),
        picker=index,
        loader=load,
    )
    app.run()
    if app.load_error is not None:
        raise CloudtalesError(app.load_error)
    return 0
