"""The Down the Rabbit Hole lab, for real: namespaces, sshd, Debian's RabbitMQ, a 5.5 GiB
sparse console.log, and the playbook walked over SSH against it.

The tests run in file order against one module-scoped lab: faulty first, then
idempotency, then the healthy rebuild (and a RabbitMQ node that goes down), then
the teardown cases.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.checks.base import CheckContext
from engine.checks.registry import get_check_type
from engine.parsers.rabbitmqctl import parse_list_queues
from engine.playbook.graph import load_valid_graph
from engine.remote.factory import make_runner
from engine.remote.inventory import load_inventory
from engine.session import Session
from labs.core import netns
from labs.core.base import Lab
from labs.core.registry import LABS, get_lab
from labs.rabbit_hole import console_flood
from labs.rabbit_hole.lab import (
    HOSTS,
    MGMT_BRIDGE,
    REPLY_QUEUE,
    RabbitHoleLab,
)
from tests.labs.conftest import fresh_lab, leftovers, running_faulty

SYMPTOM = "vm-launch-slow-rabbit-spike"


def ssh(lab: RabbitHoleLab, address: str, command: str) -> subprocess.CompletedProcess[str]:
    run_dir = lab.run_dir
    argv = ["ssh", "-i", str(run_dir / "id_ed25519"),
            "-o", f"UserKnownHostsFile={run_dir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", f"root@{address}", command]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def walk(lab: RabbitHoleLab, tmp_path: Path) -> Session:
    """The playbook's autopilot over SSH against the lab, as `cloudtales drill` runs it."""
    inventory = load_inventory(lab.inventory_path())
    session = Session.start(
        load_valid_graph(), inventory, make_runner(inventory), SYMPTOM, tmp_path / "j.jsonl"
    )

    async def go() -> None:
        try:
            await session.autopilot()
        finally:
            await session.close()

    asyncio.run(go())
    return session


@pytest.fixture(scope="module")
def lab() -> Iterator[RabbitHoleLab]:
    yield from fresh_lab("rabbit-hole", RabbitHoleLab)


# ---------------------------------------------------------------- faulty lab


@pytest.mark.lab
def test_up_gives_a_running_faulty_lab_with_rabbitmq(lab: RabbitHoleLab) -> None:
    status = running_faulty(lab, "netns+rabbitmq")
    assert any(d.startswith("rabbitmq-server started in ") for d in status.details)
    inv = load_inventory(lab.inventory_path())
    assert sorted(inv.hosts) == ["cc11", "cc12", "controller"]
    assert [h.name for h in inv.by_role("compute")] == ["cc11", "cc12"]
    assert inv.host("controller").vars["nova_api_log"] == str(lab.nova_api_log())
    assert inv.host("cc12").vars["instances_path"] == str(lab.instances_path(HOSTS[2]))


@pytest.mark.lab
def test_the_broken_console_log_is_5_5_gib_and_sparse(lab: RabbitHoleLab) -> None:
    st = lab.broken_console_log().stat()
    assert st.st_size == console_flood.HUGE_CONSOLE_BYTES == 5905580032
    assert st.st_blocks * 512 < 16 * 1024 * 1024  # the hole takes no disk
    path = lab.broken_console_log()
    seen = ssh(lab, "10.250.5.3", f"hostname; find {path} -printf '%s\\n'; tail -c 130 {path}")
    assert seen.returncode == 0, seen.stderr
    host, size, *tail = seen.stdout.splitlines()
    assert (host, size) == ("cc12", "5905580032")
    assert any("I/O error" in line for line in tail)


@pytest.mark.lab
def test_rabbitmqctl_over_ssh_shows_the_backlog(lab: RabbitHoleLab) -> None:
    said = ssh(lab, "10.250.5.1", "rabbitmqctl -q list_queues name messages message_bytes")
    assert said.returncode == 0, said.stderr
    queues = {q.name: q for q in parse_list_queues(said.stdout, "controller")}
    reply = queues[REPLY_QUEUE]
    assert reply.messages == 24
    assert reply.message_bytes is not None
    assert reply.message_bytes > 24 * 4 * 1024 * 1024
    assert queues["compute.cc12"].messages == 40
    assert queues["scheduler"].messages == 0


