"""Check ``libvirt_disks``: each compute's libvirt domains, their disks and backing chains.

The libvirt URI comes from the inventory (host var ``libvirt_uri``): in production
``qemu+ssh://root@compute1/system`` (libvirt's own ssh transport, read-only), in a lab
``test:///ABSOLUTE/path/node.xml`` (libvirt's test driver, no libvirtd). A test-driver
URI may also name its node file relative to the inventory file (``test:node.xml``), so
a recorded inventory can carry its node files along. libvirt-python is blocking, so
every call runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.disks import LIBVIRT_OUTCOMES, STATE_NAMES, HostDomains, summarize_domains
from engine.errors import CloudtalesError
from engine.parsers.libvirt_xml import Domain, parse_domain_xml
from engine.remote.inventory import Host
from engine.remote.libvirt_client import domain_xmls
from engine.results import CheckResult

URI_VAR = "libvirt_uri"


class LibvirtDisksParams(CheckParams):
    domains: list[str] = []  # only these names or uuids (empty: every domain)


def uri_of(host: Host, inventory_source: str | None = None) -> str:
    uri = host.vars.get(URI_VAR)
    if not isinstance(uri, str) or not uri:
        raise CloudtalesError(
            f"host {host.name}: no {URI_VAR} var in the inventory "
            f"(e.g. qemu+ssh://root@{host.address}/system)"
        )
    if uri.startswith("test:") and not uri.startswith("test://"):
        base = Path(inventory_source).parent if inventory_source else Path.cwd()
        return f"test://{(base / uri[len('test:') :]).resolve()}"
    return uri


async def _one(ctx: CheckContext, host: Host, wanted: list[str]) -> HostDomains:
    uri = uri_of(host, ctx.inventory.source)
    try:
        raw = await asyncio.to_thread(domain_xmls, uri)
    except CloudtalesError as exc:
        raise CloudtalesError(f"host {host.name}: {exc}") from None
    domains: list[tuple[Domain, int]] = []
    for xml, state in raw:
        dom = parse_domain_xml(xml, f"{host.name}: {uri}")
        if wanted and dom.name not in wanted and dom.uuid not in wanted:
            continue
        domains.append((dom, state))
        for disk in dom.file_disks:
            chain = " <- ".join((disk.source or "?", *disk.backing_paths))
            ctx.emit(
                LiveLine(
                    f"{host.name}:libvirt",
                    f"{dom.name} ({STATE_NAMES.get(state, state)}) {disk.target}: {chain}",
                )
            )
    return HostDomains(host.name, uri, tuple(sorted(domains, key=lambda d: d[0].name)))


async def run(ctx: CheckContext, params: LibvirtDisksParams) -> CheckResult:
    views = await gather_all(_one(ctx, h, params.domains) for h in ctx.hosts)
    outcome = summarize_domains(views)
    return outcome


register(
    CheckType(
        name="libvirt_disks",
        title="libvirt domains and their disks",
        outcomes=LIBVIRT_OUTCOMES,
        params=LibvirtDisksParams,
        run=run,
        facts=("domains", "disks"),
    )
)
