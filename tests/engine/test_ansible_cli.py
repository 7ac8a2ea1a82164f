"""Reading an inventory through ``ansible-inventory`` (ansible-core, the dev extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import InventoryError
from engine.remote.ansible_cli import find_ansible_inventory, load_with_ansible
from engine.remote.inventory import load_inventory
from tests.engine.test_inventory_differential import (
    CASES_DIR,
    ORACLE,
    differences,
    source_of,
)

PROGRAM = str(Path(sys.executable).with_name("ansible-inventory"))
CLOUDTALES = str(Path(sys.executable).with_name("cloudtales"))
# the cases where a reader that only copies variables would go wrong
CASES = [
    "ini_legacy_user",
    "ini_legacy_host_port",
    "ini_templates",
    "yaml_templates",
    "dir_group_vars",
    "dir_numbered",
    "ini_ipv6",
    "yaml_merge_key",
]


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    sources = [str(source_of(CASES_DIR / c)) for c in CASES]
    out = subprocess.run(
        [sys.executable, str(ORACLE), *sources], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


@pytest.mark.parametrize("case", CASES)
def test_ansible_reader_agrees_with_ansible(case: str, oracle: dict[str, Any]) -> None:
    source = source_of(CASES_DIR / case)
    inventory = load_with_ansible(source, PROGRAM)
    assert inventory.reader.startswith("ansible-inventory 2.19.")
    assert differences(case, oracle[str(source)]["hosts"], inventory) == []


def test_legacy_user_wins_through_ansible() -> None:
    inv = load_inventory(CASES_DIR / "ini_legacy_user" / "inventory", PROGRAM)
    web01 = inv.host("web01")
    assert (web01.address, web01.username) == ("192.0.2.10", "centos")
    assert inv.reader.startswith("ansible-inventory 2.19.")


def test_ansible_refusal_is_one_line_naming_the_source() -> None:
    source = source_of(CASES_DIR / "malformed_section")
    with pytest.raises(InventoryError) as err:
        load_with_ansible(source, PROGRAM)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{source}: ansible-inventory 2.19.")
    assert "refused it: No inventory was parsed" in message


def test_which_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLOUDTALES_ANSIBLE_INVENTORY", raising=False)
    assert find_ansible_inventory("builtin") is None
    assert find_ansible_inventory(PROGRAM) == PROGRAM
    monkeypatch.setenv("CLOUDTALES_ANSIBLE_INVENTORY", "none")
    assert find_ansible_inventory() is None
    inv = load_inventory(CASES_DIR / "ini_legacy_user" / "inventory")
    assert inv.reader == "built-in"
    with pytest.raises(InventoryError, match="no such ansible-inventory program"):
        find_ansible_inventory(str(tmp_path / "nope"))


def test_hosts_command_says_which_reader(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_text("[control]\nme ansible_connection=local\n")
    for choice, reader in ((PROGRAM, "ansible-inventory 2.19."), ("builtin", "built-in")):
        out = subprocess.run(
            [CLOUDTALES, "hosts", "-i", str(inventory), "--ansible-inventory", choice, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["reader"].startswith(reader)
        assert f"from {inventory} (read by {reader}" in out.stderr.splitlines()[0]
