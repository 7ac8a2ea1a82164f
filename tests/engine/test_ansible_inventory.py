"""Ansible inventories as operators write them: INI, YAML, JSON, directories, malformed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from engine.errors import InventoryError
from engine.parsers.ansible_hosts import expand_host_pattern, split_port
from engine.remote.ansible_inventory import load_ansible_inventory
from engine.remote.inventory import load_inventory


@pytest.fixture(autouse=True)
def built_in_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the built-in reader, whether or not Ansible is on PATH."""
    monkeypatch.setenv("CLOUDTALES_ANSIBLE_INVENTORY", "builtin")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# A kolla-ansible "multinode" inventory, trimmed: a file without an extension.
KOLLA = """\
# These initial groups are the only groups required to be modified.
[control]
control01
control02 ansible_host=10.0.0.12

[network:children]
control

[compute]
compute[01:03] ansible_user=kolla ansible_become=true  # the hypervisors

[monitoring]
monitoring01

[storage:children]
compute

[deployment]
localhost       ansible_connection=local

[baremetal:children]
control
network
compute
storage
monitoring

; service groups
[nova:children]
control

[nova-compute:children]
compute

[all:vars]
ansible_python_interpreter=/usr/bin/python3
"""


def test_kolla_multinode_ini(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "multinode", KOLLA))
    assert list(inv.hosts) == [
        "control01", "control02", "compute01", "compute02", "compute03",
        "monitoring01", "localhost",
    ]  # fmt: skip
    c2 = inv.host("control02")
    assert (c2.address, c2.username, c2.become, c2.transport) == ("10.0.0.12", None, None, "ssh")
    assert c2.roles[0] == "controller"
    assert set(c2.roles) == {"controller", "control", "network", "nova", "baremetal"}
    n3 = inv.host("compute03")
    assert (n3.address, n3.username, n3.become) == ("compute03", "kolla", "sudo")
    assert n3.roles[0] == "compute"
    assert n3.vars["group_names"] == ["baremetal", "compute", "nova-compute", "storage"]
    assert n3.vars["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "port" not in n3.model_fields_set  # the ssh config's Port still applies
    assert inv.host("localhost").transport == "local"
    assert [h.name for h in inv.by_role("compute")] == ["compute01", "compute02", "compute03"]
    assert [h.name for h in inv.resolve("controller")] == ["control01", "control02"]
    assert inv.source == str(tmp_path / "multinode")
    assert inv.notes == []


def test_yaml_inventory_with_role_mapping_and_nested_children(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cloud.yml",
        """\
        all:
          vars:
            ansible_user: ops
            ansible_ssh_private_key_file: ~/.ssh/cloud
          children:
            nova_api:
              hosts:
                cc01.example.net:
                  ansible_host: 10.0.0.11
                cc02.example.net:
                  ansible_host: 10.0.0.12
                  ansible_port: 2222
            hypervisors:
              vars: {capture_iface: bond0}
              children:
                rack1:
                  hosts:
                    nc[01:02].example.net:
                rack2:
                  hosts:
                    nc[a:b].example.net: {capture_iface: bond1}
        """,
    )
    inv = load_ansible_inventory(path, roles={"nova_api": "controller", "hypervisors": "compute"})
    assert [h.name for h in inv.by_role("controller")] == ["cc01.example.net", "cc02.example.net"]
    assert [h.name for h in inv.by_role("compute")] == [
        "nc01.example.net", "nc02.example.net", "nca.example.net", "ncb.example.net",
    ]  # fmt: skip
    cc2 = inv.host("cc02.example.net")
    assert (cc2.address, cc2.port, cc2.username) == ("10.0.0.12", 2222, "ops")
    assert cc2.client_keys == ["~/.ssh/cloud"]
    assert inv.host("nc01.example.net").vars["capture_iface"] == "bond0"
    assert inv.host("ncb.example.net").vars["capture_iface"] == "bond1"  # host beats group
    assert inv.host("ncb.example.net").roles == ["compute", "hypervisors", "rack2"]
    # without a mapping, these group names are not well-known roles
    plain = load_ansible_inventory(path)
    assert plain.by_role("compute") == []
    assert len(plain.by_role("hypervisors")) == 4


def test_variable_precedence_follows_ansible(tmp_path: Path) -> None:
    write(
        tmp_path,
        "inv/hosts",
        """\
        [compute]
        nc01 mtu=9000
        nc02

        [rack1]
        nc02

        [cloud:children]
        compute
        rack1

        [all:vars]
        level=all
        mtu=1500
        [cloud:vars]
        level=cloud
        [compute:vars]
        level=compute
        ansible_group_priority=1
        [rack1:vars]
        level=rack1
        ansible_group_priority=10
        """,
    )
    write(tmp_path, "inv/group_vars/all.yml", "ntp: 10.0.0.1\nlevel: group_vars_all\n")
    write(tmp_path, "inv/group_vars/compute/main.yml", "from_dir: yes\n")
    write(tmp_path, "inv/host_vars/nc01.yaml", "mtu: 8950\n")
    write(tmp_path, "inv/group_vars/compute/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    inv = load_inventory(tmp_path / "inv" / "hosts")
    nc1, nc2 = inv.host("nc01"), inv.host("nc02")
    # inventory group vars: all < cloud < compute (depth), then group_vars/ files
    assert nc1.vars["level"] == "group_vars_all"
    assert (nc1.vars["ntp"], nc1.vars["from_dir"]) == ("10.0.0.1", True)
    assert nc1.vars["mtu"] == 8950  # host_vars/ beats the inline host var
    # nc02: compute and rack1 at the same depth; rack1 has the higher priority
    write(tmp_path, "inv/group_vars/all.yml", "ntp: 10.0.0.1\n")
    nc2 = load_inventory(tmp_path / "inv" / "hosts").host("nc02")
    assert nc2.vars["level"] == "rack1"
    assert nc2.vars["mtu"] == 1500  # an int: INI values are Python literals
    assert any("vault.yml: encrypted with ansible-vault, not read" in n for n in inv.notes)


def test_ini_details_ports_quotes_literals_and_comments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "hosts.ini",
        """\
        ; a comment
        db01.example.net:5309 ansible_user="ops team"   # an inline comment
        [web]
        web[1:5:2] dns='["10.0.0.1", "10.0.0.2"]' flag=True
        2001:db8::10
        [web:vars]
        motd = hello world # not a comment in :vars
        """,
    )
    inv = load_inventory(path)
    db = inv.host("db01.example.net")
    assert (db.port, db.username) == (5309, "ops team")
    assert db.vars["group_names"] == ["ungrouped"]  # as Ansible: ungrouped is a group
    assert sorted(inv.hosts) == ["2001:db8::10", "db01.example.net", "web1", "web3", "web5"]
    web = inv.host("web3")
    assert web.vars["dns"] == ["10.0.0.1", "10.0.0.2"]  # unquoted by shlex, then a literal
    assert web.vars["flag"] is True
    assert web.vars["motd"] == "hello world # not a comment in :vars"
    assert inv.host("2001:db8::10").address == "2001:db8::10"


def test_ansible_inventory_list_json(tmp_path: Path) -> None:
    listing = {
        "_meta": {
            "hostvars": {
                "cc01": {"ansible_host": "10.0.0.1", "ansible_become": True},
                "nc01": {"ansible_host": "10.0.0.2", "ansible_user": "ops"},
            }
        },
        "all": {"children": ["ungrouped", "control", "compute"]},
        "control": {"hosts": ["cc01"]},
        "compute": {"hosts": ["nc01"], "vars": {"capture_iface": "bond0"}},
    }
    inv = load_inventory(write(tmp_path, "inventory.json", json.dumps(listing, indent=2)))
    assert (inv.host("cc01").address, inv.host("cc01").roles) == (
        "10.0.0.1",
        ["controller", "control"],
    )
    assert inv.host("cc01").become == "sudo"
    nc = inv.host("nc01")
    assert (nc.username, nc.vars["capture_iface"], nc.roles) == ("ops", "bond0", ["compute"])


def test_inventory_directory_merges_its_files(tmp_path: Path) -> None:
    write(tmp_path, "inv/01-control.ini", "[control]\ncc01 ansible_host=10.0.0.1\n")
    write(
        tmp_path,
        "inv/02-compute.yml",
        "all:\n  children:\n    compute:\n      hosts:\n        nc01:\n",
    )
    write(tmp_path, "inv/group_vars/all.yml", "capture_iface: bond0\n")
    write(tmp_path, "inv/README.md", "# not an inventory\n")
    inv = load_inventory(tmp_path / "inv")
    assert sorted(inv.hosts) == ["cc01", "nc01"]
    assert inv.host("nc01").vars["capture_iface"] == "bond0"
    assert inv.host("nc01").roles == ["compute"]


def test_what_cannot_be_honoured_becomes_notes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "hosts",
        """\
        [control]
        cc01 ansible_become=yes ansible_become_method=su ansible_become_user=nova
        win01 ansible_connection=winrm
        [all:vars]
        ansible_ssh_common_args='-o ProxyJump=bastion.example.net'
        ansible_password=hunter2
        ansible_host="{{ inventory_hostname }}.mgmt.example.net"
        """,
    )
    inv = load_inventory(path)
    assert list(inv.hosts) == ["cc01"]  # winrm skipped
    cc = inv.host("cc01")
    assert cc.address == "cc01.mgmt.example.net"  # {{ var }} is rendered
    assert "ansible_password" not in cc.vars
    assert "hunter2" not in json.dumps(inv.model_dump())
    notes = "\n".join(inv.notes)
    assert "host win01: ansible_connection=winrm is not supported: skipped" in notes
    assert "host cc01: become method su not supported: using sudo -n" in notes
    assert "host cc01: ansible_become_user=nova ignored" in notes
    assert "ProxyJump in ansible_ssh_common_args is not read: put it in the ssh config" in notes
    assert "ansible_password not used" in notes


