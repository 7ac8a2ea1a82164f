"""compute-service-down's bond branch. The lab's computes have no bond (cs-bond: no_bond,
and the walk goes on). The real recording of the rabbit-auth fault, with compute-2's
``ip -j -d link`` answer replaced by a bond0 whose two members lost their link, must
leave the compute-service-down tale at cs-bond for Valentine's Day (its bond check,
then the switches' logs), and read the bond on the host nova named, not the others."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from engine.playbook.graph import load_valid_graph
from engine.rehearsal import load_rehearsal, rehearse

SRC = Path(__file__).resolve().parent.parent / "rehearsals" / "compute-service-down-faulty"


def link(index: int, name: str, flags: list[str], state: str, **extra: Any) -> dict[str, Any]:
    return {"ifindex": index, "ifname": name, "flags": flags, "mtu": 1500,
            "operstate": state, "link_type": "ether", "address": f"52:54:00:00:00:0{index}",
            **extra}  # fmt: skip


BOND_DOWN = [
    link(1, "lo", ["LOOPBACK", "UP", "LOWER_UP"], "UNKNOWN"),
    link(2, "mgmt0", ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "UP",
         linkinfo={"info_kind": "veth"}),
    link(3, "eth0", ["NO-CARRIER", "BROADCAST", "MULTICAST", "SLAVE", "UP"], "DOWN",
         master="bond0", linkinfo={"info_slave_kind": "bond"}),
    link(4, "eth1", ["NO-CARRIER", "BROADCAST", "MULTICAST", "SLAVE", "UP"], "DOWN",
         master="bond0", linkinfo={"info_slave_kind": "bond"}),
    link(5, "bond0", ["NO-CARRIER", "BROADCAST", "MULTICAST", "MASTER", "UP"], "DOWN",
         linkinfo={"info_kind": "bond"}),
]  # fmt: skip


def _bond_down_on_compute2(dst: Path) -> None:
    entries = yaml.safe_load((dst / "sources.yaml").read_text())
    extra = []
    for entry in entries:
        if entry["source"] in ("ip_link", "proc_net_bonding") and entry["host"] == "compute-2":
            extra.append({**entry, "host": "compute-1"})  # compute-1 keeps the lab's: no bond
            if entry["source"] == "ip_link":
                entry["stdout"] = json.dumps(BOND_DOWN) + "\n"
    (dst / "sources.yaml").write_text(yaml.safe_dump(entries + extra))


async def test_the_lab_recording_finds_no_bond_and_goes_on() -> None:
    result = await rehearse(load_valid_graph(), load_rehearsal(SRC))
    assert result.path[:4] == ["compute-service-down", "cs-services", "cs-bond", "cs-process"]
    assert result.facts["cs-bond.outcome"] == "no_bond"
    assert result.diagnosis == "compute-rabbit-auth-failed"


async def test_every_member_down_goes_into_valentines_day(tmp_path: Path) -> None:
    dst = tmp_path / "bond-down"
    shutil.copytree(SRC, dst)
    _bond_down_on_compute2(dst)
    result = await rehearse(load_valid_graph(), load_rehearsal(dst))
    assert result.facts["cs-bond.outcome"] == "all_slaves_down"
    assert result.facts["cs-bond.slaves_down"] == ["eth0", "eth1"]
    assert str(result.facts["cs-bond.summary"]).startswith("compute-2: bond0 is DOWN")
    assert result.path[:5] == [
        "compute-service-down", "cs-services", "cs-bond", "vd-bond-state", "vd-switch-log",
    ]  # fmt: skip
    assert "cs-process" not in result.path
    assert result.diagnosis == "inconclusive"  # the lab's inventory has no switch to read
    assert "vd-switch-log" in result.verdict
