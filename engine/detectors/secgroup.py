"""Security-group detectors: a TCP port probe, SYNs at the bridge and in the instance, the
port's firewall chain (iptables_hybrid layout) and conntrack.

Pure functions over parsed command output -> CheckResult.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import CloudtalesError
from engine.parsers.iptables_save import Flow, Rule
from engine.results import CheckResult, Evidence, FactValue

CONNECT_OUTCOMES = ("filtered", "refused", "unreachable", "open")
SYN_OUTCOMES = ("dropped_before_instance", "no_syn_at_bridge", "delivered")
RULES_OUTCOMES = ("port_not_allowed", "no_port_chain", "port_allowed")
ACCEPTING = ("RETURN", "ACCEPT")
MAX_SHOWN = 8


def parse_connect(text: str, where: str) -> tuple[int, str]:
    """``connect_exit N`` then what bash said: (exit status, first line said)."""
    code: int | None = None
    said = ""
    for line in text.splitlines():
        if line.startswith("connect_exit "):
            value = line.split()[1]
            code = int(value) if value.lstrip("-").isdigit() else None
        elif line.strip() and not said:
            said = line.strip()
    if code is None:
        raise CloudtalesError(f"{where}: no exit status in the connect probe's output")
    return code, said


def judge_connect(host: str, target: str, port: int, code: int, said: str) -> CheckResult:
    if code == 0:
        outcome, how = "open", "connected"
    elif code == 124:
        outcome, how = "filtered", "no answer to the SYN (timed out): dropped on the way"
    elif "refused" in said.lower():
        outcome, how = "refused", "connection refused (RST): the host answers, nothing listens"
    else:
        outcome, how = "unreachable", said or f"exit status {code}"
    summary = f"{host} -> {target}:{port}/tcp: {how}"
    facts: dict[str, FactValue] = {"target": target, "port": port, "exit_status": code}
    return CheckResult(outcome, summary, facts, (Evidence("TCP connect probe", summary, host),))


def count_syns(text: str) -> list[str]:
    """The SYN lines tcpdump printed (``Flags [S]``)."""
    return [ln.strip() for ln in text.splitlines() if "Flags [S]" in ln]


def judge_syns(
    bridge_point: str,
    bridge_syns: Sequence[str],
    instance_point: str,
    instance_syns: Sequence[str],
    drops_before: int | None,
    drops_after: int | None,
) -> CheckResult:
    delta = (
        drops_after - drops_before if drops_before is not None and drops_after is not None else None
    )
    facts: dict[str, FactValue] = {
        "syn_at_bridge": len(bridge_syns),
        "syn_in_instance": len(instance_syns),
        "drops_before": drops_before,
        "drops_after": drops_after,
        "drops_delta": delta,
    }
    counted = (
        f"; the port's DROP rules counted {drops_before} -> {drops_after} packets (+{delta})"
        if delta is not None
        else ""
    )
    if not bridge_syns:
        outcome = "no_syn_at_bridge"
        summary = f"no SYN reached {bridge_point}: lost before the compute"
    elif not instance_syns:
        outcome = "dropped_before_instance"
        summary = f"{len(bridge_syns)} SYN(s) on {bridge_point}, 0 in {instance_point}{counted}"
    else:
        outcome = "delivered"
        summary = (
            f"{len(bridge_syns)} SYN(s) on {bridge_point}, {len(instance_syns)} in "
            f"{instance_point}{counted}"
        )
    evidence = [
        Evidence(
            f"SYNs on {bridge_point} ({len(bridge_syns)})", "\n".join(bridge_syns[:MAX_SHOWN])
        ),
        Evidence(
            f"SYNs in {instance_point} ({len(instance_syns)})",
            "\n".join(instance_syns[:MAX_SHOWN]) or "(none)",
        ),
    ]
    return CheckResult(outcome, summary, facts, tuple(evidence))


# ---------------------------------------------------------------- the port's chain


def port_chain(rules: Sequence[Rule], tap: str) -> str | None:
    """The port's ingress chain: the innermost chain jumped to on ``--physdev-out TAP``."""
    targets = [
        r.target
        for r in rules
        if r.table == "filter" and r.option("--physdev-out") == tap and r.target
    ]
    chains = {r.chain for r in rules}
    leaves = [
        t
        for t in targets
        if t in chains and not any(r.chain == t and r.option("--physdev-out") == tap for r in rules)
    ]
    return leaves[-1] if leaves else None