def test_a_cloudtales_inventory_can_wrap_an_ansible_one(tmp_path: Path) -> None:
    write(tmp_path, "ansible/hosts", "[hypervisors]\nnc01 ansible_host=10.0.0.2\n[api]\ncc01\n")
    path = write(
        tmp_path,
        "kelowna.yaml",
        """\
        name: kelowna
        ssh: {config: /etc/cloudtales/ssh_config, connect_timeout: 5}
        ansible:
          inventory: ansible/hosts
          roles: {hypervisors: compute, api: [controller, api]}
        hosts:
          nc01: {vars: {capture_iface: bond0}}
          outside: {address: localhost, transport: local, roles: [outside]}
        """,
    )
    inv = load_inventory(path)
    assert inv.name == "kelowna"
    assert inv.ssh.config == "/etc/cloudtales/ssh_config"
    assert inv.ssh.connect_timeout == 5
    nc = inv.host("nc01")
    assert (nc.address, nc.roles, nc.vars["capture_iface"]) == (
        "10.0.0.2",
        ["compute", "hypervisors"],
        "bond0",
    )
    assert nc.vars["group_names"] == ["hypervisors"]
    assert inv.host("cc01").roles == ["controller", "api"]
    assert inv.host("outside").transport == "local"
    assert inv.source == str(path)


