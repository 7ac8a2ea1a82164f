"""Switch a running healthy lab to its faulty build, for ``cloudtales drill --surprise``.

A lab that knows how to do it in place has an injector here (or its own
``inject_fault()`` method): the lab keeps its namespaces, sshd and keys, so an
investigation already connected to it goes on, and what it ends up with is exactly
what ``up(healthy=False)`` builds (``status()`` checks it against that). A lab
without one is rebuilt faulty (down + up): the hosts come back with new keys and
the caller must reconnect (``Injection.rebuilt``).

double-vlan, in place (tc-bpf mode): the compute's bond0 egress program changes from
pushing tag 100 to pushing 100 then 20 (``vlan_bpf.PUSH_TENANT_ON_OUTER``) and its
nova.conf gets ``vlan_interface=vlan20``: the tale's misconfiguration, live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import CloudtalesError
from labs.core.base import Lab, LabState, Progress, quiet
from labs.double_vlan import lab as dv
from labs.double_vlan import vlan_bpf


@dataclass(frozen=True)
class Injection:
    lab: str
    how: str  # one line: what changed
    rebuilt: bool = False  # the lab was rebuilt: reconnect (new host keys, new inventory)


def _double_vlan(lab: Lab, progress: Progress) -> Injection | None:
    assert isinstance(lab, dv.DoubleVlanLab)
    state_path = lab.run_dir / "state.json"
    state = LabState.load(state_path)
    if state is None or not state.complete:
        raise CloudtalesError(f"lab {lab.name} is not up: nothing to inject a fault into")
    if not state.healthy:
        return Injection(lab.name, "already faulty")
    if state.mode != dv.TC_BPF:
        return None  # kernel-vlan would need vlan100 recreated on vlan20: rebuild instead
    obj = lab.run_dir / "vlan_bpf.o"
    if not obj.exists():
        return None
    progress("compute bond0: stacking tenant VLAN 100 on VLAN 20")
    for host, progs in dv.expected_programs(state.mode, healthy=False).items():
        vlan_bpf.attach(
            dv.NS_PREFIX + host, dv.UPLINK, obj, egress=progs["egress"], ingress=progs["ingress"]
        )
    conf = dv.ETC_NETNS / dv.COMPUTE.netns / "nova" / "nova.conf"
    conf.write_text(dv.nova_conf(dv.COMPUTE, healthy=False))
    state.healthy = False
    state.extra["fault_injected_at"] = round(time.time(), 3)
    state.save(state_path)
    return Injection(lab.name, "compute: vlan_interface=vlan20, tenant frames double-tagged")


INJECTORS: dict[str, Callable[[Lab, Progress], Injection | None]] = {
    "double-vlan": _double_vlan,
}


def inject_fault(lab: Lab, progress: Progress = quiet) -> Injection:
    """Make the running lab faulty, in place when possible; else rebuild it faulty."""
    own = getattr(lab, "inject_fault", None)
    if callable(own):
        found = own(progress)
        if isinstance(found, Injection):
            return found
    injector = INJECTORS.get(lab.name)
    done = injector(lab, progress) if injector is not None else None
    if done is not None:
        return done
    progress("no in-place injector: rebuilding the lab faulty")
    lab.up(healthy=False, progress=progress)
    return Injection(lab.name, "rebuilt faulty (down + up)", rebuilt=True)
