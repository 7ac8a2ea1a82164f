"""Check ``bpdu_source``: which instance sends the BPDUs, across every layer.

source MAC (from ``bpdu_capture``) -> bridge port that learned it (``bridge -j fdb
show`` on the compute) -> libvirt domain interface with that MAC or target dev ->
instance name, uuid and owner -> compute host (host var ``compute_name``).

Domains come from two providers, merged by name:

- libvirt itself, when the host var ``libvirt_uri`` is set (``qemu+ssh://...`` or, in
  labs, ``test:///.../node.xml``): libvirt-python, read-only, in a worker thread
  because its calls block;
- the persistent definitions on the compute (``/etc/libvirt/qemu/*.xml``), read
  through the runner like every other file, so recorded sessions replay them.
"""

from __future__ import annotations

import asyncio
import re

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine, read_ok
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import merge_outcomes
from engine.detectors.stp import SOURCE_OUTCOMES, resolve_bpdu_sources
from engine.errors import CloudtalesError
from engine.parsers.bridge_fdb import FdbEntry, parse_bridge_fdb
from engine.parsers.libvirt_interfaces import DomainInfo, parse_domain_xml, split_head_output
from engine.remote.inventory import Host
from engine.remote.libvirt_client import domain_xmls
from engine.results import CheckResult

MAX_XML_BYTES = 262144
_SAFE_GLOB = re.compile(r"^[A-Za-z0-9_./*?\[\]-]+$")  # globbing, but nothing else for the shell


class BpduSourceParams(CheckParams):
    macs: list[str] | str = []  # usually "{facts.<capture check>.source_macs}"
    seen_on: dict[str, list[str]] | str = {}  # "{facts.<capture check>.by_iface}"
    uri_var: str = "libvirt_uri"
    compute_var: str = "compute_name"
    uplink_var: str = "uplink"
    xml_glob: str = "/etc/libvirt/qemu/*.xml"


async def domains_from_libvirt(uri: str) -> list[DomainInfo]:
    xmls = [x for x, _state in await asyncio.to_thread(domain_xmls, uri)]
    return [parse_domain_xml(x, f"libvirt {uri} domain {i}") for i, x in enumerate(xmls)]


async def domains_from_files(ctx: CheckContext, host: Host, pattern: str) -> list[DomainInfo]:
    if not _SAFE_GLOB.match(pattern):
        raise CloudtalesError(f"bpdu_source: xml_glob {pattern!r}: only a plain path glob")
    # an unmatched glob stays literal: head fails on it, and there are no domains
    res = await ctx.runner.run(
        host, f"head -v -c {MAX_XML_BYTES} -- {pattern}", timeout=ctx.timeout
    )
    found = []
    for path, text in split_head_output(res.stdout):
        try:
            found.append(parse_domain_xml(text, f"{host.name}:{path}"))
        except CloudtalesError as exc:
            ctx.emit(LiveLine(f"{host.name}:libvirt", str(exc), "unreadable domain XML"))
    return found


async def read_fdb(ctx: CheckContext, host: Host) -> list[FdbEntry]:
    res = await read_ok(ctx, host, "bridge_fdb")
    return parse_bridge_fdb(res.stdout, f"{host.name}: {res.command}")


async def _one(ctx: CheckContext, host: Host, params: BpduSourceParams) -> CheckResult:
    macs = params.macs if isinstance(params.macs, list) else []
    seen_on = params.seen_on if isinstance(params.seen_on, dict) else {}
    uri = str(host.vars.get(params.uri_var) or "")
    compute = str(host.vars.get(params.compute_var) or host.name)
    uplink = str(host.vars.get(params.uplink_var) or "bond0")
    fdb, files = await gather_all(
        read_fdb(ctx, host), domains_from_files(ctx, host, params.xml_glob)
    )
    sources = [f"{params.xml_glob} ({len(files)})"]
    live: list[DomainInfo] = []
    if uri:
        try:
            live = await domains_from_libvirt(uri)
            sources.insert(0, f"libvirt {uri} ({len(live)})")
        except CloudtalesError as exc:  # e.g. a replayed session: the files still tell
            sources.insert(0, f"libvirt unreachable: {exc}")
    merged = {d.name: d for d in files}
    merged.update({d.name: d for d in live})  # the live definition wins
    domains = list(merged.values())
    for d in domains:
        for nic in d.nics:
            ctx.emit(
                LiveLine(
                    f"{host.name}:libvirt",
                    f"{d.label} {d.uuid}: {nic.mac} on {nic.target} ({nic.bridge})",
                    "sends BPDUs" if nic.mac in macs else None,
                )
            )
    return resolve_bpdu_sources(
        host.name, compute, macs, seen_on, fdb, domains, "; ".join(sources), [uplink]
    )


async def run(ctx: CheckContext, params: BpduSourceParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("bpdu_source: no compute hosts to look on")
    outcomes = await gather_all(_one(ctx, h, params) for h in ctx.hosts)
    merged = merge_outcomes(outcomes, SOURCE_OUTCOMES)
    return merged


register(
    CheckType(
        name="bpdu_source",
        title="Who sends the BPDUs: MAC -> tap -> libvirt domain -> instance",
        outcomes=SOURCE_OUTCOMES,
        params=BpduSourceParams,
        run=run,
        facts=(
            "instance",
            "instance_domain",
            "instance_uuid",
            "instance_owner",
            "tap",
            "mac",
            "compute",
            "chain",
            "domains_known",
            "domain_source",
        ),
    )
)
