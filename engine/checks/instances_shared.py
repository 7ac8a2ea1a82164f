"""Check ``instances_path_shared``: do several computes see the same instances path?

On each compute, read-only and bounded::

    stat -L -c '%d %i %m' -- PATH            # device, inode, and the mount holding it
    head -c 1048576 /proc/self/mountinfo     # that mount's fstype and source
    date +%s; head -c 65536 -- PATH/compute_nodes   # nova's storage registry, if any

The path is shared when its filesystem is a network one (nfs, nfs4, cifs, glusterfs,
ceph...), when several computes mount the same remote source (``server:/export``) and
see the same inode there, or when nova's own registry names several computes. The mount's
propagation flags (``shared:N`` in mountinfo) say nothing about this and are only shown.
"""

from __future__ import annotations

import shlex

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.imagecache import SHARED_OUTCOMES, PathView, classify_instances_path
from engine.errors import CloudtalesError
from engine.parsers.mounts import (
    PATH_IDENTITY_FORMAT,
    mount_at,
    parse_mountinfo,
    parse_path_identity,
    parse_storage_users,
)
from engine.remote.inventory import Host
from engine.results import CheckResult
from engine.sources.nova import REGISTRY


class InstancesSharedParams(CheckParams):
    path: str = "/var/lib/nova/instances"


async def _view(ctx: CheckContext, host: Host, path: str) -> PathView:
    q = shlex.quote(path)
    stat_cmd = f"stat -L -c '{PATH_IDENTITY_FORMAT}' -- {q}"
    st, mi, reg = await gather_all(
        ctx.runner.run(host, stat_cmd, timeout=ctx.timeout),
        ctx.sources.read(host, "mounts", timeout=ctx.timeout),
        ctx.sources.read(host, "image_cache_registry", timeout=ctx.timeout, root=path),
    )
    if not st.ok:
        raise CloudtalesError(f"host {host.name}: cannot stat {path}: {st.why}")
    if not mi.ok:
        raise CloudtalesError(f"host {host.name}: cannot read /proc/self/mountinfo: {mi.why}")
    identity = parse_path_identity(st.stdout, f"{host.name}: {stat_cmd}")
    mount = mount_at(
        parse_mountinfo(mi.stdout, f"{host.name}:/proc/self/mountinfo"), identity.mount_point
    )
    clock_line, _, registry_text = reg.stdout.partition("\n")
    try:
        clock = float(clock_line.strip())
    except ValueError:
        raise CloudtalesError(f"host {host.name}: `date +%s` printed {clock_line!r}") from None
    users = parse_storage_users(registry_text, f"{host.name}:{path}/{REGISTRY}")
    ctx.emit(
        LiveLine(
            f"{host.name}:mountinfo",
            mount.line if mount else f"{path}: no mount entry for {identity.mount_point}",
        )
    )
    return PathView(host.name, path, identity, mount, users, clock)


async def run(ctx: CheckContext, params: InstancesSharedParams) -> CheckResult:
    views = await gather_all(_view(ctx, h, params.path) for h in ctx.hosts)
    outcome = classify_instances_path(views)
    return outcome


register(
    CheckType(
        name="instances_path_shared",
        title="Is the instances path shared between computes?",
        outcomes=SHARED_OUTCOMES,
        params=InstancesSharedParams,
        run=run,
        facts=("fstype", "source", "shared_by", "mounts", "storage_users"),
    )
)
