"""The metadata lab's plan: hosts, addresses, the data path and the files it writes.

The configuration files are laid out as neutron and nova write them upstream:
``haproxy.cfg`` after neutron's metadata-proxy template (``listen listener``, the
router id header, a unix-socket server), ``metadata_agent.ini`` and nova.conf's
``[neutron]`` section, and the L3 agent's ``nat PREROUTING`` redirect.
"""

from __future__ import annotations

import json
from pathlib import Path

from labs.core import netns, tenant
from labs.core.host_plan import HostPlan, inventory_entry, ssh_hosts

PROXY_DOWN = "proxy-down"
SECRET_MISMATCH = "secret-mismatch"

NS_PREFIX = "ct-md-"
ROOT_PREFIX = "ctmd-"
MGMT_BRIDGE = f"{ROOT_PREFIX}mgmt"
MGMT_NET = "10.250.21.0/24"
MGMT_GATEWAY = "10.250.21.254/24"
MTU = 1500
UPLINK = "bond0"
METADATA_IP = "169.254.169.254"
PROXY_PORT = 9697
NOVA_METADATA = "127.0.0.1:8775"
ROUTER_ID = "5c1f9a3e-2b7d-4e61-9a0c-7d3b2e8f1a64"
INSTANCE_ID = "8d2e6b1a-4f3c-4c9e-b7a2-1e5d0c9f3b27"
PROJECT_ID = "3b9c2f7e1d4a4e8f9c6b5a2d1e0f7c3b"
SECRET = "cloudtales-lab-metadata-secret"  # a lab's, never a real one
OTHER_SECRET = "cloudtales-lab-rotated-secret"
NOVA_CONF = "/etc/nova/nova.conf"
AGENT_CONF = "/etc/neutron/metadata_agent.ini"
LOGS = {  # relative to the lab's run dir
    "proxy": "controller/haproxy-metadata-proxy.log",
    "agent": "controller/neutron-metadata-agent.log",
    "nova": "controller/nova-api-metadata.log",
}
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC7lXhP0cloudtalesLabOnlyKeyNotReal0000 cloudtales-lab"
)


CONTROLLER = HostPlan(NS_PREFIX, "controller", "10.250.21.1", "ctmd-ctl", "10.0.0.1", UPLINK)
COMPUTE = HostPlan(NS_PREFIX, "compute", "10.250.21.2", "ctmd-cmp", None, UPLINK)
INSTANCE_IP = "10.0.0.5"
INSTANCE = HostPlan(NS_PREFIX, "instance", "10.250.21.3", "ctmd-ins", INSTANCE_IP)
OUTSIDE = HostPlan(NS_PREFIX, "outside", "10.250.21.4", "ctmd-out", "203.0.113.10")
HOSTS = (CONTROLLER, COMPUTE, INSTANCE, OUTSIDE)
SSH_HOSTS = ssh_hosts(HOSTS)


def wire_data_path() -> None:
    ctl, cmp_, ins, out = (h.netns for h in HOSTS)
    # the instance's default route: 169.254.169.254 goes to the router
    tenant.wire_routed_instance(
        ctl, cmp_, ins, out, tenant_net="10.0.0", instance_ip=INSTANCE_IP, mtu=MTU
    )

    netns.add_bridge("br100", ns=cmp_)
    for dev in ("tap0", UPLINK):
        netns.set_master(dev, "br100", ns=cmp_)
    for dev in ("tap0", UPLINK, "br100"):
        netns.link_up(dev, ns=cmp_)


def nat_rules() -> str:
    """The L3 agent's metadata redirect in the router namespace (iptables-restore input)."""
    return (
        "*nat\n"
        ":PREROUTING ACCEPT [0:0]\n"
        ":neutron-l3-agent-PREROUTING - [0:0]\n"
        "-A PREROUTING -j neutron-l3-agent-PREROUTING\n"
        f"-A neutron-l3-agent-PREROUTING -d {METADATA_IP}/32 -i {UPLINK} -p tcp -m tcp "
        f"--dport 80 -j REDIRECT --to-ports {PROXY_PORT}\n"
        "COMMIT\n"
    )


def agent_socket(run_dir: Path) -> Path:
    return run_dir / "controller" / "metadata_proxy"


def haproxy_cfg(run_dir: Path) -> str:
    """neutron's metadata-proxy haproxy template, logging to stdout (the lab's log file)."""
    return f"""\
global
    log         stdout format raw local0 info
    log-tag     haproxy-metadata-proxy-{ROUTER_ID}
    maxconn     1024
    pidfile     {run_dir / "controller" / "haproxy-metadata.pid"}

defaults
    log global
    mode http
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor
    retries                 3
    timeout http-request    30s
    timeout connect         30s
    timeout client          32s
    timeout server          32s
    timeout http-keep-alive 30s

listen listener
    bind 0.0.0.0:{PROXY_PORT}
    server metadata {agent_socket(run_dir)}
    http-request del-header X-Neutron-Router-ID
    http-request set-header X-Neutron-Router-ID {ROUTER_ID}
"""


def agent_ini(secret: str) -> str:
    host, port = NOVA_METADATA.split(":")
    return (
        "[DEFAULT]\n"
        f"nova_metadata_host = {host}\n"
        f"nova_metadata_port = {port}\n"
        f"metadata_proxy_shared_secret = {secret}\n"
        "metadata_proxy_socket = /var/lib/neutron/metadata_proxy\n"
    )


def nova_conf(secret: str) -> str:
    return (
        "[DEFAULT]\n"
        "enabled_apis = osapi_compute,metadata\n"
        f"metadata_listen = {NOVA_METADATA.split(':')[0]}\n"
        f"metadata_listen_port = {NOVA_METADATA.split(':')[1]}\n"
        "\n[neutron]\n"
        "service_metadata_proxy = true\n"
        f"metadata_proxy_shared_secret = {secret}\n"
    )


def ports_doc(run_dir: Path) -> dict[str, object]:
    return {
        "ports": {
            f"{ROUTER_ID}/{INSTANCE_IP}": {"instance_id": INSTANCE_ID, "project_id": PROJECT_ID}
        },
        "instances": {
            INSTANCE_ID: {"hostname": "instance.novalocal", "ip": INSTANCE_IP, "ssh_key": SSH_KEY}
        },
    }


def listening(ns: str, port: int) -> bool:
    out = netns.run(netns.in_ns(ns, ["ss", "-Hltn", f"sport = :{port}"]), check=False).stdout
    return bool(out.strip())


def inventory_hosts(run_dir: Path, mode: str) -> dict[str, object]:
    hosts: dict[str, object] = {}
    for h in HOSTS:
        host_vars: dict[str, object] = {"ip": h.data_ip}
        if h in (CONTROLLER, COMPUTE):
            host_vars["uplink"] = UPLINK
        host_vars.update(capture_iface=h.capture_iface, mtu=MTU)
        if h is COMPUTE:
            host_vars.update(tap_iface="tap0", bridge="br100")
        if h is CONTROLLER:
            host_vars.update(
                nova_conf=NOVA_CONF,
                metadata_agent_conf=AGENT_CONF,
                metadata_proxy_log=str(run_dir / LOGS["proxy"]),
                metadata_agent_log=str(run_dir / LOGS["agent"]),
                nova_metadata_log=str(run_dir / LOGS["nova"]),
            )
        host_vars.update(lab_mode=mode, netns=h.netns)
        hosts[h.name] = inventory_entry(h, host_vars)
    return hosts


def dump(doc: object) -> str:
    return json.dumps(doc, indent=2)
