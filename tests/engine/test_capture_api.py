"""The one capture API (engine.capture): live streams decode through the scanner session
``analyze`` uses, the checks ask for the named ``capture`` source, tcpdump's kernel drop
count reaches the result, and a lost or unreadable stream is an error naming the point."""

from __future__ import annotations

import asyncio
import doctest
import importlib
import io
import random
import struct
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.analyzers.capture_report import report_of, stream_report
from engine.analyzers.capture_tally import CaptureTally
from engine.capture.points import Capture, CapturePoint, CaptureSpec
from engine.capture.stream import FrameStream, TcpdumpLog
from engine.checks import bpdu_capture, capture
from engine.checks.base import CheckContext
from engine.errors import CloudtalesError
from engine.parsers.pcap import CaptureStats, PcapFormatError
from engine.parsers.pcap_scan import ScanSession
from engine.remote.inventory import load_inventory
from engine.remote.replay import ReplayRunner, load_recordings
from engine.remote.runner import CommandResult
from engine.sources import registry
from engine.sources.live import LiveSources
from engine.sources.recorded import RecordedSources, SourceRecorder, load_answers
from tests.engine.capture_samples import captures
from tests.engine.test_pcap import ng_block, ng_epb, ng_idb, ng_shb, pcap_bytes, ping

INVENTORY = Path(__file__).parents[1] / "rehearsals" / "double-vlan-faulty" / "inventory.yaml"
LISTENING = "tcpdump: listening on bond0, link-type EN10MB (Ethernet), snapshot length 128 bytes"
SUMMARY = ["4 packets captured", "9 packets received by filter", "5 packets dropped by kernel"]


def _pushed(data: bytes, pure: bool, seed: int) -> dict[str, Any]:
    """``data`` pushed in random pieces (1 byte to 70 KiB), as a live stream arrives."""
    rng, stats, tally = random.Random(seed), CaptureStats(), CaptureTally(1500)
    session = ScanSession(tally, stats, tally.limit, pure=pure, size=4096)
    pos = 0
    while pos < len(data):
        step = rng.choice((1, 7, 100, 4096, 70000))
        session.push(data[pos : pos + step])
        pos += step
    session.finish()
    return report_of("t", stats, tally).to_dict()


@pytest.mark.parametrize(("name", "data"), captures().items(), ids=list(captures()))
def test_pushed_pieces_give_the_findings_of_one_read(name: str, data: bytes) -> None:
    whole = stream_report(io.BytesIO(data), "t").to_dict()
    for pure in (False, True):
        for seed in range(3):
            assert _pushed(data, pure, seed) == whole, (name, pure, seed)


def test_tcpdump_log_sorts_stderr() -> None:
    log = TcpdumpLog()
    for line in [LISTENING, "tcpdump: WARNING: any: That device doesn't support promiscuous"]:
        log.line(line)
    assert log.armed
    assert log.kernel_drops is None  # stopped before its summary: not known, never 0
    for line in SUMMARY:
        log.line(line)
    assert log.kernel_drops == 5
    assert log.summary == SUMMARY
    assert log.errors == ["tcpdump: WARNING: any: That device doesn't support promiscuous"]


class FakeSources:
    """A source provider whose ``capture`` streams are given per host."""

    def __init__(self, streams: dict[str, tuple[list[str], list[bytes], list[str]]]) -> None:
        self.streams = streams
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    def command(self, name: str, **params: Any) -> str:
        return registry.get(name).command(params)

    async def read(self, host: Any, name: str, timeout: float = 30.0, **params: Any) -> Any:
        raise CloudtalesError(f"{name}: not recorded")  # ethtool: best effort, skipped

    async def stream_bytes(
        self,
        host: Any,
        name: str,
        timeout: float = 60.0,
        on_stderr: Callable[[str], None] | None = None,
        **params: Any,
    ) -> AsyncGenerator[bytes, None]:
        self.asked.append((host.name, name, params))
        before, chunks, after = self.streams[host.name]
        assert on_stderr is not None
        for line in before:
            on_stderr(line)
        for chunk in chunks:
            await asyncio.sleep(0)
            yield chunk
        for line in after:  # tcpdump ended on its own (-c reached): its exit summary
            on_stderr(line)


class Pings:
    """The traffic host's runner: every ping size answered."""

    def __init__(self, live: bool) -> None:
        self.live = live

    async def run(self, host: Any, command: str, timeout: float = 30.0) -> CommandResult:
        return CommandResult(host.name, command, 0, "56 0\n1472 1\n", "")


