"""compute-service-down's clock branch. The lab's namespaces share one kernel clock, so
the real recording of a frozen nova-compute (the lab's ``hung`` fault) reads ~0 s and
ends inconclusive at cs-clock. The same recording with compute-2's clock answers moved
(as a host whose time source died would answer) must end ``compute-clock-skew``, with
the offset observed and the lab's service_down_time from the controller's nova.conf."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from engine.playbook.graph import load_valid_graph
from engine.rehearsal import load_rehearsal, rehearse

SRC = Path(__file__).resolve().parent.parent / "rehearsals" / "compute-service-down-hung"


def _move_clock(dst: Path, host: str, seconds: float) -> int:
    entries = yaml.safe_load((dst / "sources.yaml").read_text())
    moved = 0
    for entry in entries:
        if entry["source"] == "clock" and entry["host"] == host:
            sent, remote, received = entry["stdout"].splitlines()
            entry["stdout"] = f"{sent}\n{float(remote) + seconds:.9f}\n{received}\n"
            moved += 1
    (dst / "sources.yaml").write_text(yaml.safe_dump(entries))
    return moved


async def test_the_recording_as_made_is_in_sync_and_inconclusive() -> None:
    result = await rehearse(load_valid_graph(), load_rehearsal(SRC))
    assert result.diagnosis == "inconclusive"
    assert result.facts["cs-clock.outcome"] == "in_sync"
    assert abs(float(str(result.facts["cs-clock.offset_seconds"]))) < 1.0
    assert result.facts["cs-clock.service_down_time"] == 15


@pytest.mark.parametrize(("seconds", "side"), [(300.0, "ahead of"), (-90.0, "behind")])
async def test_a_moved_compute_clock_is_compute_clock_skew(
    tmp_path: Path, seconds: float, side: str
) -> None:
    dst = tmp_path / "skewed"
    shutil.copytree(SRC, dst)
    assert _move_clock(dst, "compute-2", seconds) == 3
    result = await rehearse(load_valid_graph(), load_rehearsal(dst))
    assert result.diagnosis == "compute-clock-skew"
    assert result.facts["cs-clock.offset_seconds"] == pytest.approx(seconds, abs=1.0)
    summary = str(result.facts["cs-clock.summary"])
    assert f"compute-2's clock is {abs(seconds):.0f}." in summary
    assert side in summary
    assert "service_down_time 15 s (service_down_time in controller:" in summary


async def test_a_move_within_service_down_time_stays_in_sync(tmp_path: Path) -> None:
    dst = tmp_path / "drift"
    shutil.copytree(SRC, dst)
    _move_clock(dst, "compute-2", 5.0)  # 5 s off: real drift, but not beyond 15 s
    result = await rehearse(load_valid_graph(), load_rehearsal(dst))
    assert result.facts["cs-clock.outcome"] == "in_sync"
    assert result.diagnosis == "inconclusive"
