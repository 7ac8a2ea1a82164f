"""ssh config aliases and nova.conf discovery (engine/remote/ssh_config.py, cloud_discovery.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InventoryError
from engine.parsers.nova_conf import parse_nova_conf
from engine.remote.cloud_discovery import (
    apply_discovery,
    discover_nova,
    redact_url,
    settings_from_conf,
)
from engine.remote.inventory import Host, Inventory, SshSettings
from engine.remote.local import LocalRunner
from engine.remote.ssh_config import (
    inventory_from_ssh_config,
    jump_for,
    resolve,
    ssh_config_aliases,
)

CONFIG = """\
# the operator's ~/.ssh/config
Host bastion
  HostName 192.0.2.10
  User jump
  IdentityFile ~/.ssh/bastion
Host cc01 nc01 nc02
  ProxyJump bastion
Host cc01
  HostName 10.0.0.1
Host nc0?
  User ops
Host nc01
  HostName 10.0.0.2
  Port 2222
Host *.example.net !direct.example.net
  ProxyJump bastion
Host=direct.example.net
  ProxyJump none
Match host nc02
  HostName 10.0.0.3
Include {include}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    extra = tmp_path / "conf.d" / "lab.conf"
    extra.parent.mkdir()
    extra.write_text('Host lab01 "lab 02"\n  HostName 10.9.0.1\n')
    path = tmp_path / "config"
    path.write_text(CONFIG.format(include=tmp_path / "conf.d" / "*.conf"))
    return path


def test_aliases_are_the_concrete_host_names(config: Path) -> None:
    assert ssh_config_aliases(config) == [
        "bastion", "cc01", "nc01", "nc02", "direct.example.net", "lab01", "lab 02",
    ]  # fmt: skip


def test_resolve_applies_the_config_like_ssh(config: Path) -> None:
    nc01 = resolve("nc01", config)
    assert (nc01.hostname, nc01.port, nc01.user, nc01.proxy_jump) == (
        "10.0.0.2",
        2222,
        "ops",
        "bastion",
    )
    assert resolve("nc02", config).hostname == "10.0.0.3"  # through the Match block
    assert resolve("bastion", config).identity_files == ("~/.ssh/bastion",)
    assert resolve("db.example.net", config).proxy_jump == "bastion"
    assert resolve("direct.example.net", config).proxy_jump is None
    assert resolve("elsewhere", config).hostname == "elsewhere"


def test_jump_for_and_an_inventory_from_aliases(config: Path) -> None:
    inv = inventory_from_ssh_config(
        config, only=["cc*", "nc*"], roles={"cc*": "controller", "nc*": "compute"}
    )
    assert list(inv.hosts) == ["cc01", "nc01", "nc02"]
    assert inv.host("nc02").roles == ["compute"]
    assert inv.ssh.config == str(config)
    assert [jump_for(h, inv) for h in inv.hosts.values()] == ["bastion"] * 3
    local = Host(name="me", transport="local")
    assert jump_for(local, inv) is None
    with pytest.raises(InventoryError, match=r"config: no Host aliases match db\*"):
        inventory_from_ssh_config(config, only=["db*"])


def test_unreadable_configs(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"nope: ssh config not found$"):
        ssh_config_aliases(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text('Host "unclosed\n')
    with pytest.raises(InventoryError, match=r"bad:1: unbalanced quotes$"):
        ssh_config_aliases(bad)


# ---------------------------------------------------------------- nova.conf


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("mysql+pymysql://nova:s3cret@10.0.0.1/nova", "mysql+pymysql://nova:***@10.0.0.1/nova"),
        (
            "mysql://nova:p@ss:w0rd@db:3306/nova?charset=utf8",
            "mysql://nova:***@db:3306/nova?charset=utf8",
        ),
        ("mysql://nova@db/nova", "mysql://nova@db/nova"),
        ("sqlite:////var/lib/nova/nova.sqlite", "sqlite:////var/lib/nova/nova.sqlite"),
        (
            "postgresql://db/nova?user=nova&password=x",
            "postgresql://db/nova?user=nova&password=***",
        ),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_settings_from_conf() -> None:
    conf = parse_nova_conf(
        "[DEFAULT]\nstate_path = /srv/nova\nvlan_interface = vlan20\n"
        "sql_connection = mysql://nova:pw@10.0.0.1/nova\n",
        "cc01:/etc/nova/nova.conf",
    )
    s = settings_from_conf("cc01", "/etc/nova/nova.conf", conf)
    assert (s.database, s.database_host, s.database_name, s.database_user) == (
        "mysql://nova:***@10.0.0.1/nova", "10.0.0.1", "nova", "nova",
    )  # fmt: skip
    assert (s.vlan_interface, s.instances_path, s.instances_path_is_default) == (
        "vlan20", "/srv/nova/instances", True,
    )  # fmt: skip
    explicit = parse_nova_conf("[DEFAULT]\ninstances_path = ${state_path}/vms\n", "x")
    s2 = settings_from_conf("nc01", "x", explicit)
    assert (s2.instances_path, s2.instances_path_is_default, s2.database) == (
        "/var/lib/nova/vms", False, None,
    )  # fmt: skip


async def test_discover_nova_reads_controller_and_computes(tmp_path: Path) -> None:
    good = tmp_path / "nova.conf"
    good.write_text(
        "[DEFAULT]\nvlan_interface=bond0\n[database]\nconnection=mysql://nova:pw@127.0.0.1/nova\n"
    )
    broken = tmp_path / "broken.conf"
    broken.write_text("vlan_interface = vlan20\n")
    inv = Inventory(
        ssh=SshSettings(),
        hosts={
            "cc01": Host(transport="local", roles=["controller"], vars={"nova_conf": str(good)}),
            "nc01": Host(
                transport="local",
                roles=["compute"],
                vars={"nova_conf": str(broken), "vlan_interface": "mine"},
            ),
            "nc02": Host(transport="local", roles=["compute"], vars={"nova_conf": "/nonexistent"}),
            "out": Host(transport="local", roles=["outside"]),
        },
    )
    seen: list[str] = []
    found = await discover_nova(inv, LocalRunner(), on_done=lambda s: seen.append(s.host))
    assert sorted(seen) == ["cc01", "nc01", "nc02"]
    by = {s.host: s for s in found}
    assert by["cc01"].database == "mysql://nova:***@127.0.0.1/nova"
    assert by["nc01"].error == f"nc01:{broken}:1: option before any [section] header"
    assert by["nc02"].error is not None
    assert "cannot read /nonexistent: head: cannot open" in by["nc02"].error
    updated = apply_discovery(inv, found)
    assert updated.host("cc01").vars["vlan_interface"] == "bond0"
    assert updated.host("cc01").vars["nova_database_host"] == "127.0.0.1"
    assert "pw" not in str(updated.host("cc01").vars)
    assert updated.host("nc01").vars["vlan_interface"] == "mine"  # never overwritten
    assert inv.host("cc01").vars == {"nova_conf": str(good)}  # the original is untouched
