"""What a lab is: a real reproduction of one tale, built from network namespaces.

A lab brings up hosts (namespaces with real sshd on a management network) and a
data path carrying the tale's fault, then writes an inventory so the same checks
that run against production run against it. ``up`` is idempotent, ``down``
removes everything the lab could have left behind, even after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

RUN_ROOT = Path("/run/cloudtales/labs")
"""Every lab keeps its keys, configs, pid files and inventory under RUN_ROOT/<lab name>."""

Progress = Callable[[str], None]


def quiet(message: str) -> None:
    """The default progress callback: says nothing."""


@dataclass
class LabInfo:
    name: str
    inventory_path: Path
    mode: str
    healthy: bool
    hosts: list[str]


@dataclass
class LabStatus:
    name: str
    running: bool
    mode: str | None
    healthy: bool | None
    details: list[str] = field(default_factory=list)


def health(healthy: bool) -> str:
    return "healthy" if healthy else "faulty"


@runtime_checkable
class Lab(Protocol):
    name: str
    title: str

    def up(self, healthy: bool = False, progress: Progress = quiet) -> LabInfo: ...

    def down(self) -> list[str]: ...

    def status(self) -> LabStatus: ...

    def inventory_path(self) -> Path: ...


@dataclass
class LabState:
    """What a lab remembers between calls, kept as JSON in its run dir.

    It is written before anything is built (``complete`` false), so that ``down``
    after a crash still knows which shared paths the lab created itself.
    """

    mode: str
    healthy: bool
    complete: bool = False
    created_paths: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LabState | None:
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)


def running_as(lab: Lab) -> LabInfo | None:
    """The lab as it runs now, if it is up and working (None: down, or half-built).

    A drill uses it to leave a lab someone brought up as it found it."""
    st = lab.status()
    if not st.running or st.healthy is None:
        return None
    hosts = [str(h) for h in getattr(lab, "host_names", ())]
    return LabInfo(lab.name, lab.inventory_path(), st.mode or "", st.healthy, hosts)


def with_fault(lab: Lab, fault: str | None) -> Lab:
    """``--fault NAME``: ``lab`` set to build that fault (a lab with several faults has
    ``select_fault``, which refuses a name it does not know); None leaves it as it is."""
    if not fault:
        return lab
    select = getattr(lab, "select_fault", None)
    if not callable(select):
        from engine.errors import CloudtalesError

        raise CloudtalesError(f"lab {lab.name} has a single fault: drop --fault")
    select(fault)
    return lab
