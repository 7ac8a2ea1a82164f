"""The built-in inventory reader against Ansible itself (ansible-core, the dev extra).

Every inventory under ``tests/inventories/`` (one directory per case; the source is the
entry named ``inventory*`` or ``multinode``) is read by Ansible (``ansible_oracle.py``, in
a separate process: what ``ansible-inventory --list`` prints, and the ssh connection
plugin's host/port/remote_user) and by the built-in reader. They must agree on the hosts,
each host's groups, every variable, and the resolved address, port and user; where
Ansible refuses a source, the built-in reader refuses it with one ``file:line`` line.
The differences that are on purpose are listed in ``ON_PURPOSE`` with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import InventoryError
from engine.remote.ansible_inventory import load_ansible_inventory
from engine.remote.inventory import Host, Inventory

HERE = Path(__file__).parent
CASES_DIR = HERE.parent / "inventories"
ORACLE = HERE / "ansible_oracle.py"


def source_of(case: Path) -> Path:
    found = [p for p in case.iterdir() if p.name.startswith(("inventory", "multinode"))]
    assert len(found) == 1, f"{case}: expected one inventory entry, found {found}"
    return found[0].resolve()


CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())

# case -> why the built-in reader answers differently from Ansible, on purpose
ON_PURPOSE: dict[str, str] = {
    "json_script_format": (
        "cloudtales reads the JSON that `ansible-inventory --list` prints as a static file; "
        "Ansible reads that format only from an executable script"
    ),
    "malformed_range": (
        "Ansible expands web[3:1] to no hosts without a word; cloudtales refuses the line"
    ),
}
# (case, host, var) -> why the var is missing from cloudtales' host vars, on purpose
DROPPED_VARS: dict[tuple[str, str, str], str] = {
    ("become_vars", "nc01", "ansible_become_pass"): "passwords are never kept (keys and sudo -n)",
}
# vars cloudtales adds for playbooks; not part of `ansible-inventory --list`
ADDED_VARS = {"group_names"}


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    sources = [str(source_of(CASES_DIR / c)) for c in CASES]
    out = subprocess.run(
        [sys.executable, str(ORACLE), *sources], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def built_in(source: Path) -> Inventory | str:
    try:
        return load_ansible_inventory(source)
    except InventoryError as exc:
        return str(exc)


def connection(host: Host) -> dict[str, Any]:
    return {
        "host": host.address,
        "port": host.port if "port" in host.model_fields_set else None,
        "remote_user": host.username,
    }


def differences(case: str, theirs: dict[str, Any], ours: Inventory) -> list[str]:
    found: list[str] = []
    if set(theirs) != set(ours.hosts):
        return [f"hosts: ansible {sorted(theirs)} cloudtales {sorted(ours.hosts)}"]
    for name, want in theirs.items():
        host = ours.hosts[name]
        groups = sorted(["all", *host.vars["group_names"]])
        if groups != want["groups"]:
            found.append(f"{name}: groups: ansible {want['groups']} cloudtales {groups}")
        mine = {k: v for k, v in host.vars.items() if k not in ADDED_VARS}
        for var in sorted(set(want["vars"]) | set(mine)):
            if (case, name, var) in DROPPED_VARS and var not in mine:
                continue
            a, b = want["vars"].get(var, "<unset>"), mine.get(var, "<unset>")
            if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
                found.append(f"{name}: var {var}: ansible {a!r} cloudtales {b!r}")
        if host.vars.get("ansible_connection") == "local":
            continue  # cloudtales runs these locally: no ssh address, port or user
        if connection(host) != want["conn"]:
            found.append(
                f"{name}: connection: ansible {want['conn']} cloudtales {connection(host)}"
            )
    return found


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_built_in_reader_agrees_with_ansible(case: str, oracle: dict[str, Any]) -> None:
    source = source_of(CASES_DIR / case)
    theirs = oracle[str(source)]
    ours = built_in(source)
    if case in ON_PURPOSE:
        agree = isinstance(ours, Inventory) == ("hosts" in theirs) and (
            "error" in theirs
            or isinstance(ours, str)
            or not differences(case, theirs["hosts"], ours)
        )
        assert not agree, f"{case} is listed as a difference on purpose but they agree"
        if isinstance(ours, str):
            assert_one_line_error(ours, source)
        return
    if "error" in theirs:
        assert isinstance(ours, str), (
            f"Ansible refuses {case} ({theirs['error']}); cloudtales read it"
        )
        assert_one_line_error(ours, source)
        return
    assert isinstance(ours, Inventory), f"Ansible reads {case}; cloudtales: {ours}"
    assert differences(case, theirs["hosts"], ours) == []


def assert_one_line_error(message: str, source: Path) -> None:
    assert "\n" not in message
    head = message.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    assert line.isdigit(), f"no file:line in {message!r}"
    assert Path(file) == source or source in Path(file).parents, message
