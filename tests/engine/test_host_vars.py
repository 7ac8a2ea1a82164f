"""Inventory values are checked before they reach a command line (issue 8, item 10)."""

from __future__ import annotations

import pytest

from engine.errors import InventoryError
from engine.remote.host_vars import (
    kind_of,
    problem,
    safe_command,
    shown,
    valid_host,
    valid_interface,
    valid_path,
)
from engine.remote.inventory import Inventory
from engine.templating import render


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("eth0", True),
        ("bond0.100", True),
        ("br-ex", True),
        ("vlan@weird;ok", True),  # the kernel allows it; it reaches argv as one word
        ("a" * 15, True),
        ("a" * 16, False),  # IFNAMSIZ is 16 with the NUL
        ("é" * 8, False),  # 16 bytes
        ("", False),
        (".", False),
        ("..", False),
        ("eth0:1", False),
        ("eth/0", False),
        ("eth 0", False),
        ("eth0\n", False),
        ("eth0\t", False),
        ("eth0;touch $HOME/pwned", False),
    ],
)
def test_interface_names_follow_dev_valid_name(name: str, ok: bool) -> None:
    assert valid_interface(name) is ok


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/var/lib/nova/instances", True),
        ("/etc/nova/nova.conf", True),
        ("/srv/a_b-c+d@e:f,g=h%i", True),
        ("var/lib/nova", False),
        ("/var/lib/nova;rm -rf /", False),
        ("/var/lib/$(id)", False),
        ("/tmp/a b", False),
        ("/tmp/a\nb", False),
        ("/tmp/a\0b", False),
        ("/tmp/*", False),
    ],
)
def test_paths(path: str, ok: bool) -> None:
    assert valid_path(path) is ok


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("10.0.0.1", True),
        ("2001:db8::1", True),
        ("fe80::1%eth0", True),
        ("nc01.example.net", True),
        ("nc01.example.net.", True),
        ("1-2-3", True),
        ("-bad.example", False),
        ("bad-.example", False),
        ("under_score", False),
        ("a" * 64, False),
        ("10.0.0.1; id", False),
        ("", False),
    ],
)
def test_hosts(host: str, ok: bool) -> None:
    assert valid_host(host) is ok


def test_kinds_come_from_the_var_name() -> None:
    assert [kind_of(v) for v in ("capture_iface", "vlan_interface", "uplink")] == ["interface"] * 3
    assert [kind_of(v) for v in ("nova_conf", "log_path", "state_dir", "nova_api_log")] == [
        "path"
    ] * 4
    assert [kind_of(v) for v in ("ip", "address", "tenant_ip", "mgmt_address")] == ["host"] * 4
    assert kind_of("mtu") is kind_of("colour") is None
    assert problem("mtu", "9000; id") is None  # unknown vars pass through
    assert problem("capture_iface", True) == "is not an interface name"


def test_values_are_shown_cut_sensibly() -> None:
    assert shown("eth0;touch $HOME/pwned") == "'eth0;touch …'"
    assert shown("x" * 40) == "'" + "x" * 31 + "…'"
    assert shown("\nsneaky") == "'…'"
    assert shown("it's") == "'it\\'s'"


def inventory(**host_vars: object) -> Inventory:
    return Inventory.model_validate(
        {
            "name": "lab",
            "source": "/etc/cloudtales/inventory.yaml",
            "hosts": {
                "compute": {"address": "10.0.0.2", "vars": host_vars},
                "bad": {"address": "10.0.0.3;id"},
            },
        }
    )


def test_a_bad_value_in_a_check_parameter_is_refused_with_one_exact_line() -> None:
    inv = inventory(capture_iface="eth0;touch $HOME/pwned")
    params = {"host": "compute", "interface": "{hosts.compute.capture_iface}"}
    with pytest.raises(InventoryError) as err:
        render(params, inv, {})
    assert str(err.value) == (
        "inventory.yaml: host compute: var capture_iface: 'eth0;touch …' is not an interface name"
    )
    assert err.value.host == "compute"
    with pytest.raises(
        InventoryError, match=r"host bad: var address: '10\.0\.0\.3;id' is not a host"
    ):
        render("ping {hosts.bad.address}", inv, {})


def test_good_and_unchecked_values_render() -> None:
    inv = inventory(capture_iface="bond0.100", nova_conf="/etc/nova/nova.conf", mtu=9000)
    params = {"i": "{hosts.compute.capture_iface}", "c": "{hosts.compute.nova_conf}"}
    assert render(params, inv, {}) == {"i": "bond0.100", "c": "/etc/nova/nova.conf"}
    assert render("{hosts.compute.mtu} {hosts.compute}", inv, {}) == "9000 10.0.0.2"


def test_pane_suggestions_that_are_safe() -> None:
    assert safe_command("tcpdump -i bond0.100 -n -e")
    assert safe_command("ping -n -M do -s 1472 10.0.0.2")
    assert not safe_command("tcpdump -i eth0;touch $HOME/pwned -n -e")
    assert not safe_command("tcpdump -i eth0:1 -n")
    assert not safe_command("tcpdump -i 'a b' -n")
