"""Where the playbooks are: standard library only, so the start-up index (which must not
import yaml or pydantic) and the loader list the same files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def default_playbook_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "playbooks"


def playbook_files(paths: Sequence[str | Path] | None = None) -> list[Path]:
    """Expand directories into their *.yaml files (sorted); default: the shipped playbooks."""
    targets = [Path(p) for p in paths] if paths else [default_playbook_dir()]
    files: list[Path] = []
    for t in targets:
        if t.is_dir():
            files.extend(sorted([*t.glob("*.yaml"), *t.glob("*.yml")]))
        else:
            files.append(t)
    return files
