"""Run the walker's current check: render parameters, resolve hosts, enforce the timeout.

Failures never escape as tracebacks: a failed or timed-out check is recorded in
the journal and the walk follows the check's fallback edge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.checks.base import CheckContext, LiveLine
from engine.checks.registry import get_check_type
from engine.errors import CloudtalesError
from engine.playbook.model import Check
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import Runner
from engine.results import CheckResult, ResultTable
from engine.sources.pending import PendingReads
from engine.templating import render
from engine.walker import Walker


@dataclass(frozen=True)
class StepReport:
    node: str
    title: str
    outcome: str | None
    summary: str
    seconds: float
    error: str | None = None
    tables: tuple[ResultTable, ...] = ()


def hosts_for(check: Check, inventory: Inventory) -> list[Host]:
    seen: dict[str, Host] = {}
    for selector in check.hosts:
        for host in inventory.resolve(selector):
            seen.setdefault(host.name, host)
    return list(seen.values())


async def run_check(
    check: Check,
    runner: Runner,
    inventory: Inventory,
    facts: Mapping[str, object],
    emit: Callable[[LiveLine], None] = lambda line: None,
) -> CheckResult:
    ctype = get_check_type(check.type)
    params = ctype.params.model_validate(render(check.params, inventory, facts))
    ctx = CheckContext(runner, inventory, hosts_for(check, inventory), facts, check.timeout, emit)  # type: ignore[arg-type]
    reads = PendingReads(ctx.sources)
    ctx.provider = reads
    task = asyncio.ensure_future(ctype.run(ctx, params))
    try:
        done, _ = await asyncio.wait({task}, timeout=check.timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    pending = reads.pending()  # before cancelling: cancelled reads leave the list
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the timeout is the error
        pass
    raise timed_out(check, pending)


def timed_out(check: Check, pending: list[tuple[str, str]]) -> CloudtalesError:
    """The check's timeout, naming the hosts whose reads were still open (all of the
    check's hosts when none was: a read outside the named sources, such as SQL)."""
    message = f"check {check.id} timed out after {check.timeout:g}s"
    if not pending:
        return CloudtalesError(message)
    hosts = list(dict.fromkeys(host for host, _ in pending))
    commands = list(dict.fromkeys(command for _, command in pending))
    waiting = "; ".join(f"{h}: {c}" for h, c in pending[:3])
    return CloudtalesError(
        f"{message}, waiting on {waiting}", host=",".join(hosts), command=commands[0]
    )


async def step(
    walker: Walker,
    runner: Runner,
    inventory: Inventory,
    emit: Callable[[LiveLine], None] = lambda line: None,
) -> StepReport:
    """Run the proposed check and record its result (or failure) in the walker."""
    proposal = walker.proposal()
    if proposal is None:
        raise CloudtalesError("nothing to run: the investigation reached a diagnosis")
    check = proposal.check
    started = time.monotonic()
    try:
        # a host the inventory lacks fails the check (its fallback edge), like any error
        hosts = [h.name for h in hosts_for(check, inventory)]
    except CloudtalesError as exc:
        walker.record("check_started", node=check.id, hosts=[])
        walker.record_failure(check.id, str(exc), exc.host, exc.command)
        return StepReport(check.id, check.title, None, str(exc), 0.0, str(exc))
    walker.record("check_started", node=check.id, hosts=hosts)
    try:
        result = await run_check(check, runner, inventory, walker.facts, emit)
    except CloudtalesError as exc:
        # an error names its host; otherwise it is the check's own (one host) or theirs
        host = exc.host or (",".join(hosts) if hosts else None)
        walker.record_failure(check.id, str(exc), host, exc.command)
        return StepReport(
            check.id, check.title, None, str(exc), time.monotonic() - started, str(exc)
        )
    walker.record_result(check.id, result)
    return StepReport(
        check.id,
        check.title,
        result.outcome,
        result.summary,
        time.monotonic() - started,
        tables=tuple(result.tables),
    )


async def autopilot(
    walker: Walker,
    runner: Runner,
    inventory: Inventory,
    on_step: Callable[[StepReport], None] = lambda r: None,
    emit: Callable[[LiveLine], None] = lambda line: None,
    max_steps: int = 50,
) -> None:
    """Walk every proposed step without asking, until a diagnosis."""
    for _ in range(max_steps):
        if walker.done:
            return
        on_step(await step(walker, runner, inventory, emit))
    raise CloudtalesError(f"no diagnosis after {max_steps} steps")
