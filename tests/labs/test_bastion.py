"""A real bastion hop: hosts reachable only through a jump host named in an ssh config.

Network namespaces, each running OpenSSH's sshd::

    root ns 10.250.7.254 ── ctbh-bst ═ mgmt0 10.250.7.1  bastion (no ip_forward)
                                                  br-int 10.250.8.254
                                        ┌──────────┴──────────┐
                                 eth0 10.250.8.1         eth0 10.250.8.2
                                      cc01                    nc01

The root namespace has no route to 10.250.8.0/24 and the bastion does not forward, so
the only way in is an SSH jump through the bastion. The jump, the addresses, the key and
the known_hosts file are all in one ssh config file; the Ansible inventory names only
``cc01`` and ``nc01`` (and points at that config with ``-F`` in ansible_ssh_common_args,
as Ansible users do). ``cloudtales hosts``, the link_facts and vlan_interface checks,
nova.conf discovery and a whole autopilot run all go through asyncssh's ProxyJump.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.checks.base import LiveLine
from engine.errors import TransportError
from engine.executor import run_check
from engine.playbook.model import Check
from engine.remote.factory import make_runner
from engine.remote.inventory import Host, Inventory, SshSettings, load_inventory
from engine.remote.ssh import SshRunner
from labs.core import netns

REPO = Path(__file__).resolve().parents[2]
CLOUDTALES = str(Path(sys.executable).with_name("cloudtales"))
NS_PREFIX = "ct-bh-"
ROOT_PREFIX = "ctbh-"
MGMT_NET = "10.250.7.0/24"
BASTION = netns.SshHost("bastion", f"{NS_PREFIX}bastion", "10.250.7.1")
CC01 = netns.SshHost("cc01", f"{NS_PREFIX}cc01", "10.250.8.1")
NC01 = netns.SshHost("nc01", f"{NS_PREFIX}nc01", "10.250.8.2")
HOSTS = (BASTION, CC01, NC01)
NOVA_CONF = {
    "cc01": "[DEFAULT]\nvlan_interface = bond0\n[database]\n"
    "connection = mysql+pymysql://nova:Tr0ub4dor@10.250.8.1/nova?charset=utf8\n",
    "nc01": "[DEFAULT]\nvlan_interface = vlan20\nstate_path = /var/lib/nova\n",
}


@dataclass(frozen=True)
class Bastion:
    run_dir: Path
    ssh_config: Path
    inventory: Path  # Ansible YAML: cc01 (controller), nc01 (compute)
    files: netns.SshFiles


def _teardown(run_dir: Path | None) -> None:
    if run_dir is not None:
        netns.stop_sshds(run_dir)
    for ns in netns.namespaces(NS_PREFIX):
        netns.stop_pids(netns.namespace_pids(ns))
        netns.delete_namespace(ns)
    for dev in netns.links(prefix=ROOT_PREFIX):
        netns.delete_link(dev)


def _build(run_dir: Path) -> netns.SshFiles:
    owner = netns.route_owner(MGMT_NET)
    assert owner is None, f"{MGMT_NET} is already routed via {owner}"
    for h in HOSTS:
        netns.add_namespace(h.netns)
    bastion = BASTION.netns
    netns.add_veth(f"{ROOT_PREFIX}bst", "mgmt0", peer_ns=bastion)
    netns.add_address(f"{ROOT_PREFIX}bst", "10.250.7.254/24")
    netns.link_up(f"{ROOT_PREFIX}bst")
    netns.add_address("mgmt0", f"{BASTION.address}/24", ns=bastion)
    netns.link_up("mgmt0", ns=bastion)
    netns.add_bridge("br-int", ns=bastion)
    netns.add_address("br-int", "10.250.8.254/24", ns=bastion)
    netns.link_up("br-int", ns=bastion)
    for h in (CC01, NC01):
        netns.add_veth(f"int-{h.name}", "eth0", ns=bastion, peer_ns=h.netns)
        netns.set_master(f"int-{h.name}", "br-int", ns=bastion)
        netns.link_up(f"int-{h.name}", ns=bastion)
        netns.add_address("eth0", f"{h.address}/24", ns=h.netns)
        netns.link_up("eth0", ns=h.netns)
    files = netns.prepare_ssh(run_dir, HOSTS, comment="cloudtales-bastion-test")
    netns.start_sshds(run_dir, HOSTS)
    return files


def _ssh_config(run_dir: Path, files: netns.SshFiles) -> Path:
    common = (
        f"  User root\n  IdentityFile {files.client_key}\n"
        f"  UserKnownHostsFile {files.known_hosts}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
    )
    path = run_dir / "ssh_config"
    path.write_text(
        f"Host bastion\n  HostName {BASTION.address}\n{common}"
        f"Host cc01 nc01 nc02 tarpit\n  ProxyJump bastion\n{common}"
        f"Host cc01\n  HostName {CC01.address}\n"
        f"Host nc01\n  HostName {NC01.address}\n"
        "Host nc02\n  HostName 10.250.8.3\n"  # nobody there
        f"Host tarpit\n  HostName {NC01.address}\n  Port 2222\n"  # accepts, never speaks
    )
    return path


def _inventory(run_dir: Path, ssh_config: Path, name: str, extra: str = "") -> Path:
    path = run_dir / name
    path.write_text(
        textwrap.dedent(
            f"""\
            # an Ansible inventory: the jump is only in the ssh config (-F)
            all:
              vars:
                ansible_ssh_common_args: "-F {ssh_config}"
              children:
                controller:
                  hosts:
                    cc01:
                      nova_conf: {run_dir / "cc01" / "nova.conf"}
                compute:
                  hosts:
                    nc01:
                      nova_conf: {run_dir / "nc01" / "nova.conf"}
            """
        )
        + extra
    )
    return path


@pytest.fixture(scope="module")
def bastion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bastion]:
    netns.require_root("the bastion test")
    run_dir = tmp_path_factory.mktemp("bastion")
    _teardown(None)
    try:
        files = _build(run_dir)
        for host, text in NOVA_CONF.items():
            (run_dir / host).mkdir(exist_ok=True)
            (run_dir / host / "nova.conf").write_text(text)
        config = _ssh_config(run_dir, files)
        yield Bastion(run_dir, config, _inventory(run_dir, config, "inv.yaml"), files)
    finally:
        _teardown(run_dir)


def cloudtales(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLOUDTALES, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def rows(table: str) -> dict[str, dict[str, str]]:
    """The hosts table as {host: {COLUMN: value}}."""
    lines = [ln for ln in table.splitlines() if ln.strip()]
    header = lines[0].split()
    found = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) != len(header):
            break
        found[cells[0]] = dict(zip(header, cells, strict=True))
    return found


# ---------------------------------------------------------------- the tests


@pytest.mark.lab
async def test_hosts_behind_the_bastion_are_unreachable_directly(bastion: Bastion) -> None:
    direct = Inventory(
        name="direct",
        ssh=SshSettings(
            known_hosts=str(bastion.files.known_hosts),
            client_keys=[str(bastion.files.client_key)],
            username="root",
            connect_timeout=2,
        ),
        hosts={"cc01": Host(address=CC01.address)},
    )
    runner = SshRunner(direct)
    try:
        with pytest.raises(TransportError, match=r"^host cc01: "):
            await runner.run(direct.host("cc01"), "hostname", timeout=5)
    finally:
        await runner.close()


@pytest.mark.lab
def test_no_route_to_the_hosts_but_through_the_bastion(bastion: Bastion) -> None:
    route = subprocess.run(["ip", "route", "show", "10.250.8.0/24"], capture_output=True, text=True)
    assert route.stdout.strip() == ""
    forward = subprocess.run(
        netns.in_ns(BASTION.netns, ["sysctl", "-n", "net.ipv4.ip_forward"]),
        capture_output=True,
        text=True,
    )
    assert forward.stdout.strip() == "0"


@pytest.mark.lab
def test_openssh_itself_agrees_with_the_config(bastion: Bastion) -> None:
    out = subprocess.run(
        ["ssh", "-F", str(bastion.ssh_config), "nc01", "hostname"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (out.returncode, out.stdout) == (0, "nc01\n"), out.stderr


@pytest.mark.lab
def test_ansible_inventory_takes_the_ssh_config_from_its_ssh_args(bastion: Bastion) -> None:
    inv = load_inventory(bastion.inventory)
    assert inv.ssh.config == str(bastion.ssh_config)
    assert (inv.host("cc01").address, inv.host("cc01").roles) == ("cc01", ["controller"])
    assert (inv.host("nc01").address, inv.host("nc01").roles) == ("nc01", ["compute"])
    assert inv.notes == []


@pytest.mark.lab
def test_hosts_command_reaches_every_host_through_the_jump(bastion: Bastion) -> None:
    out = cloudtales("hosts", "-i", str(bastion.inventory))
    assert out.returncode == 0, out.stdout + out.stderr
    table = rows(out.stdout)
    assert set(table) == {"cc01", "nc01"}
    for name in ("cc01", "nc01"):
        row = table[name]
        assert (row["VIA"], row["SSH"], row["USER"], row["SUDO"]) == (
            "bastion",
            "ok",
            "root",
            "root",
        )
        assert (row["TCPDUMP"], row["IP"]) == ("yes", "yes")
    assert table["cc01"]["ROLES"] == "controller"
    assert (table["cc01"]["ADDRESS"], table["nc01"]["ADDRESS"]) == (CC01.address, NC01.address)
    progress = out.stderr.splitlines()
    assert progress[0].startswith("probing 2 host(s) from ")
    assert sorted(ln.split()[0] for ln in progress[1:3]) == ["[1/2]", "[2/2]"]
    assert "\n2 of 2 host(s) reachable; root (login or sudo -n) on 2 of 2\n" in out.stdout
    assert out.stdout.rstrip().endswith("no virsh on: cc01, nc01")
    assert "textual" not in out.stderr


@pytest.mark.lab
def test_an_unreachable_host_behind_the_jump_fails_the_command(bastion: Bastion) -> None:
    extra = "    ungrouped:\n      hosts:\n        nc02:\n"
    inv = _inventory(bastion.run_dir, bastion.ssh_config, "inv-nc02.yaml", extra)
    out = cloudtales("hosts", "-i", str(inv))
    assert out.returncode == 1, out.stdout + out.stderr
    table = rows(out.stdout)
    assert (table["nc02"]["SSH"], table["nc02"]["VIA"]) == ("FAIL", "bastion")
    assert table["nc01"]["SSH"] == "ok"
    reason = next(ln for ln in out.stdout.splitlines() if ln.startswith("  nc02: "))
    assert "10.250.8.3" in reason
    assert "UNREACHABLE" in out.stderr
    assert "2 of 3 host(s) reachable; 1 unreachable" in out.stdout


@pytest.mark.lab
def test_nova_discovery_through_the_jump_redacts_the_password(bastion: Bastion) -> None:
    written = bastion.run_dir / "discovered.yaml"
    out = cloudtales(
        "hosts", "-i", str(bastion.inventory), "--nova", "--write-inventory", str(written)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mysql+pymysql://nova:***@10.250.8.1/nova?charset=utf8" in out.stdout
    assert "Tr0ub4dor" not in out.stdout + written.read_text()
    inv = load_inventory(written)
    assert inv.ssh.config == str(bastion.ssh_config)
    assert inv.host("nc01").vars["vlan_interface"] == "vlan20"
    assert inv.host("nc01").vars["instances_path"] == "/var/lib/nova/instances"
    assert inv.host("cc01").vars["nova_database_host"] == "10.250.8.1"


@pytest.mark.lab
async def test_real_checks_run_through_the_jump(bastion: Bastion) -> None:
    inv = load_inventory(bastion.inventory)
    runner = make_runner(inv)
    lines: list[LiveLine] = []
    try:
        links = Check(
            id="bh-links", title="links", why="why", type="link_facts",
            hosts=["compute"], on={"no_vlan_devices": "x"}, fallback="x",
        )  # fmt: skip
        result = await run_check(links, runner, inv, {}, lines.append)
        assert result.outcome == "no_vlan_devices"
        assert {ln.source for ln in lines} == {"nc01:ip link"}
        assert any(ln.text.startswith("eth0 ") for ln in lines)
        nova = Check(
            id="bh-nova", title="nova", why="why", type="vlan_interface", hosts=["compute"],
            params={"path": "{hosts.nc01.nova_conf}"}, on={"is_vlan_device": "x"}, fallback="x",
        )  # fmt: skip
        result = await run_check(nova, runner, inv, {}, lines.append)
        assert result.outcome == "is_vlan_device"
        assert result.facts["vlan_interface"] == "vlan20"
    finally:
        await runner.close()


PLAYBOOK = """\
tale: bh-bastion
title: Through the bastion
source: {title: test, url: "https://docs.openstack.org/openstack-ops/content/app_crypt.html"}
symptoms:
  - id: bh-symptom
    title: Checks through a bastion
    start: bh-links
