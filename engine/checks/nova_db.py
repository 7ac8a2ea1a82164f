"""Check ``nova_db_rows``: soft-deleted rows in nova's database, by state and age.

Reads ``[database] connection`` from nova.conf on the host (over the live transport,
never recorded: it holds the password), reaches the database as that host sees it
through an SSH port forward, and counts rows with a handful of bounded, read-only
statements (``engine.remote.sql``): ``COUNT``/``SUM`` with ``GROUP BY`` and ``LIMIT``,
never ``SELECT *``. Also explains Havana's EC2 client-token lookup, which read every
``instance_system_metadata`` row.
"""

from __future__ import annotations

import shlex

from pydantic import Field

from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.db import (
    DB_OUTCOMES,
    METADATA,
    SYSTEM_METADATA,
    TABLES,
    NovaDbSnapshot,
    StateCount,
    TableCounts,
    describe_explain,
    detect_deleted_rows,
)
from engine.errors import CloudtalesError
from engine.parsers.db_url import DbUrl, parse_db_url
from engine.parsers.nova_conf import parse_nova_conf
from engine.remote.inventory import Host
from engine.remote.runner import Runner
from engine.remote.sql import Scalar, SqlSession, open_session
from engine.results import CheckResult

MAX_CONF_BYTES = 1 << 20
SHADOW_TABLES = tuple(f"shadow_{t}" for t in TABLES)


class NovaDbRowsParams(CheckParams):
    nova_conf: str = "/etc/nova/nova.conf"
    older_than_days: int = Field(default=365, ge=0, le=36500)
    min_deleted_rows: int = Field(default=100_000, ge=1)
    statement_timeout: float = Field(default=20.0, gt=0, le=600)
    connect_timeout: float = Field(default=10.0, gt=0, le=120)


def cutoff_sql(days: int) -> str:
    return f"DATE(NOW() - INTERVAL {int(days)} DAY)"


def queries(days: int) -> dict[str, str]:
    """Every statement the check runs (each bounded by aggregates or LIMIT)."""
    cut = cutoff_sql(days)
    names = ", ".join(f"'{t}'" for t in (*TABLES, *SHADOW_TABLES))
    q = {
        "who": f"SELECT DATABASE(), CURRENT_USER(), VERSION(), DATE_FORMAT({cut}, '%Y-%m-%d')",
        "sizes": "SELECT table_name, data_length + index_length FROM information_schema.tables "
        f"WHERE table_schema = DATABASE() AND table_name IN ({names}) "
        "ORDER BY table_name LIMIT 20",
        "instances": "SELECT deleted <> 0 AS soft_deleted, vm_state, COUNT(*), "
        f"SUM(deleted <> 0 AND deleted_at < {cut}), "
        "MIN(CASE WHEN deleted <> 0 THEN deleted_at END) FROM instances "
        "GROUP BY soft_deleted, vm_state ORDER BY soft_deleted, vm_state LIMIT 100",
        "explain": "EXPLAIN SELECT instance_uuid FROM instance_system_metadata "
        "WHERE deleted = 0 AND `key` = 'EC2_client_token' AND value = 'cloudtales-probe'",
    }
    for t in (SYSTEM_METADATA, METADATA):
        q[t] = (
            f"SELECT COUNT(*), SUM(deleted <> 0), SUM(deleted <> 0 AND deleted_at < {cut}) FROM {t}"
        )
    return q


def shadow_query(tables: list[str], days: int) -> str:
    cut = cutoff_sql(days)
    return " UNION ALL ".join(
        f"SELECT '{t}', COUNT(*), SUM(deleted_at < {cut}) FROM {t}" for t in tables
    )


def _int(value: Scalar) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CloudtalesError(f"unexpected count {value!r} from the database") from None


async def read_db_url(live: Runner, host: Host, path: str, timeout: float) -> DbUrl:
    """nova.conf's database URL, read through the live runner (never recorded; with
    ``sudo`` where the inventory says so: nova.conf is usually root:nova 0640)."""
    res = await live.run(host, f"head -c {MAX_CONF_BYTES} -- {shlex.quote(path)}", timeout)
    if not res.ok:
        said = (res.stderr.strip().splitlines() or [f"exit status {res.exit_status}"])[-1]
        raise CloudtalesError(f"host {host.name}: cannot read {path}: {said.rsplit(': ', 1)[-1]}")
    conf = parse_nova_conf(res.stdout, f"{host.name}:{path}")
    # Havana still read the deprecated [DEFAULT] sql_connection
    text = conf.get("database", "connection") or conf.get("DEFAULT", "sql_connection")
    return parse_db_url(text, conf.source)


