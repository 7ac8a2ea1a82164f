"""The services ``stop-service`` may stop, per lab: what the lab's walk reads or relies on.

Each is stopped with the lab's own handles (pid files, the lab's service objects), on
the inventory host the walk reaches it through. Afterwards either the lab sees the
service missing and ``lab.up()`` rebuilds it (``rebuild``), or ``restart`` brings it
back as built, for a service the lab's health check does not look at.

Labs without an entry run no service of their own that a walk could lose: in
security-group the only daemons are sshd (``kill-sshd``, ``freeze-sshd``); in
conntrack-full the app and the clients holding 128 flows *are* the fault (stopping them
empties the table and makes the lab healthy, a different incident, not a broken host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns
from labs.core.base import Lab, LabState


@dataclass(frozen=True)
class Stopped:
    pids: list[int]
    restart: Callable[[], None] | None = None  # None: lab.up() rebuilds if it sees it missing


@dataclass(frozen=True)
class Service:
    lab: str
    host: str  # the inventory host the walk reaches the service through
    what: str
    stop: Callable[[Lab], Stopped]
    # diagnoses the stop itself makes true: a walk that reads the service after it stopped
    # and names one of these describes the lab as it then is (dnsmasq stopped before the
    # instance's lookup: "no DNS server answers"), which is right, not wrong
    makes_true: tuple[str, ...] = ()


def _run_dir(lab: Lab) -> Path:
    return Path(getattr(lab, "run_dir"))  # noqa: B009 - NetnsLab.run_dir


def _state(lab: Lab) -> LabState:
    state = LabState.load(_run_dir(lab) / "state.json")
    if state is None:
        raise CloudtalesError(f"lab {lab.name}: no state file, is it up?")
    return state


def _mariadb(lab: Lab) -> Stopped:
    return Stopped(getattr(lab, "db").stop())  # noqa: B009 - HavanaLab.db, a MariaDbServer


def _rabbitmq(lab: Lab) -> Stopped:
    rabbit = getattr(lab, "rabbit")  # noqa: B009 - RabbitHoleLab.rabbit, a RabbitNode
    return Stopped(netns.stop_pids(rabbit.pids(), timeout=15.0))


def _tenant_dnsmasq(lab: Lab) -> Stopped:
    """The tenant network's dnsmasq (DHCP, and DNS in the dns lab) on the controller."""
    from labs.services import dhcp

    if lab.name == "dns":
        from labs.dns.lab import dnsmasq_plan as dns_plan

        plan = dns_plan(_run_dir(lab))
    else:
        from labs.overlay_mtu.lab import dnsmasq_plan as mtu_plan

        plan = mtu_plan(_run_dir(lab), _state(lab).healthy)
    pid = dhcp.dnsmasq_pid(plan)
    return Stopped(netns.stop_pids([pid] if pid else []))


def _site_resolver(lab: Lab) -> Stopped:
    """The dns lab's site resolver (a dnsmasq in its own namespace, the forwarder's
    upstream); the lab's health check does not look at it, so it is restarted."""
    from labs.dns import plan as p

    pids = [
        pid for pid in netns.namespace_pids(p.RESOLVER_NS) if netns.cmdline(pid)[:1] == ["dnsmasq"]
    ]
    resolver_dir = _run_dir(lab) / "resolver"

    def restart() -> None:
        netns.run(netns.in_ns(p.RESOLVER_NS, p.resolver_argv(str(resolver_dir))))

    stopped = netns.stop_pids(pids)
    return Stopped(stopped, restart if stopped else None)


def _metadata_path(lab: Lab) -> Stopped:
    """haproxy (when it runs), the metadata agent and nova's metadata API: every
    process behind 169.254.169.254 in the router namespace."""
    pid_of = getattr(lab, "_pid")  # noqa: B009 - MetadataLab._pid(name), None when dead
    pids = [p for n in ("haproxy", "agent", "api") if (p := pid_of(n)) is not None]
    return Stopped(netns.stop_pids(pids))


def _nova_compute(lab: Lab) -> Stopped:
    """nova-compute on the compute nova lists down; restarted as built (its config
    unchanged), since the lab's health check looks at the controller's services only."""
    from labs.compute_service_down import lab as csd

    plane = getattr(lab, "plane")(_state(lab))  # noqa: B009 - ComputeServiceDownLab.plane
    node = next(n for n in plane.computes if n.name == csd.FAULTY.name)
    pids = plane.stop_compute(node)
    # none running (a nova-compute refused by the broker may have exited): start none
    return Stopped(pids, (lambda: plane.start_compute(node)) if pids else None)


SERVICES: dict[str, tuple[Service, ...]] = {
    "havana": (Service("havana", "controller", "MariaDB", _mariadb),),
    "rabbit-hole": (Service("rabbit-hole", "controller", "RabbitMQ", _rabbitmq),),
    "dns": (
        Service(
            "dns", "controller", "the tenant network's dnsmasq", _tenant_dnsmasq, ("dns-no-server",)
        ),
        Service("dns", "controller", "the site resolver (dnsmasq)", _site_resolver),
    ),
    "overlay-mtu": (
        # om-dhcp-mtu's no_dnsmasq ends there (no DHCP server answers on the network node)
        Service(
            "overlay-mtu",
            "controller",
            "the tenant network's dnsmasq",
            _tenant_dnsmasq,
            ("om-no-dhcp-server",),
        ),
    ),
    "metadata": (
        Service("metadata", "controller", "haproxy, metadata agent, nova API", _metadata_path),
    ),
    "compute-service-down": (
        Service(
            "compute-service-down",
            "compute-2",
            "nova-compute",
            _nova_compute,
            ("compute-process-stopped",),
        ),
    ),
}


def service_for(lab_name: str, pick: float) -> Service:
    """The lab's service a plan's ``pick`` (0..1) chooses."""
    found = SERVICES.get(lab_name)
    if not found:
        raise CloudtalesError(f"lab {lab_name} runs no service chaos knows how to stop")
    return found[min(int(pick * len(found)), len(found) - 1)]
