"""Named data sources: the registry's promises, and the recorded provider against the
recordings of a real lab run (double-vlan-faulty), converted through the source recorder."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.checks import link_facts, nova_conf
from engine.checks.base import CheckContext
from engine.errors import CloudtalesError
from engine.remote.inventory import load_inventory
from engine.remote.replay import ReplayRunner, load_recordings
from engine.sources import registry
from engine.sources.live import LiveSources
from engine.sources.recorded import RecordedSources, SourceRecorder, load_answers

REHEARSAL = Path(__file__).parents[1] / "rehearsals" / "double-vlan-faulty"


def test_every_source_declares_live_offline_and_sos() -> None:
    sources = registry.all_sources()
    assert {"ip_link", "nova_conf", "capture", "nova_db_counts"} <= set(sources)
    for s in sources.values():
        fields = s.params.model_fields
        samples: dict[str, Any] = {
            "path": "/etc/x",
            "root": "/etc",
            "paths": ("/etc/x",),
            "patterns": ("removed",),
        }
        example = {k: samples.get(k, "eth0") for k, f in fields.items() if f.is_required()}
        assert s.live(s.params(**example)).strip(), s.name
        assert isinstance(s.offline, bool)
        if s.offline:
            assert s.sos, f"{s.name}: offline but no sosreport path"
        else:
            assert not s.sos, f"{s.name}: cannot exist offline yet has sosreport paths"
            assert s.sos_note, f"{s.name}: say why no sosreport holds it"
    assert not sources["capture"].offline
    assert not sources["nova_db_counts"].offline


def test_a_bad_interface_is_one_line_naming_source_and_field() -> None:
    with pytest.raises(CloudtalesError) as err:
        registry.get("ethtool_features").command({"iface": "eth0 touch x"})
    assert str(err.value) == (
        "source ethtool_features: parameter iface: Value error, 'eth0 …' is not an interface name"
    )


class NoNetwork:
    """A runner whose every method raises: whatever touches it would open a connection."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"runner.{name} used: an offline walk opened a connection")


def _ctx(runner: Any, provider: Any) -> CheckContext:
    inventory = load_inventory(REHEARSAL / "inventory.yaml")
    return CheckContext(runner, inventory, [inventory.host("compute")], {}, 20.0, provider=provider)


async def _walk(ctx: CheckContext) -> tuple[str, str]:
    links = await link_facts.run(ctx, link_facts.LinkFactsParams())
    devices = links.facts["vlan_devices"]
    assert isinstance(devices, list)
    conf = await nova_conf.run(
        ctx, nova_conf.VlanInterfaceParams(path="/etc/nova/nova.conf", vlan_devices=devices)
    )
    return links.outcome, conf.outcome


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """The rehearsal's command recordings, replayed through LiveSources while the
    source recorder writes answers keyed by source name and parameters."""
    entries = yaml.safe_load((REHEARSAL / "recordings.yaml").read_text())
    replay = ReplayRunner(load_recordings(entries, REHEARSAL))
    recorder = SourceRecorder(LiveSources(replay))
    assert asyncio.run(_walk(_ctx(replay, recorder))) == ("no_vlan_devices", "is_vlan_device")
    out = tmp_path / "sources.yaml"
    recorder.save(out)
    return out


def test_recorded_walk_opens_no_connection(recorded: Path) -> None:
    answers = load_answers(recorded)
    assert [(a.host, a.source, a.params) for a in answers] == [
        ("compute", "ip_link", ""),
        ("compute", "nova_conf", "path=/etc/nova/nova.conf"),
    ]
    ctx = _ctx(NoNetwork(), RecordedSources(answers))
    assert asyncio.run(_walk(ctx)) == ("no_vlan_devices", "is_vlan_device")


