"""What the Valentine's Day lab is made of: names, addresses, MACs and libvirt XML.

Kept apart from ``labs/valentines/lab.py`` (which builds it) so tests and status can read
the plan without touching the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

MODE = "bond-standin"  # bond0 is labs/valentines/bond_standin.py: this kernel has no bonding driver
NS_PREFIX = "ct-vd-"
ROOT_PREFIX = "ctvd-"  # links this lab puts in the root namespace
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.3.0/24"
MGMT_GATEWAY = "10.250.3.254/24"
BOND = "bond0"
BOND_MAC = "00:1b:21:35:10:00"  # the dual-port 10G NIC's first port
DATA_IP = "10.0.100.35"  # the compute's flat address, on br100
COMPUTE_NAME = "server35"  # what nova service-list calls the node
PORT_MEMBER = "Ethernet35"  # the switch's server-facing port (a veth)
PORT_LOGICAL = "Port-Channel35"  # the port-channel the switch logs
PORT_DESCRIPTION = "Server35"
CLOUD = "valentines-lab"  # the cloud clouds.yaml names: the real control plane's
CONTROLLER_PORT = "Ethernet1"  # SW-1's port to the controller
PEER_PORT = "Ethernet49"  # SW-1 <-> SW-2 (the MLAG peer link, as a plain link)


@dataclass(frozen=True)
class ComputePlan:
    name: str
    mgmt_ip: str
    root_veth: str
    mgmt_iface: str  # the 1G NIC that stays up

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


@dataclass(frozen=True)
class ControllerPlan:
    """The control plane's host: its management NIC on the 1G network (sshd, the
    operator's API route) and its data NIC behind SW-1, where the compute's RPC goes."""

    name: str
    mgmt_ip: str
    root_veth: str
    mgmt_iface: str
    data_iface: str
    data_ip: str  # keystone, nova-api, RabbitMQ and MariaDB listen here

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


@dataclass(frozen=True)
class SwitchPlan:
    name: str
    hostname: str  # as the switch logs it
    mgmt_ip: str
    root_veth: str
    member: str  # the compute link cabled to this switch
    member_mac: str  # that NIC port's own (permanent) MAC
    svi_ip: str
    vlan_bridge: str = "Vlan100"

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


@dataclass(frozen=True)
class InstancePlan:
    name: str  # namespace suffix
    display_name: str  # nova's name for it
    domain: str  # libvirt's name for it (nova's instance name once booted)
    uuid: str  # replaced by nova's once the lab booted the server
    mac: str
    tap: str
    ip: str
    user: str
    project: str
    faulty: bool  # runs a guest bridge with STP on in the faulty lab

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.name


COMPUTE = ComputePlan("compute", "10.250.3.2", f"{ROOT_PREFIX}cmp", "eth2")
CONTROLLER = ControllerPlan(
    "controller", "10.250.3.1", f"{ROOT_PREFIX}ctl", "mgmt0", "eth1", "10.0.100.40"
)
SWITCHES = (
    SwitchPlan(
        "sw1",
        "SW-1",
        "10.250.3.11",
        f"{ROOT_PREFIX}sw1",
        "eth0",
        "00:1b:21:35:10:00",
        "10.0.100.251",
    ),
    SwitchPlan(
        "sw2",
        "SW-2",
        "10.250.3.12",
        f"{ROOT_PREFIX}sw2",
        "eth1",
        "00:1b:21:35:10:01",
        "10.0.100.252",
    ),
)
CENTOS = InstancePlan(
    name="centos",
    display_name="centos-test",
    domain="instance-00000023",
    uuid="5c0a8d5e-3c1b-4f0e-9b9a-2a9c1e7b0d23",
    mac="fa:16:3e:24:e7:22",  # the source MAC the tale's switch logged
    tap="tap3f2a9c1e-7b",
    ip="10.0.100.5",
    user="valentine",
    project="cupid",
    faulty=True,
)
WEB = InstancePlan(
    name="web",
    display_name="web-01",
    domain="instance-00000021",
    uuid="0b7e3c52-91d4-4a8e-8f3f-6d5b91c0a021",
    mac="fa:16:3e:5b:91:0c",
    tap="tap8d41b6a0-2c",
    ip="10.0.100.6",
    user="ops",
    project="infra",
    faulty=False,
)
INSTANCES = (CENTOS, WEB)


def domain_xml(inst: InstancePlan, domain_type: str = "kvm") -> str:
    """A nova-style libvirt domain: nova metadata, and one bridged virtio NIC."""
    e = escape
    return f"""<domain type='{domain_type}'>
  <name>{e(inst.domain)}</name>
  <uuid>{e(inst.uuid)}</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
      <nova:package version="2013.2"/>
      <nova:name>{e(inst.display_name)}</nova:name>
      <nova:flavor name="m1.small">
        <nova:memory>2048</nova:memory><nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="{e(inst.user)}-0001">{e(inst.user)}</nova:user>
        <nova:project uuid="{e(inst.project)}-0001">{e(inst.project)}</nova:project>
      </nova:owner>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='bridge'>
      <mac address='{e(inst.mac)}'/>
      <source bridge='br100'/>
      <target dev='{e(inst.tap)}'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


def node_xml(instances: tuple[InstancePlan, ...] = INSTANCES) -> str:
    """libvirt's test driver node (``test:///path/node.xml``): the running domains."""
    domains = "".join(domain_xml(i, "test") for i in instances)
    return f"<node>\n{domains}</node>\n"


@dataclass(frozen=True)
class LabPaths:
    """Where the lab keeps what its hosts and emulators write (under RUN_ROOT/valentines)."""

    run_dir: Path

    @property
    def inventory(self) -> Path:
        return self.run_dir / "inventory.yaml"

    @property
    def state(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def compute_dir(self) -> Path:
        return self.run_dir / "compute"

    @property
    def bond_status(self) -> Path:
        """The bond stand-in's ``/proc/net/bonding/bond0``."""
        return self.compute_dir / "proc-net-bonding" / BOND

    @property
    def bond_ready(self) -> Path:
        return self.compute_dir / "bond.ready"

    def switch_dir(self, sw: SwitchPlan) -> Path:
        return self.run_dir / sw.name

    def switch_log(self, sw: SwitchPlan) -> Path:
        return self.switch_dir(sw) / "messages"

    def switch_state(self, sw: SwitchPlan) -> Path:
        return self.switch_dir(sw) / "state.json"

    def switch_ready(self, sw: SwitchPlan) -> Path:
        return self.switch_dir(sw) / "ready"

    @property
    def clouds_yaml(self) -> Path:
        return self.run_dir / "clouds.yaml"

    @property
    def node_xml(self) -> Path:
        """libvirt's test driver node file: ``test://`` + this path."""
        return self.run_dir / "libvirt" / "node.xml"
