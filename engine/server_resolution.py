"""``--server NAME|UUID``: one server resolved to its compute host, instance name, tap, MAC.

The on-call engineer starts from what OpenStack says ("server web-01 is unreachable").
The ``api`` sources answer where it runs (``server``: nova's host and instance name) and
its ports (``server_ports``: neutron's MACs; the tap is ``tap`` + the port id's first 11
characters, as nova's VIF drivers name it). The OpenStack host name maps to an inventory
host (``engine.sources.api_hosts``; a host the inventory lacks is one line saying what to
add). When neutron cannot say, the compute's libvirt domain, matched by the instance
name, gives each interface's MAC and target device.

The walk then starts with these as facts (``server.host``, ``server.tap`` ...) and with
an inventory narrowed to that server: its host is the one ``compute``, with
``tap_iface`` and ``instance_mac`` set, so the triage's checks read the right node.

The resolution is kept in the journal's session event (``as_event``), so ``--resume``
narrows the inventory the same way from it (``from_event``) and never asks the API
again: the cloud may be the thing that is down by then.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.errors import CloudtalesError
from engine.parsers.libvirt_interfaces import parse_domain_xml
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import Runner
from engine.results import FactValue
from engine.sources.api_client import read_api
from engine.sources.api_hosts import inventory_host

_INSTANCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
TAP_LEN = 14  # "tap" + 11 characters of the port id (nova.network.model.NIC_NAME_LEN)


@dataclass(frozen=True)
class ServerNic:
    mac: str
    tap: str | None
    source: str  # "neutron port ID" or "libvirt domain NAME on HOST"
    fixed_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerResolution:
    cloud: str
    server_id: str
    server_name: str
    os_host: str | None  # what nova calls the compute
    host: str | None  # the inventory host it is
    instance_name: str | None
    via: str  # how nova answered: "server show", or its hypervisors' server lists
    nics: tuple[ServerNic, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # what could not be read, why

    def facts(self) -> dict[str, FactValue]:
        out: dict[str, FactValue] = {
            "server.id": self.server_id,
            "server.name": self.server_name,
            "server.cloud": self.cloud,
            "server.os_host": self.os_host,
            "server.host": self.host,
            "server.instance_name": self.instance_name,
        }
        if self.nics:
            out["server.tap"] = self.nics[0].tap
            out["server.mac"] = self.nics[0].mac
        return {k: v for k, v in out.items() if v is not None}

    def as_event(self) -> dict[str, Any]:
        """What the journal keeps (no secret: names, ids, MACs, taps)."""
        data = asdict(self)
        data["nics"] = [{**asdict(n), "fixed_ips": list(n.fixed_ips)} for n in self.nics]
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_event(cls, data: Any, where: str) -> ServerResolution:
        """The resolution a journal kept; a malformed one is one line naming ``where``."""
        try:
            nics = tuple(
                ServerNic(
                    mac=str(n["mac"]),
                    tap=str(n["tap"]) if n.get("tap") else None,
                    source=str(n["source"]),
                    fixed_ips=tuple(str(ip) for ip in n.get("fixed_ips") or ()),
                )
                for n in data.get("nics") or ()
            )
            return cls(
                cloud=str(data["cloud"]),
                server_id=str(data["server_id"]),
                server_name=str(data["server_name"]),
                os_host=data.get("os_host"),
                host=data.get("host"),
                instance_name=data.get("instance_name"),
                via=str(data.get("via") or ""),
                nics=nics,
                notes=tuple(str(x) for x in data.get("notes") or ()),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise CloudtalesError(f"{where}: the server resolution is unreadable ({exc})") from None

    def lines(self) -> list[str]:
        where = self.os_host or "no host"
        if self.host and self.host != self.os_host:
            where += f" (inventory host {self.host})"
        out = [
            f"server {self.server_name} ({self.server_id}) in cloud {self.cloud}: "
            f"on {where}, instance {self.instance_name or 'unknown'}; via {self.via}"
        ]
        out += [
            f"  nic {n.mac} tap {n.tap or '?'}"
            + (f" {', '.join(n.fixed_ips)}" if n.fixed_ips else "")
            + f" (from {n.source})"
            for n in self.nics
        ]
        return out + [f"  {note}" for note in self.notes]


def answer_items(stdout: str, source: str) -> tuple[str, list[dict[str, Any]]]:
    """(cloud, items) of an ``api`` source's JSON answer."""
    try:
        doc = json.loads(stdout)
        return str(doc["cloud"]), list(doc["items"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CloudtalesError(f"{source}: not an API answer ({exc})") from None


def nics_from_ports(ports: list[dict[str, Any]]) -> tuple[ServerNic, ...]:
    """Neutron's ports: the MAC, and the tap nova names after the port id."""
    return tuple(
        ServerNic(
            mac=str(p["mac_address"]).lower(),
            tap=("tap" + str(p["id"]))[:TAP_LEN] if p.get("id") else None,
            source=f"neutron port {p.get('id')}",
            fixed_ips=tuple(str(ip) for ip in p.get("fixed_ips") or [] if ip),
        )
        for p in ports
        if p.get("mac_address")
    )


def nics_from_domain(xml: str, instance_name: str, host: str) -> tuple[ServerNic, ...]:
    """The libvirt domain's interfaces, if it is the instance named."""
    dom = parse_domain_xml(xml, f"{host}: libvirt domain {instance_name}")
    if dom.name != instance_name:
        raise CloudtalesError(
            f"{host}: libvirt domain is {dom.name}, not the instance {instance_name}"
        )
    where = f"libvirt domain {dom.name} on {host}"
    return tuple(ServerNic(n.mac, n.target, where) for n in dom.nics)


def domain_command(instance_name: str) -> str:
    """Read-only: libvirt's own XML, else the file nova's libvirt driver defined it from."""
    if not _INSTANCE_NAME.match(instance_name):
        raise CloudtalesError(f"instance name {instance_name!r} is not a libvirt domain name")
    return (
        f"virsh -r dumpxml {instance_name} 2>/dev/null || cat /etc/libvirt/qemu/{instance_name}.xml"
    )


def api_host(inventory: Inventory) -> Host:
    """The host API reads are made for: one with ``os_cloud``, else a controller, else any
    (``--cloud`` applies to every host alike)."""
    hosts = list(inventory.hosts.values())
    if not hosts:
        raise CloudtalesError(f"inventory {inventory.name} has no hosts")
    with_cloud = [h for h in hosts if h.vars.get("os_cloud")]
    return (with_cloud or inventory.by_role("controller") or hosts)[0]


async def resolve(
    inventory: Inventory, runner: Runner, server: str, timeout: float = 60.0
) -> ServerResolution:
    """Ask the API, map the host, read the ports (else the libvirt domain)."""
    via_host = api_host(inventory)
    res = await read_api(via_host, "server", timeout, server=server)
    cloud, items = answer_items(res.stdout, "server")
    if not items:
        raise CloudtalesError(f"cloud {cloud}: no server {server}")
    srv = items[0]
    os_host = srv.get("host")
    if not os_host:
        raise CloudtalesError(
            f"cloud {cloud}: server {srv.get('name')} ({srv.get('id')}) has no compute host "
            f"(status {srv.get('status') or '?'}; {srv.get('via')})"
        )
    host = inventory_host(inventory, str(os_host))
    instance = srv.get("instance_name")
    notes: list[str] = []
    nics: tuple[ServerNic, ...] = ()
    try:
        ports = await read_api(via_host, "server_ports", timeout, server=str(srv["id"]))
        nics = nics_from_ports(answer_items(ports.stdout, "server_ports")[1])
        if not nics:
            notes.append("neutron: no ports on this server")
    except CloudtalesError as exc:
        notes.append(f"ports: {exc}")
    if not nics and instance:
        out = await runner.run(host, domain_command(str(instance)), timeout=timeout)
        if out.ok and out.stdout.strip():
            try:
                nics = nics_from_domain(out.stdout, str(instance), host.name)
            except CloudtalesError as exc:
                notes.append(str(exc))
        else:
            said = (out.stderr or "").strip().splitlines()
            notes.append(
                f"libvirt: no domain {instance} on {host.name}"
                + (f" ({said[-1][:160]})" if said else "")
            )
    return ServerResolution(
        cloud=cloud,
        server_id=str(srv["id"]),
        server_name=str(srv.get("name") or server),
        os_host=str(os_host),
        host=host.name,
        instance_name=str(instance) if instance else None,
        via=str(srv.get("via") or "server show"),
        nics=nics,
        notes=tuple(notes),
    )


def narrow(inventory: Inventory, res: ServerResolution) -> Inventory:
    """A copy where the server's host is the one ``compute`` (with ``tap_iface`` and
    ``instance_mac`` when known); other computes keep their names but not the role."""
    hosts: dict[str, Host] = {}
    for name, h in inventory.hosts.items():
        if name == res.host:
            extra: dict[str, Any] = {"server_name": res.server_name, "server_id": res.server_id}
            if res.instance_name:
                extra["instance_name"] = res.instance_name
            if res.nics and res.nics[0].tap:
                extra["tap_iface"] = res.nics[0].tap
            if res.nics:
                extra["instance_mac"] = res.nics[0].mac
            roles = h.roles if "compute" in h.roles else [*h.roles, "compute"]
            hosts[name] = h.model_copy(update={"roles": roles, "vars": {**h.vars, **extra}})
        elif "compute" in h.roles:
            roles = [r for r in h.roles if r != "compute"]
            hosts[name] = h.model_copy(update={"roles": roles})
        else:
            hosts[name] = h
    note = f"--server {res.server_name}: compute is {res.host} only"
    return inventory.model_copy(update={"hosts": hosts, "notes": [*inventory.notes, note]})


def narrow_resumed(inventory: Inventory, data: Any, where: str) -> Inventory:
    """``--resume`` of a ``--server`` walk: the journal's resolution, the same narrowing.
    Its host must still be in the inventory (one line saying which, if not)."""
    res = ServerResolution.from_event(data, where)
    if res.host not in inventory.hosts:
        raise CloudtalesError(
            f"{where}: server {res.server_name} ran on {res.host}, which inventory "
            f"{inventory.name} does not hold: resume with the inventory it was started with"
        )
    return narrow(inventory, res)