def test_cloudtales_inventories_are_still_read_as_before(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lab.yaml",
        "name: lab\nhosts:\n  compute: {address: 10.0.0.2, roles: [compute]}\n",
    )
    inv = load_inventory(path)
    assert (inv.name, inv.host("compute").address, inv.notes) == ("lab", "10.0.0.2", [])
    with pytest.raises(InventoryError, match=r"lab2\.yaml: hosts\.compute\.adress: Extra inputs"):
        load_inventory(write(tmp_path, "lab2.yaml", "hosts:\n  compute: {adress: x}\n"))


# ---------------------------------------------------------------- malformed files

MALFORMED = [
    ("hosts", "[control]\ncc01\n[compute\nnc01\n", 3, "malformed section header '[compute'"),
    ("hosts", "[compute:host]\nnc01\n", 1, "section [compute:host] has an unknown type 'host'"),
    (
        "hosts",
        "[all:vars]\nntp_server\n",
        2,
        "expected key=value in a :vars section, got 'ntp_server'",
    ),
    (
        "hosts",
        "[c]\ncc01 ansible_host\n",
        2,
        "expected key=value after host 'cc01', got 'ansible_host'",
    ),
    ("hosts", "[c]\nnc[03:01]\n", 2, "host range [03:01] in 'nc[03:01]' must have start <= end"),
    ("hosts", "[c]\nnc[1:b]\n", 2, "host range [1:b] in 'nc[1:b]' mixes letters and numbers"),
    ("hosts", "[c]\nnc[01:100]\n", 2, "zero-padded ends need equal widths"),
    ("hosts", "[c]\nnc[01:03\n", 2, "unclosed '[' in host 'nc[01:03'"),
    ("hosts", "[c]\ncc01 motd='unbalanced\n", 2, "cannot split host line (No closing quotation)"),
    (
        "hosts",
        "[c]\ncc01\n[cloud:children]\nc\ncompute\n",
        5,
        "[cloud:children] names group 'compute', which is declared nowhere",
    ),  # fmt: skip
    (
        "hosts",
        "[c]\ncc01\n[compute:vars]\nmtu=9000\n",
        3,
        "section [compute:vars] is for a group declared nowhere",
    ),  # fmt: skip
    (
        "hosts",
        "[a:children]\nb\n[b:children]\na\n[b]\nh\n",
        1,
        "group 'a' is its own ancestor (a -> b -> a)",
    ),
    (
        "hosts",
        "[c]\ncc01 ansible_port=ssh\n",
        2,
        "host cc01: ansible_port 'ssh' is not a port number",
    ),
    (
        "inv.yml",
        "all:\n  children:\n    compute:\n      hosts:\n        - nc01\n",
        5,
        "group 'compute': hosts must be a mapping of host names to their variables, got a list",
    ),  # fmt: skip
    (
        "inv.yml",
        "all:\n  children:\n    compute:\n      host:\n        nc01:\n",
        4,
        "group 'compute' has an unexpected key 'host' (valid: hosts, children, vars)",
    ),  # fmt: skip
    (
        "inv.yml",
        "all:\n  hosts:\n    cc01: 10.0.0.1\n",
        3,
        "host 'cc01' must be a mapping of variables, got '10.0.0.1'",
    ),  # fmt: skip
    (
        "inv.yml",
        "all:\n  children:\n    compute: nc01\n",
        3,
        "group 'compute' must be a mapping with hosts, children or vars, got 'nc01'",
    ),  # fmt: skip
    ("inv.yml", "all:\n  hosts:\n    cc01:\n\tansible_host: x\n", 4, "not valid YAML"),
    ("inv.yml", "- cc01\n- nc01\n", 1, "the top level of a YAML inventory maps group names"),
    (
        "os.yml",
        "plugin: openstack.cloud.openstack\nexpand_hostvars: true\n",
        1,
        "a dynamic inventory plugin config (plugin: openstack.cloud.openstack)",
    ),  # fmt: skip
    ("inv.json", '{"all": {"hosts": ["a",]}}', 1, "not valid JSON"),
]