def test_new_live_flags_do_not_break_recordings(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ip_link = registry.get("ip_link")
    flagged = dataclasses.replace(ip_link, live=lambda _p: "ip -j -d -s link show")
    monkeypatch.setitem(registry._SOURCES, "ip_link", flagged)
    assert registry.get("ip_link").command({}) == "ip -j -d -s link show"
    ctx = _ctx(NoNetwork(), RecordedSources(load_answers(recorded)))
    assert asyncio.run(_walk(ctx)) == ("no_vlan_devices", "is_vlan_device")


def test_other_params_miss_with_one_line(recorded: Path) -> None:
    ctx = _ctx(NoNetwork(), RecordedSources(load_answers(recorded)))
    params = nova_conf.VlanInterfaceParams(path="/etc/nova/nova-compute.conf")
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(nova_conf.run(ctx, params))
    assert str(err.value) == (
        "no recording of source nova_conf(path=/etc/nova/nova-compute.conf) on host compute"
    )


def _rehearse_all() -> list[str]:
    from engine.playbook.graph import load_valid_graph
    from engine.rehearsal import load_rehearsal, rehearsal_dirs, rehearse

    graph = load_valid_graph(None)
    problems = []
    for d in rehearsal_dirs(REHEARSAL.parent):
        spec = load_rehearsal(d)
        try:
            problems += asyncio.run(rehearse(graph, spec)).mismatches(spec)
        except CloudtalesError as err:
            problems.append(f"{d.name}: {err}")
    return problems


def test_rehearsals_survive_new_flags_on_every_source(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, source in registry.all_sources().items():

        def flagged(p: Any, live: Any = source.live) -> str:
            return f"{live(p)} --a-new-flag"

        monkeypatch.setitem(registry._SOURCES, name, dataclasses.replace(source, live=flagged))
    assert registry.get("ip_link").command({}) == "ip -j -d link show --a-new-flag"
    assert _rehearse_all() == []


def test_other_bond_path_than_recorded_fails_in_one_line() -> None:
    """valentines-healthy's converted sources: the recorded path answers, another one
    (the parameters a check passes changed) is a miss naming source, params and host."""
    from engine.checks import bond_state
    from engine.sources.recorded import SOURCES_FILE

    d = REHEARSAL.parent / "valentines-healthy"
    inventory = load_inventory(d / "inventory.yaml")
    host = inventory.host("compute")
    provider = RecordedSources(load_answers(d / SOURCES_FILE))
    ctx = CheckContext(NoNetwork(), inventory, [host], {}, 20.0, provider=provider)
    recorded = "/run/cloudtales/labs/valentines/compute/proc-net-bonding/bond0"
    status, note = asyncio.run(bond_state.read_status(ctx, host, recorded))
    assert status is not None
    assert note is None
    with pytest.raises(CloudtalesError) as err:
        asyncio.run(bond_state.read_status(ctx, host, "/proc/net/bonding/bond1"))
    assert str(err.value) == (
        "no recording of source proc_net_bonding(path=/proc/net/bonding/bond1) on host compute"
    )


def test_a_recorded_session_writes_sources_by_name(tmp_path: Path) -> None:
    """drill --record's RecordingRunner, over the real local runner: the check's source
    read lands in sources.yaml (by name) and in recordings.yaml (by command)."""
    from engine.remote.inventory import Host
    from engine.remote.local import LocalRunner
    from engine.remote.recorder import RecordingRunner
    from engine.sources.recorded import SOURCES_FILE

    host = Host(name="here", transport="local")
    runner = RecordingRunner(LocalRunner(), tmp_path)
    ctx = CheckContext(runner, load_inventory(REHEARSAL / "inventory.yaml"), [host], {}, 20.0)
    live = asyncio.run(ctx.sources.read(host, "ip_link"))
    assert live.ok
    assert '"ifname":"lo"' in live.stdout
    answers = load_answers(tmp_path / SOURCES_FILE)
    assert [(a.host, a.source, a.params) for a in answers] == [("here", "ip_link", "")]
    replayed = asyncio.run(RecordedSources(answers).read(host, "ip_link"))
    assert replayed.stdout == live.stdout
    entries = yaml.safe_load((tmp_path / "recordings.yaml").read_text())
    assert [e["match"] for e in entries] == [r"^ip\ \-j\ \-d\ link\ show$"]
