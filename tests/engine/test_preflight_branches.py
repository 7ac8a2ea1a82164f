"""The preflight line says plainly what checks on every walk lack, and as a note what only
some branches would need: compute-service-down's lab has no switch, and only a bond with
every member down routes into Valentine's Day's switch log (vd-switch-log)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.preflight import lacks, lacks_line
from engine.remote.inventory import load_inventory

REHEARSALS = Path(__file__).resolve().parent.parent / "rehearsals"
CSD = REHEARSALS / "compute-service-down-faulty" / "inventory.yaml"
VALENTINES = REHEARSALS / "valentines-faulty" / "inventory.yaml"
SSH_FREEZES = "ssh-freezes-on-large-output"


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def test_a_switch_only_the_bond_branch_needs_is_a_note(graph: PlaybookGraph) -> None:
    inv = load_inventory(CSD)
    (lack,) = lacks(graph, "compute-service-down", inv)
    assert (lack.what, lack.checks, lack.every_walk) == ("role 'switch'", ("vd-switch-log",), False)
    line = lacks_line(graph, "compute-service-down", inv)
    assert line == (
        f"note: should the walk branch there, {CSD} lacks: role 'switch' (for vd-switch-log)"
    )


def test_what_the_first_check_lacks_is_said_plainly(graph: PlaybookGraph) -> None:
    """pmtu-outside-instance starts every walk of the symptom: no note."""
    inv = load_inventory(VALENTINES)
    assert all(lack.every_walk for lack in lacks(graph, SSH_FREEZES, inv))
    line = lacks_line(graph, SSH_FREEZES, inv)
    assert line is not None
    assert line.startswith(f"{VALENTINES} lacks: role 'outside' (for pmtu-outside-instance")
    assert "branch" not in line


def test_both_kinds_in_one_line(graph: PlaybookGraph, tmp_path: Path) -> None:
    """nova_conf is read by nova-vlan-interface, which only the capture's finding reaches."""
    doc = yaml.safe_load(VALENTINES.read_text())
    del doc["hosts"]["compute"]["vars"]["nova_conf"]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc))
    line = lacks_line(graph, SSH_FREEZES, load_inventory(path))
    assert line is not None
    sure, _, branch = line.partition("; should the walk branch there, also: ")
    assert sure.startswith(f"{path} lacks: role 'outside' (for pmtu-outside-instance")
    assert branch == "var nova_conf on compute (for nova-vlan-interface)"


def test_an_inventory_with_everything_says_nothing(graph: PlaybookGraph) -> None:
    inv = load_inventory(REHEARSALS / "double-vlan-faulty" / "inventory.yaml")
    assert lacks_line(graph, SSH_FREEZES, inv) is None