checks:
  - id: bh-links
    title: links on the compute
    why: VLAN devices
    type: link_facts
    hosts: [compute]
    on: {vlan_on_vlan: bh-nova, vlan_on_base: bh-nova, no_vlan_devices: bh-nova}
    fallback: inconclusive
  - id: bh-nova
    title: nova.conf vlan_interface
    why: where tenant VLANs go
    type: vlan_interface
    hosts: [compute]
    params: {path: "{hosts.nc01.nova_conf}", vlan_devices: "{facts.bh-links.vlan_devices}"}
    on: {is_vlan_device: bh-stacked, is_base_device: bh-base, unset: bh-base}
    fallback: inconclusive
diagnoses:
  - id: bh-stacked
    title: "vlan_interface names a VLAN device ({facts.bh-nova.vlan_interface})"
    explanation: read through the jump host
    requires: [bh-nova.outcome=is_vlan_device, bh-nova.vlan_interface]
  - id: bh-base
    title: vlan_interface names no VLAN device
    explanation: read through the jump host
    requires: [bh-nova.outcome=is_base_device|unset]
"""


@pytest.mark.lab
def test_investigate_autopilot_takes_the_ansible_inventory(bastion: Bastion) -> None:
    book = bastion.run_dir / "playbooks"
    book.mkdir(exist_ok=True)
    (book / "bh.yaml").write_text(PLAYBOOK)
    journal = bastion.run_dir / "journal.jsonl"
    out = cloudtales(
        "--playbooks", str(book), "investigate", "-i", str(bastion.inventory),
        "-s", "bh-symptom", "--autopilot", "--journal", str(journal),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("diagnosis: bh-stacked")
    assert "path: bh-symptom -> bh-links -> bh-nova -> bh-stacked" in out.stdout


def _tarpit(ns: str, address: str, port: int) -> subprocess.Popen[bytes]:
    """A TCP listener that accepts and never says a word (an ssh banner never comes)."""
    code = (
        "import socket,sys,time\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(({address!r},{port})); s.listen(8); print('ready', flush=True)\n"
        "held=[]\n"
        "while True: held.append(s.accept())\n"
    )
    proc = subprocess.Popen(netns.in_ns(ns, [sys.executable, "-c", code]), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


@pytest.mark.lab
def test_ctrl_c_cancels_the_survey_cleanly(bastion: Bastion) -> None:
    extra = "    ungrouped:\n      hosts:\n        tarpit:\n"
    inv = _inventory(bastion.run_dir, bastion.ssh_config, "inv-tarpit.yaml", extra)
    tarpit = _tarpit(NC01.netns, NC01.address, 2222)
    try:
        # as from an interactive shell: a test run started in the background inherits
        # SIGINT ignored, and Python then never turns it into KeyboardInterrupt
        proc = subprocess.Popen(
            [CLOUDTALES, "hosts", "-i", str(inv)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        assert proc.stderr is not None
        seen = [proc.stderr.readline() for _ in range(3)]  # the header, then cc01 and nc01
        assert all(" ok " in ln for ln in seen[1:]), seen
        proc.send_signal(signal.SIGINT)  # the tarpit host is still waiting for a banner
        out, err = proc.communicate(timeout=30)
    finally:
        tarpit.terminate()
        tarpit.wait()
    assert proc.returncode == 130, out + err
    assert "cancelled: 2 of 3 host(s) probed" in err
    assert "Traceback" not in err
    assert out == ""
