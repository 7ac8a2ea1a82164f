"""engine.server_resolution: ports and libvirt domains to NICs, the narrowed inventory."""

from __future__ import annotations

import pytest

from engine.errors import CloudtalesError
from engine.remote.inventory import Inventory
from engine.server_resolution import (
    ServerNic,
    ServerResolution,
    api_host,
    domain_command,
    narrow,
    nics_from_domain,
    nics_from_ports,
)

DOMAIN = """<domain type="kvm"><name>instance-00000023</name>
<uuid>5c0a8d5e-3c1b-4f0e-9b9a-2a9c1e7b0d23</uuid><devices>
<interface type="bridge"><mac address="FA:16:3E:24:E7:22"/><source bridge="brq-1"/>
<target dev="tap3f2a9c1e-7b"/></interface></devices></domain>"""


def inventory() -> Inventory:
    return Inventory.model_validate(
        {
            "name": "inv",
            "hosts": {
                "controller": {"roles": ["controller"], "vars": {"os_cloud": "c"}},
                "compute-1": {"roles": ["compute"]},
                "compute-2": {"roles": ["compute"], "vars": {"tap_iface": "tapold"}},
            },
        }
    )


def resolution(nics: tuple[ServerNic, ...] = ()) -> ServerResolution:
    return ServerResolution(
        cloud="c", server_id="u-1", server_name="web-01", os_host="compute-2",
        host="compute-2", instance_name="instance-00000023", via="server show", nics=nics,
    )  # fmt: skip


def test_a_port_gives_its_mac_and_the_tap_nova_names_after_it() -> None:
    ports = [{"id": "3f2a9c1e-7b11-4c2d-8e9f-0a1b2c3d4e5f", "mac_address": "FA:16:3E:00:00:01",
              "fixed_ips": ["10.0.0.5"]}]  # fmt: skip
    [nic] = nics_from_ports(ports)
    assert (nic.mac, nic.tap, nic.fixed_ips) == (
        "fa:16:3e:00:00:01",
        "tap3f2a9c1e-7b",
        ("10.0.0.5",),
    )


def test_the_libvirt_domain_must_be_the_instance_named() -> None:
    [nic] = nics_from_domain(DOMAIN, "instance-00000023", "compute-2")
    assert (nic.mac, nic.tap) == ("fa:16:3e:24:e7:22", "tap3f2a9c1e-7b")
    with pytest.raises(CloudtalesError, match="not the instance instance-00000024"):
        nics_from_domain(DOMAIN, "instance-00000024", "compute-2")


def test_an_instance_name_never_reaches_the_shell_unchecked() -> None:
    assert domain_command("instance-00000023").startswith("virsh -r dumpxml instance-00000023 ")
    with pytest.raises(CloudtalesError, match="not a libvirt domain name"):
        domain_command("x; rm -rf /")


def test_narrow_makes_the_servers_host_the_one_compute() -> None:
    nic = ServerNic("fa:16:3e:24:e7:22", "tap3f2a9c1e-7b", "neutron port p")
    inv = narrow(inventory(), resolution((nic,)))
    assert [h.name for h in inv.by_role("compute")] == ["compute-2"]
    assert inv.hosts["compute-2"].vars["tap_iface"] == "tap3f2a9c1e-7b"
    assert inv.hosts["compute-2"].vars["instance_mac"] == "fa:16:3e:24:e7:22"
    assert "compute" not in inv.hosts["compute-1"].roles
    assert inventory().hosts["compute-2"].vars["tap_iface"] == "tapold"  # a copy


def test_facts_and_lines_say_only_what_was_found() -> None:
    res = resolution()
    assert "server.tap" not in res.facts()
    assert res.facts()["server.host"] == "compute-2"
    assert res.lines() == [
        "server web-01 (u-1) in cloud c: on compute-2, instance instance-00000023; via server show"
    ]


def test_api_reads_go_through_the_host_that_names_the_cloud() -> None:
    assert api_host(inventory()).name == "controller"