def _ctx(sources: FakeSources, hosts: list[str], live: bool = False) -> CheckContext:
    inv = load_inventory(INVENTORY)
    runner: Any = Pings(live)
    provider: Any = sources
    return CheckContext(runner, inv, [inv.host(h) for h in hosts], {}, 20.0, provider=provider)


def test_vlan_capture_reports_tcpdumps_kernel_drops() -> None:
    stacked = pcap_bytes([ping(20, 100), ping(20, 100, payload=56)])
    single = pcap_bytes([ping(100), ping(100, payload=56)])
    sources = FakeSources(
        {
            "controller": ([LISTENING], [single], []),  # stopped by us: no summary
            "compute": ([LISTENING], [stacked[:50], stacked[50:]], SUMMARY),
        }
    )
    params = capture.VlanCaptureParams(
        traffic_from="outside", target="10.0.100.5", max_frames=2, drain_seconds=0
    )
    result = asyncio.run(capture.run(_ctx(sources, ["controller", "compute"]), params))
    assert result.outcome == "stacked"
    assert result.facts["kernel_drops"] == {"compute:bond0": 5}
    assert result.facts["frames"] == {"controller:bond0": 2, "compute:bond0": 2}
    assert result.facts["stacked_at"] == ["compute:bond0"]
    assert result.summary == (
        "frames carry 2 VLAN tags (20/100, 100) at compute:bond0"
        " (tcpdump: packets dropped by kernel: 5 at compute:bond0)"
    )
    counts = [e for e in result.evidence if e.title == "tcpdump's own counts"]
    assert counts[0].text == "compute:bond0: 2 frames decoded; tcpdump said: " + "; ".join(SUMMARY)
    assert [e.text for e in result.evidence if e.title == "pings lost"] == ["sizes: 1472"]
    host, name, asked = sources.asked[0]
    assert (host, name) == ("controller", "capture")
    assert registry.get("capture").command(asked) == (
        "exec timeout 25 sh -c 'tcpdump -i bond0 -U -w - -n -s 128 -c 2 & p=$!; "
        "{ while sleep 1; do kill -USR1 $p || exit; done; } >/dev/null 2>&1 & s=$!; "
        "wait $p; r=$?; kill $s; exit $r'"
    )


def test_bpdu_capture_asks_for_inbound_bpdus_on_the_taps() -> None:
    spec = bpdu_capture.capture_spec(bpdu_capture.BpduCaptureParams(), 20.0)
    params = {
        "iface": "tap1",
        "direction": "in",
        "snaplen": spec.snaplen,
        "count": spec.max_frames,
        "filter": spec.bpf_filter,
        "backstop": spec.backstop,
    }
    assert spec.stats_every == 1
    assert registry.get("capture").command(params) == (
        "exec timeout 20 tcpdump -i tap1 -Q in -U -w - -n -s 256 -c 500 "
        "'ether dst 01:80:c2:00:00:00 or ether dst 01:00:0c:cc:cc:cd'"
    )


async def _capture(ctx: CheckContext) -> list[CapturePoint]:
    points = [CapturePoint(h, "bond0") for h in ctx.hosts]
    async with Capture(ctx, points, CaptureSpec(arm_timeout=5)) as cap:
        await cap.wait(lambda: False, 5)
    return points


def test_the_last_sigusr1_count_gives_the_drops_of_a_capture_we_stopped() -> None:
    counts = (
        "tcpdump: {} packets captured, {} packets received by filter, {} packets dropped by kernel"
    )
    said = [LISTENING, counts.format(1, 1, 0), counts.format(1, 40, 39)]
    sources = FakeSources({"compute": (said, [pcap_bytes([ping(20)])], [])})
    points = asyncio.run(_capture(_ctx(sources, ["compute"])))
    assert points[0].log.kernel_drops == 39
    assert points[0].log.summary == [counts.format(1, 40, 39)]
    assert points[0].errors == []


def test_a_stream_that_ends_on_a_live_host_names_the_lost_point() -> None:
    data = pcap_bytes([ping(20)])
    sources = FakeSources({"compute": ([LISTENING], [data], ["tcpdump: bond0: went down"])})
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(_capture(_ctx(sources, ["compute"], live=True)))
    assert str(err.value) == (
        "capture lost at compute:bond0: compute:bond0: the capture ended before it was "
        "stopped (tcpdump or the connection died): tcpdump: bond0: went down"
    )
    assert err.value.host == "compute"


def test_a_recording_that_ends_is_complete() -> None:
    sources = FakeSources({"compute": ([LISTENING], [pcap_bytes([ping(20)])], [])})
    points = asyncio.run(_capture(_ctx(sources, ["compute"])))
    assert [len(p.frames) for p in points] == [1]


