"""Rehearsals: recorded outputs in, expected path and diagnosis out (orquesta-style).

A rehearsal is a directory holding ``rehearsal.yaml``::

    symptom: ssh-freezes-on-large-output
    inventory: inventory.yaml        # relative to this directory
    recordings: recordings.yaml      # engine.remote.replay.load_recordings format
    expect:
      path: [ssh-freezes-on-large-output, pmtu-outside-instance, ..., vlan-on-vlan]
      diagnosis: vlan-on-vlan
      facts: {capture-path.outcome: stacked}   # optional: a subset to compare

``rehearse`` walks the symptom in autopilot against a ``ReplayRunner`` that answers
from the recordings, exactly as a live session would (same checks, parsers,
detectors, walker); ``record_rehearsal`` writes such a directory from a live session
(``cloudtales drill NAME --autopilot --record DIR``), so real lab runs become tests.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import CloudtalesError
from engine.executor import autopilot
from engine.journal import Journal
from engine.playbook.evidence_lint import INCONCLUSIVE
from engine.playbook.graph import PlaybookGraph
from engine.remote.inventory import load_inventory
from engine.remote.replay import ReplayRunner, load_recordings
from engine.remote.runner import Runner
from engine.results import FactValue
from engine.sources.attach import SourcedRunner
from engine.sources.recorded import SOURCES_FILE, RecordedSources, load_answers
from engine.walker import Walker

REHEARSAL_FILE = "rehearsal.yaml"
_KEYS = {"symptom", "inventory", "recordings", "expect", "note"}
_EXPECT_KEYS = {"path", "diagnosis", "facts"}


@dataclass(frozen=True)
class Rehearsal:
    directory: Path
    symptom: str
    inventory: Path
    recordings: Path
    expect_path: list[str]
    expect_diagnosis: str
    expect_facts: dict[str, FactValue] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class RehearsalResult:
    path: list[str]
    diagnosis: str | None
    facts: dict[str, FactValue]
    commands: list[str]
    verdict: str = ""  # the walk's last line: ``diagnosis: ID`` or ``inconclusive: ...``

    def mismatches(self, spec: Rehearsal) -> list[str]:
        """What differs from the expectation, one line each (empty: it passed)."""
        out: list[str] = []
        if self.path != spec.expect_path:
            out.append(f"path {' -> '.join(self.path)} != {' -> '.join(spec.expect_path)}")
        if self.diagnosis != spec.expect_diagnosis:
            out.append(f"diagnosis {self.diagnosis} != {spec.expect_diagnosis}")
        for name, want in spec.expect_facts.items():
            got = self.facts.get(name)
            if got != want:
                out.append(f"fact {name} = {got!r} != {want!r}")
        return out


def load_rehearsal(directory: str | Path) -> Rehearsal:
    d = Path(directory)
    f = d / REHEARSAL_FILE
    try:
        data: Any = yaml.safe_load(f.read_text())
    except OSError as exc:
        raise CloudtalesError(f"{f}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CloudtalesError(f"{f}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise CloudtalesError(f"{f}: a rehearsal is a mapping (symptom, inventory, ...)")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CloudtalesError(f"{f}: unknown key(s) {', '.join(unknown)}")
    expect = data.get("expect")
    if not isinstance(expect, dict) or set(expect) - _EXPECT_KEYS:
        raise CloudtalesError(f"{f}: expect: a mapping of path, diagnosis and optional facts")
    for key in ("symptom", "inventory", "recordings"):
        if not isinstance(data.get(key), str):
            raise CloudtalesError(f"{f}: {key}: a string is required")
    path = expect.get("path")
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise CloudtalesError(f"{f}: expect.path: a list of node ids is required")
    if not isinstance(expect.get("diagnosis"), str):
        raise CloudtalesError(f"{f}: expect.diagnosis: a diagnosis id is required")
    facts = expect.get("facts") or {}
    if not isinstance(facts, dict):
        raise CloudtalesError(f"{f}: expect.facts: a mapping of fact name to value")
    return Rehearsal(
        directory=d,
        symptom=data["symptom"],
        inventory=d / data["inventory"],
        recordings=d / data["recordings"],
        expect_path=list(path),
        expect_diagnosis=expect["diagnosis"],
        expect_facts=dict(facts),
        note=str(data.get("note", "")),
    )


def rehearsal_dirs(root: str | Path) -> list[Path]:
    """Every directory under ``root`` that holds a rehearsal.yaml, sorted."""
    return sorted(p.parent for p in Path(root).rglob(REHEARSAL_FILE))


@dataclass
class RehearsalRunner:
    """What a rehearsal answers from: named sources from sources.yaml (by name and
    params), the rest from recordings.yaml. ``runner`` never touches a host or an API."""

    runner: Runner
    recorded: RecordedSources
    replay: ReplayRunner


def rehearsal_runner(spec: Rehearsal) -> RehearsalRunner:
    try:
        entries = yaml.safe_load(spec.recordings.read_text())
    except OSError as exc:
        raise CloudtalesError(f"{spec.recordings}: cannot read ({exc.strerror})") from None
    try:
        recordings = load_recordings(entries or [], spec.recordings.parent)
    except ValueError as exc:
        raise CloudtalesError(f"{spec.recordings}: {exc}") from None
    replay = ReplayRunner(recordings)
    runner: Runner = replay
    answers = spec.recordings.parent / SOURCES_FILE
    recorded = RecordedSources([])
    if answers.exists():  # named sources answer from sources.yaml, by name and params
        recorded = RecordedSources(load_answers(answers), answers.parent)
        runner = SourcedRunner(replay, recorded)
    return RehearsalRunner(runner, recorded, replay)


async def rehearse(graph: PlaybookGraph, spec: Rehearsal) -> RehearsalResult:
    """Walk ``spec.symptom`` in autopilot against the recordings; never touches a host."""
    inventory = load_inventory(spec.inventory)
    answers = rehearsal_runner(spec)
    runner, recorded, replay = answers.runner, answers.recorded, answers.replay
    with (
        tempfile.TemporaryDirectory(prefix="cloudtales-rehearsal-") as tmp,
        Journal(Path(tmp) / "journal.jsonl") as journal,
    ):
        walker = Walker.start(graph, spec.symptom, journal, rehearsal=str(spec.directory))
        await autopilot(walker, runner, inventory)
    dia = walker.diagnosis
    verdict = walker.verdict
    return RehearsalResult(
        path=walker.path,
        diagnosis=dia.id if dia else INCONCLUSIVE,
        facts=walker.facts,
        commands=recorded.asked + replay.commands(),  # sources asked, then commands
        verdict=verdict.line() if verdict is not None else "",
    )


def fresh_record_dir(directory: Path) -> None:
    """Empty a rehearsal directory before recording into it again (refuse anything else)."""
    if not directory.exists():
        return
    names = {p.name for p in directory.iterdir()}
    ours = {REHEARSAL_FILE, "recordings.yaml", "inventory.yaml", SOURCES_FILE}
    strangers = [n for n in names if n not in ours and not n.startswith("stream-")]
    if strangers:
        raise CloudtalesError(
            f"{directory}: holds files that are not a recording ({', '.join(sorted(strangers))})"
        )
    for name in names:
        (directory / name).unlink()


def record_rehearsal(
    directory: str | Path, walker: Walker, inventory_path: str | Path, note: str = ""
) -> Path:
    """Finish a directory that a ``RecordingRunner`` filled during a live session.

    Copies the inventory beside the recordings and writes rehearsal.yaml with the path
    and diagnosis the live session reached, plus each check's outcome as expected facts.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(inventory_path, d / "inventory.yaml")
    if not walker.done:
        raise CloudtalesError("the session did not reach its end; nothing to record")
    dia = walker.diagnosis
    outcomes = {k: v for k, v in walker.facts.items() if k.endswith(".outcome")}
    data = {
        "symptom": walker.path[0],
        "note": note,
        "inventory": "inventory.yaml",
        "recordings": "recordings.yaml",
        "expect": {
            "path": walker.path,
            "diagnosis": dia.id if dia else INCONCLUSIVE,
            "facts": outcomes,
        },
    }
    (d / REHEARSAL_FILE).write_text(yaml.safe_dump(data, sort_keys=False, width=100))
    return d
