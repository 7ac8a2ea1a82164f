"""Detectors for "nova shows a compute service down": API state, process, log.

Pure functions from parsed data to a ``CheckResult``. The service state and the
heartbeat's age come from nova's API answer (``compute_services``), never from a lab.
"""

from __future__ import annotations

from engine.parsers.os_api import ApiAnswer, ComputeService, LogFinding, Process
from engine.results import CheckResult, Evidence, FactValue, ResultTable

SERVICE_OUTCOMES = ("service_down", "all_up", "no_compute_services")
PROCESS_OUTCOMES = ("running", "not_running")
LOG_OUTCOMES = ("amqp_auth", "amqp_unreachable", "db_error", "clean")


def _age(s: ComputeService) -> str:
    """The API's ``updated_at`` stays null until a service's first report after it
    registered: "none since it registered"."""
    if s.heartbeat_age is None:
        return "none since it registered"
    return f"{s.heartbeat_age:.0f} s ago"


def judge_services(answer: ApiAnswer, services: list[ComputeService]) -> CheckResult:
    table = ResultTable(
        f"nova-compute services (cloud {answer.cloud}, asked {answer.checked_at:%H:%M:%S} UTC)",
        ("host", "state", "status", "last heartbeat"),
        tuple((s.host, s.state, s.status, _age(s)) for s in services),
        tuple("lost" if s.state != "up" else "" for s in services),
    )
    if not services:
        return CheckResult(
            "no_compute_services",
            f"cloud {answer.cloud} lists no nova-compute service",
            {"cloud": answer.cloud},
            tables=(table,),
        )
    down = [s for s in services if s.state != "up"]
    facts: dict[str, FactValue] = {
        "cloud": answer.cloud,
        "hosts": [s.host for s in services],
        "down_hosts": [s.host for s in down],
    }
    if not down:
        return CheckResult(
            "all_up",
            f"all {len(services)} nova-compute services are up (cloud {answer.cloud})",
            facts,
            tables=(table,),
        )
    worst = max(down, key=lambda s: s.heartbeat_age or float("inf"))
    age = None if worst.heartbeat_age is None else round(worst.heartbeat_age)
    facts.update(
        down_host=worst.host,
        heartbeat=_age(worst),
        heartbeat_age=age,
        status=worst.status,
        forced_down=worst.forced_down,
    )
    summary = (
        f"nova-compute on {worst.host} is {worst.state} ({worst.status}); last heartbeat: "
        f"{_age(worst)}" + (" (forced down)" if worst.forced_down else "")
    )
    if len(down) > 1:
        summary += f"; also down: {', '.join(s.host for s in down if s is not worst)}"
    evidence = Evidence(
        f"compute services (cloud {answer.cloud})",
        "\n".join(f"{s.host}: {s.state} {s.status}, heartbeat {_age(s)}" for s in services),
    )
    return CheckResult("service_down", summary, facts, (evidence,), (table,))


def judge_process(host: str, processes: list[Process]) -> CheckResult:
    if not processes:
        return CheckResult(
            "not_running",
            f"no nova-compute process runs on {host}",
            {"host": host, "pids": []},
            (Evidence("ps (nova-compute)", "no nova-compute process", host),),
        )
    youngest = min(p.seconds for p in processes)
    return CheckResult(
        "running",
        f"nova-compute runs on {host} (pid {processes[0].pid}, up {youngest} s)",
        {"host": host, "pids": [p.pid for p in processes], "uptime_seconds": youngest},
        (Evidence("ps (nova-compute)", "\n".join(f"{p.pid} {p.args}" for p in processes), host),),
    )


WHAT = {
    "amqp_auth": "RabbitMQ refuses nova-compute's login (ACCESS_REFUSED)",
    "amqp_unreachable": "nova-compute cannot reach RabbitMQ (unreachable, timed out)",
    "db_error": "database errors",
    "clean": "no AMQP or database error",
}


def judge_log(host: str, path: str, finding: LogFinding) -> CheckResult:
    summary = f"{path} on {host}: {WHAT[finding.kind]}"
    if finding.count:
        summary += f" ({finding.count} lines; the last: {finding.line[:160]})"
    if finding.stopped:
        summary += "; the last lines show the service stopping"
    evidence = (Evidence(f"{path} (last {finding.kind} line)", finding.line, host),)
    return CheckResult(
        finding.kind,
        summary,
        {"host": host, "lines": finding.count, "stopped": finding.stopped},
        evidence if finding.line else (),
    )
