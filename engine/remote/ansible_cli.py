"""Read an Ansible inventory with Ansible itself: ``ansible-inventory -i SOURCE --list``.

When ``ansible-inventory`` is installed, cloudtales runs it as a separate process and
reads the JSON it prints: Ansible's exact semantics for every format, ``group_vars``,
dynamic inventory plugins and scripts. The hosts' variables in that JSON are already
merged (inventory, group_vars, host_vars); cloudtales then resolves the connection values
as Ansible's ssh plugin does (``engine/remote/ansible_connection.py``) and builds the
``Inventory`` exactly as the built-in reader would from the same variables.

Which program: the one named by the caller (``cloudtales hosts --ansible-inventory
PATH``), else ``$CLOUDTALES_ANSIBLE_INVENTORY``, else ``ansible-inventory`` on ``PATH``;
``builtin`` (or ``none``) in either place selects the built-in reader. The chosen reader
is ``Inventory.reader``: ``"ansible-inventory 2.19.14"`` or ``"built-in"``.

Ansible's own refusal comes back as one line naming the source. Sources Ansible cannot
parse at all are failures (``ANSIBLE_INVENTORY_UNPARSED_FAILED``), never an empty
inventory; its warnings (a file of a directory it skipped) become ``Inventory.notes``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.errors import InventoryError
from engine.parsers.ansible_yaml import parse_ansible_json
from engine.remote.inventory import Inventory

ENV_VAR = "CLOUDTALES_ANSIBLE_INVENTORY"
BUILT_IN = ("builtin", "built-in", "none")
TIMEOUT = 120.0
_VERSION = re.compile(r"\[core ([0-9][^\]\s]*)\]")
_NOISE = re.compile(r"\x1b\[[0-9;]*m")
_versions: dict[str, str] = {}

RoleMap = Mapping[str, str | Sequence[str]]


def find_ansible_inventory(choice: str | None = None) -> str | None:
    """The ``ansible-inventory`` to run, or None for the built-in reader."""
    choice = choice or os.environ.get(ENV_VAR) or None
    if choice is not None and choice.strip().lower() in BUILT_IN:
        return None
    if choice is None:
        return shutil.which("ansible-inventory")
    found = shutil.which(os.path.expanduser(choice))
    if found is None:
        raise InventoryError(f"{choice}: no such ansible-inventory program (or not executable)")
    return found


def ansible_version(program: str) -> str:
    """``2.19.14`` from ``ansible-inventory --version`` (asked once per program)."""
    if program not in _versions:
        out = _run([program, "--version"], program)
        m = _VERSION.search(out.stdout)
        _versions[program] = m.group(1) if m else "unknown version"
    return _versions[program]


def load_with_ansible(
    path: str | Path,
    program: str,
    *,
    roles: RoleMap | None = None,
    name: str | None = None,
) -> Inventory:
    """The inventory at ``path`` as ``program --list`` prints it."""
    from engine.remote.ansible_inventory import tree_to_inventory

    p = Path(path).expanduser()
    if not p.exists():
        raise InventoryError(f"{p}: inventory file not found")
    version = ansible_version(program)
    out = _run([program, "-i", str(p), "--list"], program)
    if out.returncode != 0:
        raise InventoryError(f"{p}: ansible-inventory {version} refused it: {_reason(out.stderr)}")
    tree = parse_ansible_json(out.stdout, f"{p} (ansible-inventory --list)")
    inventory = tree_to_inventory(
        tree,
        p,
        p if p.is_dir() else p.parent,
        roles=roles,
        name=name,
        reader=f"ansible-inventory {version}",
        var_files=False,  # --list already merged group_vars and host_vars
    )
    inventory.notes += [f"ansible-inventory: {w}" for w in warnings(out.stderr)]
    return inventory


def _run(argv: list[str], program: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InventoryError(
            f"{program}: {' '.join(argv[1:])} gave no answer in {TIMEOUT:g}s"
        ) from None
    except OSError as exc:
        raise InventoryError(f"{program}: cannot run ({exc.strerror})") from None


def _lines(stderr: str) -> list[str]:
    return [ln.strip() for ln in _NOISE.sub("", stderr).splitlines() if ln.strip()]


def warnings(stderr: str) -> list[str]:
    """The first line of each of Ansible's ``[WARNING]:`` messages."""
    marker = "[WARNING]:"
    return [ln.removeprefix(marker).strip() for ln in _lines(stderr) if ln.startswith(marker)]


def _reason(stderr: str) -> str:
    """The most telling line of Ansible's refusal."""
    lines = _lines(stderr)
    errors = [ln.removeprefix("[ERROR]:").strip() for ln in lines if ln.startswith("[ERROR]")]
    warned = warnings(stderr)
    parts = errors[:1] + [w for w in warned if "Unable to parse" not in w][:1]
    return "; ".join(parts) or (lines[0] if lines else "no reason given")
