"""What each lab needs from this machine, and whether this machine has it.

A lab may answer for itself with a ``requirements()`` method returning
``Requirements``. Otherwise it is asked the way its own preflight asks: the
``TOOLS`` mappings (command -> apt package) of its module and of the lab helper
modules it imports (``mariadb_server``, ``rabbitmq_node``, ``vlan_bpf``...), on top
of the netns baseline every lab uses; double-vlan's toolchain header is added here.
``cloudtales drill --list`` prints the result.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from labs.core import netns
from labs.core.base import Lab
from labs.double_vlan import vlan_bpf


@dataclass(frozen=True)
class Requirements:
    root: bool = True  # network namespaces, sshd on port 22
    tools: Mapping[str, str] = field(default_factory=dict)  # command -> apt package
    files: Mapping[str, str] = field(default_factory=dict)  # path -> apt package
    python: Mapping[str, str] = field(default_factory=dict)  # module -> pip package
    notes: tuple[str, ...] = ()  # what cannot be probed (kernel features...)

    def summary(self) -> str:
        parts = ["root"] if self.root else []
        if self.tools:
            parts.append("commands " + ", ".join(self.tools))
        if self.files:
            parts.append("files " + ", ".join(self.files))
        if self.python:
            parts.append("python " + ", ".join(self.python))
        parts += list(self.notes)
        return "; ".join(parts) or "nothing"


BASELINE = Requirements(
    tools={**netns.BASE_TOOLS, "tcpdump": "tcpdump", "ping": "iputils-ping"},
    notes=("kernel: network namespaces, veth, bridge",),
)

EXTRA: dict[str, Requirements] = {
    "double-vlan": Requirements(
        files={str(vlan_bpf.HELPERS_HEADER): "libbpf-dev"},
        python={"scapy": "scapy"},
        notes=("kernel: tc clsact + BPF (or 802.1Q)",),
    ),
    "overlay-mtu": Requirements(notes=("kernel: network namespaces, veth, bridge, vxlan",)),
}


def _tools_of(module: ModuleType) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in vars(module).items():
        if (name == "TOOLS" or name.endswith("_TOOLS")) and isinstance(value, Mapping):
            found.update({str(k): str(v) for k, v in value.items()})
    return found


def declared_tools(lab: Lab) -> dict[str, str]:
    """The ``TOOLS`` its module declares, and those of the lab modules it imports."""
    module = sys.modules.get(type(lab).__module__)
    if module is None:
        return {}
    tools = _tools_of(module)
    for value in vars(module).values():
        helper = isinstance(value, ModuleType) and value.__name__.startswith("labs.")
        if helper and value.__name__ != "labs.core.netns":
            tools.update(_tools_of(value))
    return tools


def requirements_of(lab: Lab) -> Requirements:
    own = getattr(lab, "requirements", None)
    if callable(own):
        found = own()
        if isinstance(found, Requirements):
            return found
    extra = EXTRA.get(lab.name, Requirements())
    return Requirements(
        tools={**BASELINE.tools, **declared_tools(lab), **extra.tools},
        files=extra.files,
        python=extra.python,
        notes=extra.notes or BASELINE.notes,
    )


def missing(req: Requirements, euid: int | None = None) -> list[str]:
    """What this machine lacks, each with how to get it; empty when it can run the lab."""
    out: list[str] = []
    if req.root and (os.geteuid() if euid is None else euid) != 0:
        out.append("root (run with sudo)")
    absent = {cmd: pkg for cmd, pkg in req.tools.items() if netns.tool_path(cmd) is None}
    if absent:
        out.append(f"{', '.join(absent)} (apt install {' '.join(sorted(set(absent.values())))})")
    for path, pkg in req.files.items():
        if not Path(path).exists():
            out.append(f"{path} (apt install {pkg})")
    for module, pkg in req.python.items():
        if importlib.util.find_spec(module) is None:
            out.append(f"python module {module} (pip install {pkg})")
    return out
