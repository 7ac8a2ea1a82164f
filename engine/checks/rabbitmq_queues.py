"""Check ``rabbitmq_queues``: queue depth and bytes from ``rabbitmqctl list_queues``.

Read-only and bounded: the listing is cut to its last ``max_bytes``. A host
without rabbitmqctl gives ``no_rabbitmq``; a node that does not answer gives
``rabbit_down`` (the tale's master went down twice).
"""

from __future__ import annotations

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.gather import gather_all
from engine.checks.registry import register
from engine.detectors.base import worst_of
from engine.detectors.console import QUEUE_OUTCOMES, judge_queues, rabbit_unavailable
from engine.errors import CloudtalesError
from engine.parsers.find_sizes import human_bytes
from engine.parsers.rabbitmqctl import (
    first_error_line,
    node_down,
    parse_list_queues,
    split_command_output,
)
from engine.remote.inventory import Host
from engine.results import CheckResult


class RabbitQueuesParams(CheckParams):
    rabbitmqctl: str = "rabbitmqctl"
    vhost: str = "/"
    big_message_bytes: int = Field(default=1024 * 1024, gt=0)
    backlog_messages: int = Field(default=1000, gt=0)
    max_bytes: int = Field(default=2 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)


async def _one(ctx: CheckContext, host: Host, params: RabbitQueuesParams) -> CheckResult:
    res = await ctx.sources.read(
        host,
        "rabbitmq_queues",
        timeout=ctx.timeout,
        rabbitmqctl=params.rabbitmqctl,
        vhost=params.vhost,
        max_bytes=params.max_bytes,
    )
    if not res.ok:
        raise CloudtalesError(
            f"host {host.name}: `rabbitmqctl list_queues` could not run: {res.why}"
        )
    out = split_command_output(res.stdout, params.max_bytes)
    if not out.installed:
        return rabbit_unavailable("no_rabbitmq", host.name, "")
    if out.exit_status != 0:
        said = first_error_line(out.text)
        if out.exit_status == 127:
            return rabbit_unavailable("no_rabbitmq", host.name, said)
        if node_down(out.text):
            return rabbit_unavailable("rabbit_down", host.name, said)
        raise CloudtalesError(
            f"host {host.name}: rabbitmqctl list_queues exited {out.exit_status}: {said}"
        )
    queues = parse_list_queues(out.text, f"{host.name}: rabbitmqctl list_queues")
    for q in sorted(queues, key=lambda q: q.message_bytes or 0, reverse=True)[:50]:
        per = q.bytes_per_message
        ctx.emit(
            LiveLine(
                f"{host.name}:rabbitmqctl",
                f"{q.name:<40} {q.messages:>8} msgs {human_bytes(q.message_bytes or 0):>10}",
                f"{human_bytes(per)} per message"
                if per and per >= params.big_message_bytes
                else None,
            )
        )
    return judge_queues(host.name, queues, params.big_message_bytes, params.backlog_messages)


async def run(ctx: CheckContext, params: RabbitQueuesParams) -> CheckResult:
    outcomes = await gather_all(_one(ctx, h, params) for h in ctx.hosts)
    return worst_of(outcomes, QUEUE_OUTCOMES)


register(
    CheckType(
        name="rabbitmq_queues",
        title="RabbitMQ queue depth and bytes (rabbitmqctl list_queues)",
        outcomes=QUEUE_OUTCOMES,
        params=RabbitQueuesParams,
        run=run,
        facts=(
            "queues",
            "total_messages",
            "total_bytes",
            "biggest_queue",
            "biggest_queue_messages",
            "biggest_queue_bytes",
            "large_queues",
            "rabbitmq_error",
        ),
    )
)
