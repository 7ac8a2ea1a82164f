"""Path-MTU verdict from a ping sweep."""

from __future__ import annotations

from engine.parsers.ping import ICMP_IP_OVERHEAD, Sweep
from engine.results import CheckResult, Evidence

PMTU_OUTCOMES = ("full", "reduced", "unreachable")


def judge_path_mtu(source: str, target: str, sweep: Sweep, expected_mtu: int) -> CheckResult:
    table = "\n".join(
        f"ping -M do -s {size:<5} {'ok' if ok else 'LOST'}" for size, ok in sweep.probes
    )
    evidence = (Evidence(f"path-MTU sweep {source} -> {target}", table, source),)
    pmtu = sweep.path_mtu
    if pmtu is None:
        return CheckResult(
            "unreachable",
            f"{target} does not answer even small pings from {source}",
            {"path_mtu": None, "expected_mtu": expected_mtu},
            evidence,
        )
    facts = {
        "path_mtu": pmtu,
        "max_payload": pmtu - ICMP_IP_OVERHEAD,
        "expected_mtu": expected_mtu,
        "shortfall": expected_mtu - pmtu,
    }
    if pmtu >= expected_mtu:
        return CheckResult("full", f"{expected_mtu}-byte packets reach {target}", facts, evidence)
    short = expected_mtu - pmtu
    hint = " (exactly one 802.1Q tag)" if short == 4 else ""
    return CheckResult(
        "reduced",
        f"largest packet through to {target} is {pmtu} bytes, {short} short of "
        f"{expected_mtu}{hint}",
        facts,
        evidence,
    )
