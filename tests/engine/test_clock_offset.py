"""The clock offset of a compute from the controller, NTP-style: offset from the host's
clock against the midpoint of cloudtales' send and receive times, bounded by half the
round trip; the shortest round trip wins; judged against service_down_time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.checks.base import CheckContext
from engine.checks.clock_offset import ClockOffsetParams
from engine.checks.clock_offset import run as run_clock
from engine.detectors.clock import (
    ClockSample,
    ServiceDownTime,
    best,
    judge_clock,
    parse_clock,
    service_down_time,
)
from engine.errors import CloudtalesError
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import CommandResult
from engine.sources.clock import read_timed
from engine.sources.live import LiveSources

SDT = ServiceDownTime(15, "controller:/etc/nova/nova.conf")


def sample(host: str, sent: float, remote: float, received: float) -> ClockSample:
    return ClockSample(host, sent, remote, received)


def test_offset_is_against_the_midpoint_bounded_by_half_the_round_trip() -> None:
    s = parse_clock("sent 1000.000000\n1000.250000\nreceived 1000.100000\n", "compute-2")
    assert s.offset == pytest.approx(0.2)
    assert s.bound == pytest.approx(0.05)


def test_the_shortest_round_trip_is_kept() -> None:
    slow = sample("c", 0.0, 10.0, 2.0)  # an SSH handshake in the first read
    fast = sample("c", 5.0, 15.1, 5.2)
    assert best([slow, fast]) is fast


def test_a_compute_five_minutes_ahead_is_skewed() -> None:
    ref = [sample("controller", 100.0, 100.01, 100.02)]
    mine = [sample("compute-2", 100.03, 400.04, 100.05)]
    r = judge_clock(mine, ref, SDT)
    assert r.outcome == "skewed"
    assert r.facts["offset_seconds"] == pytest.approx(300.0, abs=0.001)
    assert r.facts["bound_seconds"] == pytest.approx(0.02, abs=0.001)
    assert r.facts["offset"] == "+300.000 s (+/- 0.020 s)"
    assert "compute-2's clock is 300.000 s ahead of controller's" in r.summary
    assert "beyond service_down_time 15 s (service_down_time in controller:" in r.summary


def test_behind_counts_as_much_as_ahead() -> None:
    ref = [sample("controller", 100.0, 100.01, 100.02)]
    mine = [sample("compute-2", 100.03, 20.04, 100.05)]
    r = judge_clock(mine, ref, SDT)
    assert r.outcome == "skewed"
    assert r.facts["offset_seconds"] == pytest.approx(-80.0, abs=0.001)
    assert "80.000 s behind" in r.summary


def test_a_shared_clock_is_in_sync() -> None:
    ref = [sample("controller", 1.0, 1.004, 1.008)]
    mine = [sample("compute-2", 1.010, 1.013, 1.016)]
    r = judge_clock(mine, ref, SDT)
    assert r.outcome == "in_sync"
    assert abs(float(r.facts["offset_seconds"])) < 0.01  # type: ignore[arg-type]


def test_a_round_trip_straddling_the_limit_is_uncertain() -> None:
    ref = [sample("controller", 0.0, 0.0, 0.0)]
    mine = [sample("compute-2", 0.0, 19.0, 10.0)]  # offset 14 s, +/- 5 s, limit 15 s
    assert judge_clock(mine, ref, SDT).outcome == "uncertain"


def test_the_default_is_said_as_an_assumption() -> None:
    d = service_down_time(None, "controller:/etc/nova/nova.conf")
    assert d.seconds == 60
    assert d.said() == "60 s (nova's default, assumed: not set in controller:/etc/nova/nova.conf)"
    assert service_down_time("15", "x").seconds == 15
    with pytest.raises(CloudtalesError, match="not a number"):
        service_down_time("soon", "x")


@pytest.mark.parametrize(
    "text", ["", "1000.0\n", "sent x\n1\nreceived 2\n", "sent 5\n6\nreceived 4\n"]
)
def test_a_bad_answer_is_one_line(text: str) -> None:
    with pytest.raises(CloudtalesError, match="host compute-2: clock answer"):
        parse_clock(text, "compute-2")


class FakeRunner:
    """Answers ``date`` with a clock ``skew`` seconds off this process's, after ``delay``."""

    def __init__(self, skew: dict[str, float], delay: float = 0.0) -> None:
        self.skew, self.delay = skew, delay
        self.commands: list[str] = []

    async def run(self, host: Host, command: str, timeout: float = 30.0) -> CommandResult:
        import time

        self.commands.append(command)
        if command.startswith("head -c"):  # nova.conf
            return CommandResult(host.name, command, 0, "[DEFAULT]\nservice_down_time = 15\n", "")
        await asyncio.sleep(self.delay)
        return CommandResult(
            host.name, command, 0, f"{time.time() + self.skew[host.name]:.6f}\n", ""
        )


def _ctx(runner: Any) -> CheckContext:
    inv = Inventory(
        name="t",
        hosts={
            "controller": Host(name="controller", address="10.0.0.1", roles=["controller"]),
            "compute-2": Host(name="compute-2", address="10.0.0.3", roles=["compute"]),
        },
    )
    return CheckContext(
        runner=runner,
        inventory=inv,
        hosts=[inv.hosts["controller"]],
        facts={},
        timeout=5.0,
        provider=LiveSources(runner),
    )


async def test_the_live_provider_stamps_the_round_trip() -> None:
    runner = FakeRunner({"h": 0.0})
    res = await read_timed(runner, Host(name="h", address="10.0.0.9"), "date +%s.%N", 5.0)  # type: ignore[arg-type]
    s = parse_clock(res.stdout, "h")
    assert s.sent <= s.remote <= s.received


@pytest.mark.parametrize(("skew", "outcome"), [(0.0, "in_sync"), (-120.0, "skewed")])
async def test_the_check_reads_both_clocks_and_nova_conf(skew: float, outcome: str) -> None:
    runner = FakeRunner({"controller": 0.0, "compute-2": skew})
    r = await run_clock(_ctx(runner), ClockOffsetParams(host="compute-2", samples=2))
    assert r.outcome == outcome
    assert r.facts["service_down_time"] == 15
    assert r.facts["offset_seconds"] == pytest.approx(skew, abs=0.5)
    assert runner.commands.count("date +%s.%N") == 4
