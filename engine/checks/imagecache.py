"""Checks on nova's image cache manager: ``imagecache_log`` and ``imagecache_options``.

``imagecache_log`` greps every compute's nova-compute log for the line nova writes
when it deletes a base file (``Removing base file: /var/lib/nova/instances/_base/...``;
newer releases say ``Removing base or swap file:``). A fixed-string ``grep -F`` with
at most ``max_matches`` matches per file: the log is never read into memory here.

``imagecache_options`` reads each compute's nova.conf (bounded, see ``read_nova_conf``)
for ``remove_unused_base_images``, the cache ``subdirectory_name`` (expanded: ``$my_ip``),
``manager_interval`` and ``instances_path``, in the ``[image_cache]`` group of current
releases or under their older ``[DEFAULT]`` names.
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.nova_conf import read_nova_conf
from engine.checks.registry import register
from engine.detectors.imagecache import (
    CACHE_OPTION_OUTCOMES,
    REMOVAL_OUTCOMES,
    ImageCacheSettings,
    Removal,
    classify_cache_options,
    classify_removals,
    image_cache_settings,
    parse_removal_line,
    removal_patterns,
)
from engine.errors import CloudtalesError
from engine.remote.inventory import Host
from engine.results import CheckResult

DEFAULT_LOG = "/var/log/nova/nova-compute.log"
DEFAULT_CONF = "/etc/nova/nova.conf"

# ------------------------------------------------------------------ imagecache_log


class ImageCacheLogParams(CheckParams):
    # the missing base files (the backing-chain check's fact); empty: any removal
    files: list[str] | str = []
    log: str | None = None  # default: host var nova_compute_log, else DEFAULT_LOG
    max_matches: int = Field(default=20, ge=1, le=1000)


async def _grep(
    ctx: CheckContext, host: Host, params: ImageCacheLogParams, files: list[str]
) -> tuple[list[Removal], str | None]:
    """The removal lines in ``host``'s log, or why the log could not be searched."""
    log = params.log or str(host.vars.get("nova_compute_log") or DEFAULT_LOG)
    res = await ctx.sources.read(
        host,
        "nova_log_grep",
        timeout=ctx.timeout,
        path=log,
        patterns=tuple(removal_patterns(files)),
        max_matches=params.max_matches,
    )
    if res.exit_status not in (0, 1):  # 1: no line matched; 2: an error (no such file...)
        return [], f"{host.name}: cannot search {log}: {res.why}"
    found = [r for line in res.stdout.splitlines() if (r := parse_removal_line(host.name, line))]
    for r in found:
        ctx.emit(LiveLine(f"{host.name}:{log}", r.line, "nova removed a base file"))
    return found, None


async def run_log(ctx: CheckContext, params: ImageCacheLogParams) -> CheckResult:
    if isinstance(params.files, str):
        raise CloudtalesError(f"imagecache_log: files must be a list of paths: {params.files!r}")
    files = list(params.files)
    results = await gather_all(_grep(ctx, h, params, files) for h in ctx.hosts)
    problems = [p for _, p in results if p]
    if len(problems) == len(results):
        raise CloudtalesError("; ".join(problems))
    searched = [h.name for h, (_, p) in zip(ctx.hosts, results, strict=True) if not p]
    outcome = classify_removals([r for found, _ in results for r in found], files, searched)
    facts = dict(outcome.facts)
    facts["not_searched"] = problems
    summary = outcome.summary + (f" (not searched: {'; '.join(problems)})" if problems else "")
    return CheckResult(outcome.outcome, summary, facts, list(outcome.evidence))


register(
    CheckType(
        name="imagecache_log",
        title="nova-compute logs: did the image cache manager remove the file?",
        outcomes=REMOVAL_OUTCOMES,
        params=ImageCacheLogParams,
        run=run_log,
        facts=("removed_file", "removed_by", "removed_at", "removals", "searched", "not_searched"),
    )
)

# ------------------------------------------------------------------ imagecache_options


class ImageCacheOptionsParams(CheckParams):
    path: str | None = None  # default: host var nova_conf, else DEFAULT_CONF


async def _settings(ctx: CheckContext, host: Host, path: str | None) -> ImageCacheSettings:
    conf_path = path or str(host.vars.get("nova_conf") or DEFAULT_CONF)
    conf = await read_nova_conf(ctx, host.name, conf_path)
    settings = image_cache_settings(host.name, conf)
    ctx.emit(
        LiveLine(
            f"{host.name}:nova.conf",
            settings.describe(),
            "removes unused base files" if settings.removes and not settings.per_host else None,
        )
    )
    return settings


async def run_options(ctx: CheckContext, params: ImageCacheOptionsParams) -> CheckResult:
    settings = await gather_all(_settings(ctx, h, params.path) for h in ctx.hosts)
    outcome = classify_cache_options(settings)
    return outcome


register(
    CheckType(
        name="imagecache_options",
        title="nova.conf: image cache manager options",
        outcomes=CACHE_OPTION_OUTCOMES,
        params=ImageCacheOptionsParams,
        run=run_options,
        facts=("settings", "cache_dirs", "instances_path", "removing_hosts"),
    )
)