def _covers(rule: Rule, port: int) -> bool:
    proto = rule.option("-p")
    if proto not in (None, "tcp", "6", "all"):
        return False
    if rule.option("--state") or rule.option("--ctstate"):
        return False  # established/related or invalid: not a rule for new connections
    dport = rule.option("--dport") or rule.option("--dports")
    if dport is None:
        return True  # every port of the protocol (or all traffic)
    for part in dport.split(","):
        lo, _, hi = part.partition(":")
        if lo.isdigit() and int(lo) <= port <= int(hi or lo):
            return True
    return False


def chain_rules(rules: Sequence[Rule], chain: str) -> list[Rule]:
    return [r for r in rules if r.table == "filter" and r.chain == chain]


def drop_packets(rules: Sequence[Rule], chain: str) -> int | None:
    """Packets counted by DROP rules in ``chain`` and the chains it jumps to (one level)."""
    own = chain_rules(rules, chain)
    names = {chain} | {r.target for r in own if r.target not in ACCEPTING}
    counted = [
        r.packets
        for r in rules
        if r.table == "filter" and r.chain in names and r.target == "DROP" and r.packets is not None
    ]
    return sum(counted) if counted else None


def judge_port_rules(
    host: str, tap: str, port: int, target_ip: str, rules: Sequence[Rule], flows: Sequence[Flow]
) -> CheckResult:
    chain = port_chain(rules, tap)
    to_port = [f for f in flows if f.dst == target_ip and f.dport == port and f.proto == "tcp"]
    states = sorted({f.state + (" UNREPLIED" if f.unreplied else "") for f in to_port})
    conntrack = (
        f"conntrack: {len(to_port)} flow(s) to {target_ip}:{port} ({', '.join(states)})"
        if to_port
        else f"conntrack: no flow to {target_ip}:{port}"
    )
    facts: dict[str, FactValue] = {
        "tap": tap,
        "port_chain": chain or "",
        "conntrack_flows": len(to_port),
        "conntrack_states": states,
        "conntrack": conntrack,
    }
    evidence = [
        Evidence(
            f"conntrack on {host}",
            "\n".join(f.line for f in to_port[:MAX_SHOWN]) or conntrack,
            host,
        )
    ]
    if chain is None:
        summary = f"{host}: no iptables chain for {tap} (--physdev-out): not the hybrid driver?"
        return CheckResult("no_port_chain", summary, {**facts, "drops": None}, tuple(evidence))
    own = chain_rules(rules, chain)
    allowing = [r for r in own if r.target in ACCEPTING and _covers(r, port)]
    drops = drop_packets(rules, chain)
    facts.update(
        allowing=[r.line for r in allowing],
        chain_rules=[r.line for r in own][:20],
        drops=drops,
    )
    evidence.insert(
        0, Evidence(f"{chain} on {host} (iptables-save -c)", "\n".join(r.line for r in own), host)
    )
    if allowing:
        outcome = "port_allowed"
        summary = f"{host}: {chain} allows tcp/{port} ({allowing[0].spec})"
    else:
        outcome = "port_not_allowed"
        summary = (
            f"{host}: {chain} has no rule allowing tcp/{port}: it falls to DROP "
            f"({drops if drops is not None else '?'} packets counted)"
        )
    return CheckResult(outcome, f"{summary}; {conntrack}", facts, tuple(evidence))
