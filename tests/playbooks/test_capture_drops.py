"""A packet tcpdump dropped is not a packet the network lost: The Issue's diagnosis
stands on DHCP replies missing at the instance, so it needs every capture point to have
counted 0 kernel drops. The real recording of the faulty lab, with tcpdump's last count
at the instance changed, must end inconclusive naming that requirement."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from engine.playbook.graph import load_valid_graph
from engine.rehearsal import load_rehearsal, rehearse

SRC = Path(__file__).resolve().parent.parent / "rehearsals" / "the-issue-faulty"


def _with_instance_drops(dst: Path, dropped: int) -> None:
    entries = yaml.safe_load((dst / "sources.yaml").read_text())
    for entry in entries:
        if entry["source"] == "capture" and entry["host"] == "instance":
            lines = entry["stderr"].splitlines()
            last = max(i for i, line in enumerate(lines) if "dropped by kernel" in line)
            lines[last] = lines[last].replace(
                "0 packets dropped by kernel", f"{dropped} packets dropped by kernel"
            )
            entry["stderr"] = "\n".join(lines) + "\n"
    (dst / "sources.yaml").write_text(yaml.safe_dump(entries))


async def test_the_recording_as_made_reaches_the_diagnosis() -> None:
    result = await rehearse(load_valid_graph(), load_rehearsal(SRC))
    assert result.diagnosis == "dhcp-replies-lost-under-load"
    assert result.facts["ti-dhcp-conversation.kernel_drops_total"] == 0


async def test_kernel_drops_at_the_instance_make_it_inconclusive(tmp_path: Path) -> None:
    dst = tmp_path / "dropped"
    shutil.copytree(SRC, dst)
    _with_instance_drops(dst, 7)
    result = await rehearse(load_valid_graph(), load_rehearsal(dst))
    assert result.facts["ti-dhcp-conversation.kernel_drops"] == {
        "instance:eth0": 7,
        "controller:br100": 0,
    }
    assert result.diagnosis == "inconclusive"
    assert "ti-dhcp-conversation.kernel_drops_total=0 (observed 7)" in result.verdict