async def snapshot(db: SqlSession, label: str, days: int) -> NovaDbSnapshot:
    q = queries(days)
    who = await db.query(q["who"])
    database, user, version, cutoff = (str(v) for v in who[0]) if who else ("?",) * 4
    sizes = {str(r[0]): _int(r[1]) for r in await db.query(q["sizes"])}
    if "instances" not in sizes:
        raise CloudtalesError(f"{label}: database {database!r} has no instances table")
    states: list[StateCount] = []
    inst_total = inst_deleted = inst_old = 0
    oldest: str | None = None
    for deleted, vm_state, count, old, first in await db.query(q["instances"]):
        n = _int(count)
        states.append(StateCount(bool(_int(deleted)), str(vm_state), n))
        inst_total += n
        if _int(deleted):
            inst_deleted += n
            inst_old += _int(old)
            if first is not None and (oldest is None or str(first) < oldest):
                oldest = str(first)
    tables = {"instances": TableCounts("instances", inst_total, inst_deleted, inst_old)}
    for t in (SYSTEM_METADATA, METADATA):
        if t in sizes:
            total, deleted, old = (await db.query(q[t]))[0]
            tables[t] = TableCounts(t, _int(total), _int(deleted), _int(old))
    tables = {
        k: TableCounts(v.table, v.total, v.deleted, v.before_cutoff, sizes.get(k))
        for k, v in tables.items()
    }
    present = [t for t in SHADOW_TABLES if t in sizes]
    shadow = {
        str(name): TableCounts(str(name), _int(total), _int(total), _int(old), sizes.get(str(name)))
        for name, total, old in (await db.query(shadow_query(present, days)) if present else [])
    }
    scan = describe_explain(await db.query(q["explain"])) if SYSTEM_METADATA in sizes else None
    return NovaDbSnapshot(
        database=f"{database} as {user} (MariaDB/MySQL {version})",
        older_than_days=days,
        cutoff=cutoff,
        tables=tables,
        shadow=shadow,
        states=tuple(states),
        oldest_deleted_at=oldest,
        client_token_scan=scan,
        missing_shadow=tuple(t for t in SHADOW_TABLES if t not in sizes),
    )


async def run(ctx: CheckContext, params: NovaDbRowsParams) -> CheckResult:
    if not ctx.hosts:
        raise CloudtalesError("nova_db_rows: no host given (the one whose nova.conf to read)")
    host = ctx.hosts[0]  # one database: the first host's nova.conf names it
    label = f"{host.name}:{params.nova_conf}"

    async def load_url(live: Runner) -> DbUrl:
        url = await read_db_url(live, host, params.nova_conf, ctx.timeout)
        ctx.emit(LiveLine(label, f"[database] connection = {url.redacted}"))
        return url

    async with open_session(
        ctx.runner,
        host,
        label,
        load_url,
        statement_timeout=params.statement_timeout,
        connect_timeout=params.connect_timeout,
    ) as db:
        snap = await snapshot(db, label, params.older_than_days)
    outcome = detect_deleted_rows(host.name, snap, params.min_deleted_rows)
    for t in snap.tables.values():
        ctx.emit(
            LiveLine(
                label,
                t.one_line(),
                "soft-deleted rows pile up" if outcome.outcome == "bloated" and t.deleted else None,
            )
        )
    return outcome


register(
    CheckType(
        name="nova_db_rows",
        title="nova DB: soft-deleted rows by state and age",
        outcomes=DB_OUTCOMES,
        params=NovaDbRowsParams,
        run=run,
        facts=(
            "database",
            "instances_total",
            "instances_deleted",
            "instances_errored",
            "instances_live",
            "system_metadata_total",
            "system_metadata_deleted",
            "metadata_deleted",
            "deleted_rows",
            "deleted_share",
            "shadow_rows",
            "oldest_deleted_at",
            "client_token_lookup",
            "tables",
            "archive_before",
            "archive_instances",
            "archive_system_metadata",
            "archive_metadata",
            "archive_rows",
            "purge_rows",
        ),
    )
)
