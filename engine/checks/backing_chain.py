"""Check ``backing_chain``: follow each disk's backing chain on its compute, and stat it.

For every disk the libvirt check found (host, path, the backing files libvirt knows)::

    qemu-img info --backing-chain --output=json -U -- DISK

names every layer when all of them open. When one is missing that command fails, so the
chain is walked one image at a time (``qemu-img info`` without ``--backing-chain`` reads
only the image's own header) until a file does not exist. Finally one ``stat`` per disk
says which of the files (qemu's chain plus libvirt's ``<backingStore>``) exist.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.disks import BACKING_OUTCOMES, DiskChain, classify_backing_chains
from engine.errors import CloudtalesError
from engine.parsers.mounts import parse_file_stats
from engine.parsers.qemu_img import missing_file_in_error, parse_qemu_img_info, resolve_backing
from engine.remote.inventory import Host
from engine.results import CheckResult

MAX_DEPTH = 16


class DiskRef(BaseModel):
    """One disk as the libvirt check reports it (extra keys are ignored)."""

    model_config = ConfigDict(extra="ignore")
    host: str
    path: str
    domain: str = ""
    target: str = ""
    backing: list[str] = []
    image_id: str | None = None


class BackingChainParams(CheckParams):
    # the libvirt check's `disks` fact; a string only until the placeholder is rendered
    disks: list[DiskRef] | str = []


async def _walk(ctx: CheckContext, host: Host, path: str) -> tuple[list[str], str | None]:
    """Every layer qemu-img can name, top first, and its error when the chain is broken."""
    res = await ctx.sources.read(host, "qemu_img_info", timeout=ctx.timeout, path=path, chain=True)
    if res.ok:
        images = parse_qemu_img_info(res.stdout, f"{host.name}: {res.command}")
        layers = [path] + [resolve_backing(i.filename, i.backing) for i in images if i.backing]
        return layers, None
    error = " ".join(res.stderr.split())[:300] or f"exit status {res.exit_status}"
    layers = [path]
    current = path
    for _ in range(MAX_DEPTH):  # one image at a time, until a file cannot be opened
        one = await ctx.sources.read(host, "qemu_img_info", timeout=ctx.timeout, path=current)
        if not one.ok:
            break
        image = parse_qemu_img_info(one.stdout, f"{host.name}: {one.command}")[0]
        if not image.backing:
            break
        current = resolve_backing(current, image.backing)
        if current in layers:
            break  # a loop in the headers: stop rather than spin
        layers.append(current)
    gone = missing_file_in_error(res.stderr)
    if gone and gone not in layers:
        layers.append(gone)
    return layers, error


async def _stat(ctx: CheckContext, host: Host, paths: list[str]) -> frozenset[str]:
    res = await ctx.sources.read(host, "file_stats", timeout=ctx.timeout, paths=tuple(paths))
    if not res.ok and not res.stdout and "No such file" not in res.stderr:
        raise CloudtalesError(
            f"host {host.name}: `stat` failed: {res.why}", host=host.name, command=res.command
        )
    return frozenset(parse_file_stats(res.stdout, f"{host.name}: stat"))


async def _one(ctx: CheckContext, host: Host, disk: DiskRef) -> DiskChain:
    layers, error = await _walk(ctx, host, disk.path)
    for declared in disk.backing:  # what libvirt believes, if qemu-img could not get there
        if declared not in layers:
            layers.append(declared)
    existing = await _stat(ctx, host, layers)
    chain = DiskChain(
        host=host.name,
        domain=disk.domain,
        target=disk.target,
        path=disk.path,
        layers=tuple(layers),
        existing=existing,
        image_id=disk.image_id,
        qemu_error=error,
    )
    ctx.emit(
        LiveLine(
            f"{host.name}:qemu-img",
            f"{disk.domain} {disk.target}: {chain.render()}",
            "backing file missing" if chain.missing else None,
        )
    )
    return chain


async def run(ctx: CheckContext, params: BackingChainParams) -> CheckResult:
    if isinstance(params.disks, str):
        raise CloudtalesError(f"backing_chain: disks must be a list of disks, got {params.disks!r}")
    hosts = {h.name: h for h in ctx.hosts}
    unknown = sorted({d.host for d in params.disks} - set(hosts))
    if unknown:
        raise CloudtalesError(f"backing_chain: disks on hosts outside this check: {unknown}")
    if not params.disks:
        raise CloudtalesError("backing_chain: no disks to follow (the libvirt check found none)")
    chains = await gather_all(_one(ctx, hosts[d.host], d) for d in params.disks)
    outcome = classify_backing_chains(chains)
    return outcome


register(
    CheckType(
        name="backing_chain",
        title="Backing chain of each disk (qemu-img info, stat)",
        outcomes=BACKING_OUTCOMES,
        params=BackingChainParams,
        run=run,
        facts=("missing_files", "missing_names", "affected", "chains", "image_ids"),
    )
)
