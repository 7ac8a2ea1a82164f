"""Convert rehearsals: write each one's ``sources.yaml`` from its command recordings.

``python -m engine.sources.convert tests/rehearsals`` replays every rehearsal through
``LiveSources`` over its ``ReplayRunner`` while a ``SourceRecorder`` keeps what each
named source answered, then saves those answers keyed by host, source and parameters.
No lab is needed. ``recordings.yaml`` stays: it answers what no source covers yet
(captures, the ping sweep, SQL, libvirt) and the TUI tests replay it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import yaml

from engine.errors import CloudtalesError
from engine.executor import autopilot
from engine.journal import Journal
from engine.playbook.graph import PlaybookGraph
from engine.rehearsal import load_rehearsal, rehearsal_dirs
from engine.remote.inventory import load_inventory
from engine.remote.replay import ReplayRunner, load_recordings
from engine.sources.attach import SourcedRunner
from engine.sources.live import LiveSources
from engine.sources.recorded import SOURCES_FILE, SourceRecorder
from engine.walker import Walker


async def convert(graph: PlaybookGraph, directory: Path, tmp: Path) -> int:
    spec = load_rehearsal(directory)
    inventory = load_inventory(spec.inventory)
    entries = yaml.safe_load(spec.recordings.read_text()) or []
    replay = ReplayRunner(load_recordings(entries, spec.recordings.parent))
    recorder = SourceRecorder(LiveSources(replay))
    with Journal(tmp / f"{directory.name}.jsonl") as journal:
        walker = Walker.start(graph, spec.symptom, journal, rehearsal=str(directory))
        await autopilot(walker, SourcedRunner(replay, recorder), inventory)
    if walker.path != spec.expect_path:
        raise CloudtalesError(f"{directory}: the replay took {walker.path}, not its expected path")
    if recorder.answers:
        recorder.save(directory / SOURCES_FILE)
    return len(recorder.answers)


def main(argv: list[str]) -> int:
    import tempfile

    from engine.playbook.graph import load_valid_graph

    graph = load_valid_graph(None)
    with tempfile.TemporaryDirectory(prefix="cloudtales-convert-") as tmp:
        for root in argv or ["tests/rehearsals"]:
            for d in rehearsal_dirs(root):
                n = asyncio.run(convert(graph, d, Path(tmp)))
                print(f"{d}: {n} source answers -> {SOURCES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
