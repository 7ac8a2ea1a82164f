"""Every tale walked offline from its lab's real sosreports (tests/sosreports, 12 fixtures),
headless, through the CLI: the last line is the diagnosis, or ``inconclusive`` naming the
live checks still needed; no healthy report ends in a tale's diagnosis; no connection is
ever opened; ``cloudtales report`` reads the offline journal."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from engine.playbook.graph import load_valid_graph
from tui.cli import main

FIXTURES = Path(__file__).parents[1] / "sosreports"
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
TALES = {
    "disappearing-images": "instance-wont-start-backing-missing",
    "double-vlan": "ssh-freezes-on-large-output",
    "havana": "ec2-api-slow",
    "rabbit-hole": "vm-launch-slow-rabbit-spike",
    "the-issue": "instance-drops-off-network",
    "valentines": "compute-node-down-bond-down",
}
# the last line of each walk; an inconclusive one names every live check it stopped at
LAST: dict[tuple[str, str], str] = {
    ("disappearing-images", "faulty"): "diagnosis: imagecache-removed-shared-base",
    ("disappearing-images", "healthy"): "diagnosis: di-backing-chain-intact",
    ("double-vlan", "faulty"): "inconclusive: pmtu-outside-instance@outside (needs live access",
    ("double-vlan", "healthy"): "inconclusive: pmtu-outside-instance@outside (needs live access",
    ("havana", "faulty"): "inconclusive: havana-db-rows@controller (needs live access",
    ("havana", "healthy"): "inconclusive: havana-db-rows@controller (needs live access",
    ("rabbit-hole", "faulty"): "inconclusive: rh-console-sizes@cc12 (console_log_peek not in",
    ("rabbit-hole", "healthy"): "diagnosis: rh-not-console-logs",
    ("the-issue", "faulty"): "inconclusive: ti-dhcp-conversation@instance (needs live access",
    ("the-issue", "healthy"): "inconclusive: ti-dhcp-conversation@instance (needs live access",
    ("valentines", "faulty"): "inconclusive: vd-switch-log@switch (sosreports: no host or role",
    ("valentines", "healthy"): "diagnosis: vd-bond-up-not-this-tale",
}


def playbook_args() -> list[str]:
    """The shipped tales only (another tale's file may be in progress beside them)."""
    return [a for t in TALES for a in ("--playbooks", str(PLAYBOOKS / f"{t}.yaml"))]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any socket connect, SSH connection or live runner fails the test loudly."""
    tried: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tried.append(args)
        raise AssertionError(f"an offline walk tried to connect: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import asyncssh

    monkeypatch.setattr(asyncssh, "connect", refuse)
    import engine.remote.factory as factory

    monkeypatch.setattr(factory, "make_runner", refuse)
    import tui.session_cli as session_cli

    monkeypatch.setattr(session_cli, "make_runner", refuse)
    return tried


def walk(
    lab: str, health: str, journal: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    report = FIXTURES / f"{lab}-{health}.tar.xz"
    argv = [*playbook_args(), "investigate", "--sosreport", str(report), "-s", TALES[lab]]
    rc = main([*argv, "--autopilot", "--journal", str(journal)])
    return rc, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(("lab", "health"), sorted(LAST))
def test_offline_walk_ends_as_expected(
    lab: str,
    health: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_network: list[Any],
) -> None:
    rc, lines = walk(lab, health, tmp_path / "j.jsonl", capsys)
    assert lines[0].startswith("offline: ")
    assert lines[-1].startswith(LAST[(lab, health)]), lines[-1]
    assert rc == (0 if lines[-1].startswith("diagnosis: ") else 3)
    assert no_network == []
    if health == "healthy" and lines[-1].startswith("diagnosis: "):
        graph = load_valid_graph([str(PLAYBOOKS / f"{t}.yaml") for t in TALES])
        dia = graph.diagnosis(lines[-1].split(": ", 1)[1])
        assert not dia.conclusive, f"healthy {lab} reached the tale's diagnosis {dia.id}"


def test_the_offline_journal_says_so_and_report_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[Any]
) -> None:
    journal = tmp_path / "di.jsonl"
    rc, _ = walk("disappearing-images", "faulty", journal, capsys)
    assert rc == 0
    text = journal.read_text()
    assert '"offline": true' in text
    assert "disappearing-images-faulty.tar.xz" in text
    out = tmp_path / "pm.md"
    assert main([*playbook_args(), "report", str(journal), "-o", str(out)]) == 0
    md = out.read_text()
    assert "imagecache-removed-shared-base" in md or "image cache manager" in md
    assert "Offline" in md
    assert "disappearing-images-faulty.tar.xz" in md


def test_resuming_an_offline_journal_stays_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[Any]
) -> None:
    journal = tmp_path / "ti.jsonl"
    walk("the-issue", "faulty", journal, capsys)
    rc = main([*playbook_args(), "investigate", "--resume", str(journal), "--autopilot"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("offline: 3 sosreports")
    assert rc == 3
    assert no_network == []


def test_role_without_sosreport_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([*playbook_args(), "investigate", "--role", "a=compute", "-s", "x", "--autopilot"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == [
        "cloudtales: error: --role HOST=ROLE names a sosreport host's roles: give "
        "--sosreport too (live hosts take their roles from the inventory)"
    ]
