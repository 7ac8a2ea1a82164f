"""Check ``instances_path_mounts``: is the instances path shared, from the mount tables only?

The mount table alone (``/proc/self/mountinfo`` as ssh sessions see it, or the copy a
sosreport holds) says which filesystem holds the path on each compute::

    head -c 1048576 /proc/self/mountinfo

The path is shared when that filesystem is a network one (nfs, cifs, glusterfs,
ceph...), or when several computes mount the same remote source (``server:/export``)
with the same root there. Unlike ``instances_path_shared`` it needs no ``stat`` of the
path and no clock, so it also answers from sosreports; it cannot see two computes that
share storage through a local-looking filesystem (``not_shared`` then says so).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.imagecache import NETWORK_FSTYPES, SHARED_OUTCOMES, remote_source
from engine.errors import CloudtalesError
from engine.parsers.mounts import MountEntry, containing_mount, parse_mountinfo
from engine.remote.inventory import Host
from engine.results import CheckResult, Evidence, FactValue


class InstancesMountsParams(CheckParams):
    path: str = "/var/lib/nova/instances"


@dataclass(frozen=True)
class MountView:
    host: str
    path: str
    mount: MountEntry | None


def classify_mounts(views: Sequence[MountView]) -> CheckResult:
    """``shared`` when a network filesystem or one remote source holds the path."""
    reasons: list[str] = []
    sharing: set[str] = set()
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for v in views:
        if v.mount is None:
            continue
        if v.mount.fstype in NETWORK_FSTYPES:
            reasons.append(f"{v.host}: {v.path} is on {v.mount.fstype} from {v.mount.source}")
            sharing.add(v.host)
        if remote_source(v.mount.source):
            groups[(v.mount.source, v.mount.root)].append(v.host)
    for (source, _), hosts in groups.items():
        if len(hosts) > 1:
            reasons.append(f"{', '.join(hosts)} mount the same {source} at {views[0].path}")
            sharing.update(hosts)
    mounts = [
        f"{v.host}: {v.mount.line}" if v.mount else f"{v.host}: {v.path}: no mount found"
        for v in views
    ]
    first = next((v.mount for v in views if v.mount is not None), None)
    facts: dict[str, FactValue] = {
        "fstype": first.fstype if first else None,
        "source": first.source if first else None,
        "shared_by": sorted(sharing),
        "mounts": mounts,
    }
    evidence = (Evidence("mountinfo", "\n".join(mounts)),)
    if reasons:
        return CheckResult(
            "shared", "instances path shared: " + "; ".join(reasons), facts, evidence
        )
    return CheckResult(
        "not_shared",
        "no network filesystem or common remote source holds it: " + "; ".join(mounts),
        facts,
        evidence,
    )


async def _view(ctx: CheckContext, host: Host, path: str) -> MountView:
    res = await ctx.sources.read(host, "mounts", timeout=ctx.timeout)
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: cannot read the mount table: {res.why}",
            host=host.name,
            command=res.command,
        )
    mount = containing_mount(parse_mountinfo(res.stdout, f"{host.name}:mountinfo"), path)
    ctx.emit(LiveLine(f"{host.name}:mountinfo", mount.line if mount else f"{path}: no mount entry"))
    return MountView(host.name, path, mount)


async def run(ctx: CheckContext, params: InstancesMountsParams) -> CheckResult:
    views = await gather_all(_view(ctx, h, params.path) for h in ctx.hosts)
    return classify_mounts(views)


register(
    CheckType(
        name="instances_path_mounts",
        title="Is the instances path shared? (mount tables only)",
        outcomes=SHARED_OUTCOMES,
        params=InstancesMountsParams,
        run=run,
        facts=("fstype", "source", "shared_by", "mounts"),
    )
)