@pytest.mark.parametrize(("name", "text", "line", "message"), MALFORMED)
def test_malformed_inventories_give_one_line_naming_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    said = str(err.value)
    assert "\n" not in said
    assert said.startswith(f"{path}:{line}: "), said
    assert message in said


def test_files_that_are_not_inventories(tmp_path: Path) -> None:
    vaulted = tmp_path / "hosts"
    vaulted.write_text("$ANSIBLE_VAULT;1.1;AES256\n3061\n")
    with pytest.raises(InventoryError, match=r"hosts: encrypted with ansible-vault; decrypt"):
        load_inventory(vaulted)
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InventoryError, match=r"blob: not a text file$"):
        load_inventory(binary)
    with pytest.raises(InventoryError, match=r"missing: inventory file not found$"):
        load_inventory(tmp_path / "missing")
    empty = tmp_path / "empty.ini"
    empty.write_text("# nothing yet\n[compute]\n")
    with pytest.raises(InventoryError, match=r"empty\.ini: no hosts cloudtales can reach"):
        load_inventory(empty)
    bad_vars = tmp_path / "inv" / "group_vars" / "all.yml"
    bad_vars.parent.mkdir(parents=True)
    bad_vars.write_text("- a list\n")
    (tmp_path / "inv" / "hosts").write_text("cc01\n")
    with pytest.raises(InventoryError, match=r"all\.yml: expected a mapping of variables"):
        load_inventory(tmp_path / "inv" / "hosts")


# ---------------------------------------------------------------- host patterns


def test_host_patterns() -> None:
    assert [n for n, _ in expand_host_pattern("r[1:2]n[a:b]")] == ["r1na", "r1nb", "r2na", "r2nb"]
    assert [n for n, _ in expand_host_pattern("web[1:9:4]")] == ["web1", "web5", "web9"]
    assert expand_host_pattern("[2001:db8::1]:2222") == [("2001:db8::1", 2222)]
    assert split_port("fe80::1") == ("fe80::1", None)
    assert split_port("nc[01:02].example.net:22") == ("nc[01:02].example.net", 22)
    with pytest.raises(ValueError, match="bad port '99999'"):
        expand_host_pattern("db:99999")
    with pytest.raises(ValueError, match="more than 10000 hosts"):
        expand_host_pattern("h[0:99999]")
