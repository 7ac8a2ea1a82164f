"""What the Disappearing Images lab holds: computes, Glance images, instances, the files
nova would have written for them (nova.conf, libvirt domain XML, the instances table) and
the timeline of image cache manager passes that the lab replays.

Pure data and text; ``labs/disappearing_images/lab.py`` builds it for real.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

INSTANCES_PATH = "/var/lib/nova/instances"
NOVA_CONF = "/etc/nova/nova.conf"
NOVA_LOG_DIR = "/var/log/nova"
NOVA_LOG = f"{NOVA_LOG_DIR}/nova-compute.log"
HOUR = 3600.0


@dataclass(frozen=True)
class ComputePlan:
    name: str
    mgmt_ip: str
    root_veth: str


@dataclass(frozen=True)
class ImagePlan:
    id: str
    name: str
    size: str  # virtual size for qemu-img (sparse)

    @property
    def fingerprint(self) -> str:
        """nova names a cached image by the SHA-1 of its Glance id."""
        return hashlib.sha1(self.id.encode()).hexdigest()


@dataclass(frozen=True)
class InstancePlan:
    uuid: str
    name: str
    display_name: str
    host: ComputePlan
    image: ImagePlan
    running: bool


COMPUTE1 = ComputePlan("compute1", "10.250.4.1", "ctdi-c1")
COMPUTE2 = ComputePlan("compute2", "10.250.4.2", "ctdi-c2")
COMPUTES = (COMPUTE1, COMPUTE2)

CLOUD_IMAGE = ImagePlan(
    "4f5b8c3e-6d2a-4e1f-9b7c-2a8d5e6f1c30", "ubuntu-12.04-server-cloudimg-amd64", "2G"
)
SNAPSHOT = ImagePlan("c7e3a9d1-58b4-4f06-8d2e-9a1b3c5d7e2f", "snap-experiment-3", "10G")

INSTANCES = (
    InstancePlan(
        "1b7d3e5f-2a4c-4e6b-8d0f-1a3c5e7b9d01",
        "instance-00000001",
        "web01",
        COMPUTE1,
        CLOUD_IMAGE,
        running=True,
    ),
    InstancePlan(
        "2c8e4f60-3b5d-4f7c-9e1a-2b4d6f8a0c12",
        "instance-00000002",
        "db01",
        COMPUTE2,
        CLOUD_IMAGE,
        running=False,
    ),
    InstancePlan(
        "3d9f5071-4c6e-4081-af2b-3c5e7091b123",
        "instance-00000003",
        "experiment",
        COMPUTE2,
        SNAPSHOT,
        running=False,
    ),
)

# (hours ago, compute) of each image cache manager pass, oldest first. compute2 runs its
# last pass and locks up 50 h ago; compute1 keeps running a pass every 40 minutes (only
# the ones that matter are replayed): while compute2's registration is under 24 h old its
# instances still count and compute1 keeps the snapshot's base young (utime); the first
# pass after that finds it unknown but too young; the pass now removes it.
TIMELINE = (
    (50.0 * HOUR, "compute2"),
    (50.0 * HOUR - 600, "compute1"),
    (26.0 * HOUR + 600, "compute1"),
    (25.5 * HOUR, "compute1"),
    (0.0, "compute1"),
)


def base_dir_name(c: ComputePlan, healthy: bool) -> str:
    """The image cache directory a compute uses: shared _base, or _base_$my_ip."""
    return f"_base_{c.mgmt_ip}" if healthy else "_base"


def nova_conf(c: ComputePlan, healthy: bool) -> str:
    subdir = "_base_$my_ip" if healthy else "_base"
    return (
        "[DEFAULT]\n"
        f"host = {c.name}\n"
        f"my_ip = {c.mgmt_ip}\n"
        "state_path = /var/lib/nova\n"
        "instances_path = $state_path/instances\n"
        f"log_dir = {NOVA_LOG_DIR}\n"
        "compute_driver = libvirt.LibvirtDriver\n"
        "# the image cache manager (on by default since Folsom)\n"
        "image_cache_manager_interval = 2400\n"
        "remove_unused_base_images = True\n"
        f"image_cache_subdirectory_name = {subdir}\n"
        "remove_unused_original_minimum_age_seconds = 86400\n"
        "\n"
        "[libvirt]\n"
        "virt_type = kvm\n"
        "images_type = qcow2\n"
    )


def instances_db() -> str:
    """The rows of nova's ``instances`` table the image cache manager reads, as JSON."""
    rows = [
        {
            "uuid": i.uuid,
            "name": i.name,
            "host": i.host.name,
            "image_ref": i.image.id,
            "vm_state": "active",
            "task_state": None,
        }
        for i in INSTANCES
    ]
    return json.dumps(rows, indent=2) + "\n"


def domain_xml(inst: InstancePlan, healthy: bool) -> str:
    base = f"{INSTANCES_PATH}/{base_dir_name(inst.host, healthy)}/{inst.image.fingerprint}"
    state = 1 if inst.running else 5  # VIR_DOMAIN_RUNNING, VIR_DOMAIN_SHUTOFF
    return f"""  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{inst.name}</name>
    <uuid>{inst.uuid}</uuid>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
        <nova:name>{inst.display_name}</nova:name>
        <nova:root type="image" uuid={quoteattr(inst.image.id)}/>
      </nova:instance>
    </metadata>
    <memory unit='KiB'>524288</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2' cache='none'/>
        <source file={quoteattr(f"{INSTANCES_PATH}/{inst.uuid}/disk")}/>
        <backingStore type='file'>
          <format type='raw'/>
          <source file={quoteattr(base)}/>
          <backingStore/>
        </backingStore>
        <target dev='vda' bus='virtio'/>
      </disk>
    </devices>
    <test:runstate>{state}</test:runstate>
  </domain>
"""


def node_xml(c: ComputePlan, healthy: bool) -> str:
    """libvirt test driver's node file: this compute's domains."""
    domains = "".join(domain_xml(i, healthy) for i in INSTANCES if i.host == c)
    return f"<node>\n{domains}</node>\n"
