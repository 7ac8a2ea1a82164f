"""802.1Q tags without the 8021q module: compile and attach ``vlan_bpf.c`` with tc.

Also the probe that decides between that and real VLAN devices: ``kernel_has_8021q``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CloudtalesError
from labs.core import netns

SOURCE = Path(__file__).with_name("vlan_bpf.c")

PUSH_TENANT = "tc/push_tenant"
PUSH_TENANT_ON_OUTER = "tc/push_tenant_on_outer"
CHECK_POP = "tc/check_pop"

TOOLS = {"clang": "clang", "tc": "iproute2"}
HELPERS_HEADER = Path("/usr/include/bpf/bpf_helpers.h")


@dataclass(frozen=True)
class VlanPlan:
    tenant_vid: int = 100
    outer_vid: int = 20
    hop_mtu: int = 1500


@dataclass(frozen=True)
class Compiled:
    obj: Path
    seconds: float


def require_toolchain() -> None:
    netns.require_tools(TOOLS)
    if not HELPERS_HEADER.exists():
        raise CloudtalesError(f"{HELPERS_HEADER} not found: apt install libbpf-dev")


def compile_program(out_dir: Path, plan: VlanPlan) -> Compiled:
    """clang -O2 -g -target bpf, with the VIDs and the hop MTU as -D macros."""
    require_toolchain()
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / "vlan_bpf.o"
    argv = [
        "clang",
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-Wall",
        "-Werror",
        f"-DTENANT_VID={plan.tenant_vid}",
        f"-DOUTER_VID={plan.outer_vid}",
        f"-DHOP_MTU={plan.hop_mtu}",
    ]
    multiarch = Path("/usr/include") / getattr(sys.implementation, "_multiarch", "")
    if (multiarch / "asm").is_dir():  # <asm/types.h> lives there on Debian
        argv += ["-I", str(multiarch)]
    argv += ["-c", str(SOURCE), "-o", str(obj)]
    started = time.monotonic()
    res = netns.run(argv, check=False, timeout=120)
    if res.returncode != 0:
        errors = [ln for ln in res.stderr.splitlines() if "error" in ln] or [
            f"exit {res.returncode}"
        ]
        raise CloudtalesError(f"compiling {SOURCE} with clang failed: {errors[0].strip()}")
    return Compiled(obj, time.monotonic() - started)


def attach(ns: str, dev: str, obj: Path, *, egress: str | None, ingress: str | None) -> None:
    """Replace ``dev``'s clsact programs (idempotent: one filter per direction)."""
    netns.run(["tc", "-n", ns, "qdisc", "replace", "dev", dev, "clsact"])
    for direction, section in (("egress", egress), ("ingress", ingress)):
        if section is None:
            continue
        netns.run(
            [
                "tc",
                "-n",
                ns,
                "filter",
                "replace",
                "dev",
                dev,
                direction,
                "pref",
                "1",
                "handle",
                "1",
                "bpf",
                "direct-action",
                "obj",
                str(obj),
                "sec",
                section,
            ]
        )


def attached(ns: str, dev: str) -> dict[str, str]:
    """{"egress": section, "ingress": section} for the BPF programs on ``dev``."""
    found: dict[str, str] = {}
    for direction in ("egress", "ingress"):
        res = netns.run(
            ["tc", "-n", ns, "-j", "filter", "show", "dev", dev, direction], check=False
        )
        if res.returncode != 0 or not res.stdout.strip():
            continue
        for entry in json.loads(res.stdout):
            name = str(entry.get("options", {}).get("bpf_name", ""))
            if "[" in name:  # "vlan_bpf.o:[tc/check_pop]"
                found[direction] = name[name.index("[") + 1 : name.rindex("]")]
    return found


def clsact_drops(ns: str, dev: str) -> int | None:
    """Frames the clsact programs on ``dev`` shot (the hop-MTU check), None without clsact."""
    res = netns.run(["tc", "-n", ns, "-j", "-s", "qdisc", "show", "dev", dev], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    for qdisc in json.loads(res.stdout):
        if qdisc.get("kind") == "clsact":
            return int(qdisc.get("drops", 0))
    return None


def kernel_has_8021q(probe_ns: str) -> bool:
    """Try ``ip link add link X type vlan`` in a throwaway namespace."""
    netns.delete_namespace(probe_ns)
    netns.add_namespace(probe_ns)
    try:
        netns.add_veth("probe0", "probe1", ns=probe_ns)
        res = netns.ip(
            "link",
            "add",
            "link",
            "probe0",
            "name",
            "probe0.20",
            "type",
            "vlan",
            "id",
            "20",
            ns=probe_ns,
            check=False,
        )
        return res.returncode == 0
    finally:
        netns.delete_namespace(probe_ns)