def test_a_point_that_never_listens_and_unreadable_output() -> None:
    sources = FakeSources({"compute": (["tcpdump: bond9: No such device exists"], [], [])})
    with pytest.raises(CloudtalesError, match=r"^tcpdump did not start: compute:bond0: "):
        asyncio.run(_capture(_ctx(sources, ["compute"])))
    garbage = FakeSources({"compute": ([LISTENING], [b"tcpdump: oops\n"], [])})
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(_capture(_ctx(garbage, ["compute"], live=True)))
    assert "compute:bond0: tcpdump output unreadable: not a pcap or pcapng capture" in str(
        err.value
    )


def test_frame_stream_header_split_corrupt_record_and_big_blocks() -> None:
    data = pcap_bytes([ping(20), ping(20, 100)])
    stream = FrameStream()
    assert stream.feed(data[:2]) == []
    assert stream.feed(data[2:20]) == []
    assert [f.vids for f in stream.feed(data[20:-10])] == [(20,)]
    assert (stream.close().frames, stream.stats.truncated) == (1, 1)
    with pytest.raises(PcapFormatError):
        FrameStream().feed(b"tcpdump: eth9: No such device exists\n")
    stream = FrameStream()
    corrupt = pcap_bytes([ping(20)]) + struct.pack("<IIII", 0, 0, 10**9, 10**9)
    assert len(stream.feed(corrupt)) == 1
    assert stream.feed(ping(20)) == []  # nothing after a corrupt record header is trusted
    assert stream.close().malformed == 1
    big = ng_block(0x00000BAD, b"\0" * (3 << 20))  # 3 MiB custom block: skipped unread
    data = ng_shb() + ng_idb(1) + ng_epb(0, 0, ping(20)) + big + ng_epb(0, 1, ping(30))
    data += ng_epb(7, 2, ping(40))  # an interface that does not exist: malformed
    stream, got = FrameStream(), []
    for at in range(0, len(data), 100_000):
        got += stream.feed(data[at : at + 100_000])
    stats = stream.close()
    assert [f.vids for f in got] == [(20,), (30,)]
    assert (stats.unknown_blocks, stats.malformed, stats.truncated) == (1, 1, 0)
    assert stats.first_problem.startswith(f"offset {len(data) - len(ng_epb(7, 2, ping(40)))}:")


@pytest.mark.parametrize(
    "module",
    [
        "engine.capture.stream",
        "engine.capture.points",
        "engine.parsers.pcap_scan",
        "engine.detectors.vlan",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


class NoStreams:
    """The replayed runner for everything but captures: a capture must come from the
    recorded source answers, never from a command recording."""

    live = False

    def __init__(self, inner: ReplayRunner) -> None:
        self.inner = inner

    async def run(self, host: Any, command: str, timeout: float = 30.0) -> CommandResult:
        return await self.inner.run(host, command, timeout)

    def stream_bytes(self, *args: Any, **kw: Any) -> Any:
        raise AssertionError("a capture went to the runner, not to the source provider")


def test_a_recorded_capture_replays_by_source_name_and_params(tmp_path: Path) -> None:
    """drill --record's path: the capture streams through the source recorder, which
    writes its bytes beside sources.yaml; the recorded provider replays them."""
    rehearsal = INVENTORY.parent
    entries = yaml.safe_load((rehearsal / "recordings.yaml").read_text())
    inv = load_inventory(INVENTORY)
    hosts = [inv.host(h) for h in ("outside", "controller", "compute")]
    params = capture.VlanCaptureParams(traffic_from="outside", target="10.0.100.5")

    def run(runner: Any, provider: Any) -> Any:
        ctx = CheckContext(runner, inv, hosts, {}, 60.0, provider=provider)
        return asyncio.run(capture.run(ctx, params))

    replay = ReplayRunner(load_recordings(entries, rehearsal))
    recorder = SourceRecorder(LiveSources(replay), tmp_path / "sources.yaml")
    first = run(replay, recorder)
    answers = load_answers(tmp_path / "sources.yaml")
    assert [(a.host, a.source) for a in answers if a.stream] == [
        ("outside", "capture"),
        ("controller", "capture"),
        ("compute", "capture"),
    ]
    replayed = run(
        NoStreams(ReplayRunner(load_recordings(entries, rehearsal))),
        RecordedSources(answers, tmp_path),
    )
    assert first.outcome == replayed.outcome == "stacked"
    assert replayed.facts == first.facts
    assert replayed.facts["first_stacking_hop"] == "compute:bond0"
