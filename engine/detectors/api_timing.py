"""How long nova-api takes per action, from its access log. Pure functions.

In the tale one ``RunInstances`` took 138.6 s on Havana, against 3.9 s on the same
hardware under Grizzly: an action whose slowest request runs past ``slow_seconds``
makes the log ``slow``.
"""

from __future__ import annotations

from engine.parsers.nova_api_log import ApiLog, rank_actions
from engine.results import CheckResult, Evidence, FactValue

API_TIMING_OUTCOMES = ("slow", "normal", "no_requests")
TOP = 5


def classify_api_timing(
    host: str, source: str, log: ApiLog, slow_seconds: float, truncated: bool = False
) -> CheckResult:
    ranked = rank_actions(log.requests)
    window = f"{log.requests[0].timestamp} .. {log.requests[-1].timestamp}" if log.requests else ""
    tail = " (the last part of the file)" if truncated else ""
    if not ranked:
        return CheckResult(
            "no_requests",
            f"{host}: no API requests in {source}{tail} ({log.lines} lines read)",
            {"requests": 0, "slow_requests": 0, "log": source},
        )
    slow = sorted((r for r in log.requests if r.seconds >= slow_seconds), key=lambda r: -r.seconds)
    top = ranked[0]
    facts: dict[str, FactValue] = {
        "requests": len(log.requests),
        "slow_requests": len(slow),
        "slowest_action": top.action,
        "slowest_seconds": round(top.max_seconds, 1),
        "top_actions": [s.one_line() for s in ranked[:TOP]],
        "window": window,
        "log": source,
    }
    ranking = Evidence(
        f"{source}: slowest actions{tail}", "\n".join(s.one_line() for s in ranked[:TOP]), host
    )
    if slow:
        lines = [r.one_line() for r in slow[:TOP]]
        lines.append(f"request: {slow[0].method} {slow[0].target}")
        return CheckResult(
            "slow",
            f"{host}: {len(slow)} of {len(log.requests)} requests took {slow_seconds:g} s or "
            f"more; {top.action} up to {top.max_seconds:.1f} s",
            facts,
            (
                ranking,
                Evidence(f"{source}: requests over {slow_seconds:g} s", "\n".join(lines), host),
            ),
        )
    return CheckResult(
        "normal",
        f"{host}: {len(log.requests)} requests, the slowest {top.action} in "
        f"{top.max_seconds:.1f} s (under {slow_seconds:g} s)",
        facts,
        (ranking,),
    )