@pytest.mark.lab
def test_playbook_over_ssh_names_the_instance_file_and_size(
    lab: RabbitHoleLab, tmp_path: Path
) -> None:
    session = walk(lab, tmp_path)
    w = session.walker
    assert w.path == [
        SYMPTOM,
        "rh-rabbit-queues",
        "rh-api-console-rate",
        "rh-console-sizes",
        "huge-console-log",
    ]
    facts = w.facts
    assert facts["rh-console-sizes.biggest_path"] == str(lab.broken_console_log())
    assert facts["rh-console-sizes.biggest_bytes"] == 5905580032
    assert facts["rh-console-sizes.instance_name"] == "instance-00000e05"
    assert facts["rh-console-sizes.instance"] == console_flood.BROKEN.uuid
    assert facts["rh-api-console-rate.top_instance"] == console_flood.BROKEN.uuid
    assert facts["rh-rabbit-queues.biggest_queue"] == REPLY_QUEUE


@pytest.mark.lab
def test_up_twice_is_idempotent(lab: RabbitHoleLab) -> None:
    beam = lab.rabbit.pids()
    assert beam
    said: list[str] = []
    info = lab.up(progress=said.append)
    assert said == ["lab already up"]
    assert (info.mode, info.healthy) == ("netns+rabbitmq", False)
    assert lab.rabbit.pids() == beam


# ---------------------------------------------------------------- healthy lab


@pytest.mark.lab
def test_healthy_rebuild_has_no_huge_log_and_a_quiet_queue(
    lab: RabbitHoleLab, tmp_path: Path
) -> None:
    said: list[str] = []
    info = lab.up(healthy=True, progress=said.append)
    assert info.healthy
    assert "removing the previous lab" in said
    assert lab.status().running
    assert lab.broken_console_log().stat().st_size < 1 << 20
    session = walk(lab, tmp_path)
    assert session.walker.path[-2:] == ["rh-console-sizes-anyway", "rh-not-console-logs"]
    assert session.walker.facts["rh-rabbit-queues.outcome"] == "normal"


@pytest.mark.lab
def test_a_stopped_rabbitmq_node_reads_as_rabbit_down(lab: RabbitHoleLab) -> None:
    assert netns.stop_pids(lab.rabbit.pids(), timeout=10.0)
    inventory = load_inventory(lab.inventory_path())
    ctype = get_check_type("rabbitmq_queues")
    hosts = inventory.resolve("controller")

    async def check() -> str:
        runner = make_runner(inventory)
        try:
            ctx = CheckContext(runner, inventory, hosts, {}, 60.0)
            return (await ctype.run(ctx, ctype.params())).outcome
        finally:
            await runner.close()

    assert asyncio.run(check()) == "rabbit_down"
    assert any("RabbitMQ (beam.smp) not running" in d for d in lab.status().details)


# ---------------------------------------------------------------- teardown


class SimulatedCrashError(Exception):
    pass


@pytest.mark.lab
def test_down_after_a_half_built_lab_removes_everything(lab: RabbitHoleLab) -> None:
    lab.down()

    def crash_before_inventory(message: str) -> None:
        if message == "writing inventory":  # RabbitMQ, sshd and the 5.5 GiB file exist by now
            raise SimulatedCrashError(message)

    with pytest.raises(SimulatedCrashError):
        lab.up(progress=crash_before_inventory)
    status = lab.status()
    assert not status.running
    assert any("did not finish" in d for d in status.details)
    pids = lab.rabbit.pids() + [p for h in HOSTS if (p := netns.sshd_pid(lab.run_dir, h.name))]
    assert len(pids) == 4
    removed = lab.down()
    assert f"link {MGMT_BRIDGE}" in removed
    assert leftovers(lab) == []
    assert not any(netns.pid_alive(p) for p in pids)
    assert not lab.run_dir.exists()
    assert lab.down() == []


# ---------------------------------------------------------------- no lab needed


def test_registry_knows_rabbit_hole() -> None:
    assert isinstance(LABS["rabbit-hole"], Lab)
    assert get_lab("rabbit-hole").title == "Down the Rabbit Hole"
