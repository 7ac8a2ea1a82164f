"""Rehearsals: every recorded session under tests/rehearsals/ replays to its expected
path and diagnosis through the real checks, parsers, detectors and walker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.rehearsal import load_rehearsal, rehearsal_dirs, rehearse
from tui.cli import main

ROOT = Path(__file__).resolve().parent.parent / "rehearsals"
DIRS = rehearsal_dirs(ROOT)


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def test_there_are_rehearsals_for_faulty_and_healthy_labs() -> None:
    names = {d.name for d in DIRS}
    assert {"double-vlan-faulty", "double-vlan-healthy"} <= names


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
async def test_rehearsal_reaches_its_diagnosis(graph: PlaybookGraph, directory: Path) -> None:
    spec = load_rehearsal(directory)
    result = await rehearse(graph, spec)
    assert result.mismatches(spec) == []
    assert result.path[-1] == spec.expect_diagnosis
    assert result.commands, "a rehearsal that ran no command proves nothing"


async def test_a_wrong_expectation_is_reported(graph: PlaybookGraph, tmp_path: Path) -> None:
    src = ROOT / "double-vlan-faulty"
    dst = tmp_path / "wrong"
    shutil.copytree(src, dst)
    data = yaml.safe_load((dst / "rehearsal.yaml").read_text())
    data["expect"]["diagnosis"] = "plain-mtu-mismatch"
    data["expect"]["facts"]["capture-path.outcome"] = "single"
    (dst / "rehearsal.yaml").write_text(yaml.safe_dump(data))
    spec = load_rehearsal(dst)
    problems = (await rehearse(graph, spec)).mismatches(spec)
    assert "diagnosis vlan-on-vlan != plain-mtu-mismatch" in problems
    assert "fact capture-path.outcome = 'stacked' != 'single'" in problems


async def test_a_changed_capture_changes_the_outcome(graph: PlaybookGraph, tmp_path: Path) -> None:
    """The replay really decodes the recorded pcap: without frames the outcome changes."""
    dst = tmp_path / "empty-capture"
    shutil.copytree(ROOT / "double-vlan-faulty", dst)
    for stream in dst.glob("stream-*.bin"):
        stream.write_bytes(stream.read_bytes()[:24])  # the pcap header, no frames
    spec = load_rehearsal(dst)
    result = await rehearse(graph, spec)
    assert result.facts["capture-path.outcome"] == "no_frames"
    assert "fact capture-path.outcome = 'no_frames' != 'stacked'" in result.mismatches(spec)


def test_malformed_rehearsal_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "rehearsal.yaml").write_text("symptom: x\nexpect: [1]\n")
    with pytest.raises(CloudtalesError, match=r"rehearsal.yaml: expect: a mapping"):
        load_rehearsal(tmp_path)


def test_cli_rehearse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rehearse", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert f"{len(DIRS)} passed, 0 failed" in out


async def test_a_command_asked_twice_gets_its_answers_in_order() -> None:
    from engine.remote.inventory import Host
    from engine.remote.replay import Recording, ReplayRunner

    runner = ReplayRunner(
        [
            Recording("*", "^pgrep dhclient$", stdout="123\n"),
            Recording("*", "^pgrep dhclient$", stdout="", exit_status=1),
        ]
    )
    host = Host(name="instance")
    answers = [(await runner.run(host, "pgrep dhclient")).exit_status for _ in range(3)]
    assert answers == [0, 1, 1]  # the dhclient that was running, then gone (and stays gone)


async def test_vlan_offload_on_the_capture_points_is_warned(graph: PlaybookGraph) -> None:
    """The lab's veths have rx/tx VLAN offload on (recorded ethtool -k answers)."""
    result = await rehearse(graph, load_rehearsal(ROOT / "double-vlan-faulty"))
    warnings = result.facts["capture-path.vlan_offload_warnings"]
    assert isinstance(warnings, list)
    assert sorted(w.split(":")[0] for w in warnings) == ["compute", "controller", "outside"]
    assert all("rx-vlan-offload and tx-vlan-offload on" in w for w in warnings)


async def test_no_ethtool_answer_means_no_offload_warning(
    graph: PlaybookGraph, tmp_path: Path
) -> None:
    dst = tmp_path / "no-ethtool"
    shutil.copytree(ROOT / "double-vlan-faulty", dst)
    entries = yaml.safe_load((dst / "recordings.yaml").read_text())
    kept = [e for e in entries if "ethtool" not in e["match"]]
    assert len(kept) == len(entries) - 3
    (dst / "recordings.yaml").write_text(yaml.safe_dump(kept))
    answers = yaml.safe_load((dst / "sources.yaml").read_text())  # named-source answers
    kept = [a for a in answers if a["source"] != "ethtool_features"]
    assert len(kept) == len(answers) - 3
    (dst / "sources.yaml").write_text(yaml.safe_dump(kept))
    result = await rehearse(graph, load_rehearsal(dst))
    assert result.facts["capture-path.vlan_offload_warnings"] == []
    assert result.diagnosis == "vlan-on-vlan"
