"""``investigate --resume`` of a walk started with ``--server``: the resolution comes back
from the journal (never from the API, which may be down by then) and narrows the
inventory to the same compute, with the same tap and MAC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import server_resolution
from engine.errors import CloudtalesError
from engine.playbook.graph import PlaybookGraph, load_valid_graph
from engine.remote.inventory import Inventory, load_inventory
from engine.server_resolution import ServerNic, ServerResolution, narrow
from engine.session import Session

HOSTS = {
    "controller": {"address": "10.250.24.1", "roles": ["controller"], "vars": {"os_cloud": "lab"}},
    "compute-1": {"address": "10.250.24.2", "roles": ["compute"]},
    "compute-2": {"address": "10.250.24.3", "roles": ["compute"]},
}
RES = ServerResolution(
    cloud="lab", server_id="0d1c", server_name="web-01", os_host="compute-1", host="compute-1",
    instance_name="instance-00000001", via="server show",
    nics=(ServerNic("fa:16:3e:31:67:da", "tap3167dadc-26", "libvirt domain on compute-1"),),
    notes=("ports: neutron is not in the catalogue",),
)  # fmt: skip


@pytest.fixture(scope="module")
def graph() -> PlaybookGraph:
    return load_valid_graph()


def write_inventory(path: Path, hosts: dict[str, Any] = HOSTS) -> Path:
    path.write_text(yaml.safe_dump({"name": "lab", "hosts": hosts}))
    return path


class NoRunner:
    async def close(self) -> None:
        return None


def no_api(*_a: object, **_k: object) -> None:
    raise AssertionError("--resume asked the API again")


def started(graph: PlaybookGraph, tmp_path: Path) -> Path:
    """A journal as `investigate --server web-01 -s instance-unreachable` leaves it."""
    inv = load_inventory(str(write_inventory(tmp_path / "inventory.yaml")))
    journal = tmp_path / "walk.jsonl"
    # Session.start sets the server.* facts from the resolution itself
    session = Session.start(
        graph, narrow(inv, RES), NoRunner(), "instance-unreachable", journal,  # type: ignore[arg-type]
        server=RES.as_event(),
    )  # fmt: skip
    session.journal.close()
    return journal


def test_the_journal_keeps_the_resolution(graph: PlaybookGraph, tmp_path: Path) -> None:
    first = json.loads(started(graph, tmp_path).read_text().splitlines()[0])
    kept = first["data"]["server"] if "data" in first else first["server"]
    assert ServerResolution.from_event(kept, "j") == RES


def test_resume_narrows_to_the_same_host_without_the_api(
    graph: PlaybookGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = started(graph, tmp_path)
    monkeypatch.setattr(server_resolution, "resolve", no_api)
    monkeypatch.setattr(server_resolution, "read_api", no_api)
    session = Session.resume(graph, journal, lambda _inv: NoRunner())  # type: ignore[arg-type,return-value]
    inv = session.inventory
    assert [h.name for h in inv.by_role("compute")] == ["compute-1"]
    c1 = inv.hosts["compute-1"].vars
    assert (c1["tap_iface"], c1["instance_mac"], c1["instance_name"]) == (
        "tap3167dadc-26",
        "fa:16:3e:31:67:da",
        "instance-00000001",
    )
    assert "--server web-01: compute is compute-1 only" in inv.notes
    assert session.walker.facts["server.host"] == "compute-1"
    assert session.walker.facts["server.tap"] == "tap3167dadc-26"


def test_an_inventory_given_at_resume_is_narrowed_too(graph: PlaybookGraph, tmp_path: Path) -> None:
    journal = started(graph, tmp_path)
    other = load_inventory(str(write_inventory(tmp_path / "other.yaml")))
    session = Session.resume(graph, journal, lambda _inv: NoRunner(), other)  # type: ignore[arg-type,return-value]
    assert [h.name for h in session.inventory.by_role("compute")] == ["compute-1"]


def test_an_inventory_without_the_host_is_one_line(graph: PlaybookGraph, tmp_path: Path) -> None:
    journal = started(graph, tmp_path)
    hosts = {k: v for k, v in HOSTS.items() if k != "compute-1"}
    other = load_inventory(str(write_inventory(tmp_path / "other.yaml", hosts)))
    with pytest.raises(CloudtalesError, match="server web-01 ran on compute-1, which inventory"):
        Session.resume(graph, journal, lambda _inv: NoRunner(), other)  # type: ignore[arg-type,return-value]


def test_a_walk_without_server_resumes_unnarrowed(graph: PlaybookGraph, tmp_path: Path) -> None:
    inv = load_inventory(str(write_inventory(tmp_path / "inventory.yaml")))
    journal = tmp_path / "plain.jsonl"
    Session.start(graph, inv, NoRunner(), "instance-unreachable", journal).journal.close()  # type: ignore[arg-type]
    session = Session.resume(graph, journal, lambda _inv: NoRunner())  # type: ignore[arg-type,return-value]
    assert sorted(h.name for h in session.inventory.by_role("compute")) == [
        "compute-1",
        "compute-2",
    ]


def test_a_mangled_resolution_is_one_line() -> None:
    with pytest.raises(CloudtalesError, match="j.jsonl: the server resolution is unreadable"):
        ServerResolution.from_event({"cloud": "lab"}, "j.jsonl")
    assert isinstance(narrow(Inventory(name="x", hosts={}), RES), Inventory)
