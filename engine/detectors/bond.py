"""Bond detectors: is the bond down because every member lost its link?

Pure functions over ``ip -j -d link`` (``engine.parsers.iplink``) and the bonding
status file (``engine.parsers.proc_bonding``). Members are the links whose master
is the bond (a real bonding driver) plus the status file's ``Slave Interface``
entries (a stand-in, or a driver that hides the master link).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.parsers.iplink import LinkInfo
from engine.parsers.proc_bonding import BondStatus
from engine.results import CheckResult, Evidence, FactValue

BOND_OUTCOMES = ("all_slaves_down", "some_slaves_down", "bond_admin_down", "bond_up", "no_bond")


@dataclass(frozen=True)
class MemberState:
    name: str
    exists: bool
    admin_up: bool
    carrier: bool
    operstate: str
    mii_status: str | None  # from the status file; None when it does not list the member
    link_failures: int | None

    @property
    def has_link(self) -> bool:
        if not self.exists:
            return False
        if self.mii_status is not None and self.mii_status != "up":
            return False
        return self.carrier

    def line(self) -> str:
        if not self.exists:
            return f"{self.name}: listed by the bond but no such link"
        flags = "LOWER_UP" if self.carrier else "NO-CARRIER"
        text = f"{self.name}: {self.operstate} ({flags})"
        if self.mii_status is not None:
            text += f", MII {self.mii_status}"
        if self.link_failures:
            text += f", {self.link_failures} link failure(s)"
        return text


def _members(bond: str, links: Sequence[LinkInfo], status: BondStatus | None) -> list[str]:
    names = [link.ifname for link in links if link.master == bond]
    if status is not None:
        names += [s.name for s in status.slaves if s.name not in names]
    return names


def member_states(
    bond: str, links: Sequence[LinkInfo], status: BondStatus | None
) -> list[MemberState]:
    by_name = {link.ifname: link for link in links}
    listed = {s.name: s for s in status.slaves} if status is not None else {}
    states = []
    for name in _members(bond, links, status):
        link = by_name.get(name)
        slave = listed.get(name)
        states.append(
            MemberState(
                name=name,
                exists=link is not None,
                admin_up=link is not None and "UP" in link.flags,
                carrier=link is not None and link.carrier,
                operstate=link.operstate if link is not None else "MISSING",
                mii_status=slave.mii_status if slave is not None else None,
                link_failures=slave.link_failure_count if slave is not None else None,
            )
        )
    return states


def detect_bond(
    host: str,
    bond: str,
    links: Sequence[LinkInfo],
    status: BondStatus | None,
    status_note: str | None = None,
) -> CheckResult:
    """``status_note`` says why the status file could not be read, if it could not."""
    by_name = {link.ifname: link for link in links}
    link = by_name.get(bond)
    if link is None:
        return CheckResult(
            "no_bond",
            f"{host}: no link named {bond}",
            {"bond": bond, "links": sorted(by_name)},
        )
    members = member_states(bond, links, status)
    member_names = {m.name for m in members}
    others_up = sorted(
        name
        for name, other in by_name.items()
        if name not in member_names
        and name != bond
        and name != "lo"
        and other.carrier
        and other.kind in (None, "veth")
        and other.master is None
    )
    down = [m.name for m in members if not m.has_link]
    kind = "bond" if link.kind == "bond" else f"{link.kind or 'device'} standing in for a bond"
    bond_line = f"{bond}: {link.operstate} ({'LOWER_UP' if link.carrier else 'NO-CARRIER'}), {kind}"
    if status is not None:
        bond_line += (
            f"; {status.source}: mode {status.mode}, MII {status.mii_status}, "
            f"active slave {status.active_slave or 'None'}"
        )
    lines = [bond_line, *(f"  {m.line()}" for m in members)]
    if others_up:
        lines.append(f"still up outside the bond: {', '.join(others_up)}")
    if status_note:
        lines.append(status_note)
    facts: dict[str, FactValue] = {
        "bond": bond,
        "bond_kind": link.kind or "device",
        "bond_operstate": link.operstate,
        "bond_carrier": link.carrier,
        "slaves": [m.line() for m in members],
        "slaves_down": down,
        "active_slave": status.active_slave if status is not None else None,
        "mode": status.mode if status is not None else None,
        "other_links_up": others_up,
    }
    evidence = (Evidence(f"{bond} and its members", "\n".join(lines), host),)
    if members and len(down) == len(members):
        return CheckResult(
            "all_slaves_down",
            f"{host}: {bond} is {link.operstate}: every member lost its link "
            f"({', '.join(down)})" + (f"; {', '.join(others_up)} still up" if others_up else ""),
            facts,
            evidence,
        )
    if down:
        return CheckResult(
            "some_slaves_down",
            f"{host}: {bond} degraded: {', '.join(down)} without link",
            facts,
            evidence,
        )
    if "UP" not in link.flags or not link.carrier:
        return CheckResult(
            "bond_admin_down",
            f"{host}: {bond} is {link.operstate} although its members have link"
            if members
            else f"{host}: {bond} is {link.operstate} and has no members",
            facts,
            evidence,
        )
    if not members:  # a plain device named like the bond: up, but no member to judge
        return CheckResult(
            "bond_up",
            f"{host}: {bond} is up, a {link.kind or 'device'} with no members to check",
            facts,
            evidence,
        )
    return CheckResult(
        "bond_up",
        f"{host}: {bond} is up, all {len(members)} member(s) with link"
        + (f", active {status.active_slave}" if status and status.active_slave else ""),
        facts,
        evidence,
    )
