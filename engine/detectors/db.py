"""Is nova's database carrying its dead? Pure functions over row counts.

Nova soft-deletes: a deleted instance keeps its row (``deleted = id``) and so do its
metadata rows, until an operator runs ``nova-manage db archive_deleted_rows`` (which
moves them to the ``shadow_*`` tables) and ``nova-manage db purge`` (which deletes
archived rows). Havana's EC2 ``RunInstances`` looked up its client token in every
``instance_system_metadata`` row, so 1,000,000 such rows made one request take
minutes. ``bloated`` when the soft-deleted rows reach ``min_deleted_rows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.results import CheckResult, Evidence, FactValue

DB_OUTCOMES = ("bloated", "clean")
INSTANCES = "instances"
SYSTEM_METADATA = "instance_system_metadata"
METADATA = "instance_metadata"
TABLES = (INSTANCES, SYSTEM_METADATA, METADATA)


@dataclass(frozen=True)
class TableCounts:
    """Rows of one table: all, soft-deleted, and soft-deleted before the cutoff."""

    table: str
    total: int
    deleted: int = 0
    before_cutoff: int = 0
    size_bytes: int | None = None

    def one_line(self) -> str:
        size = f", {self.size_bytes / 2**20:,.0f} MiB" if self.size_bytes is not None else ""
        return (
            f"{self.table}: {self.total:,} rows, {self.deleted:,} soft-deleted "
            f"({self.before_cutoff:,} before the cutoff){size}"
        )


@dataclass(frozen=True)
class StateCount:
    deleted: bool
    vm_state: str
    count: int


@dataclass(frozen=True)
class NovaDbSnapshot:
    database: str  # the redacted URL, or where it came from
    older_than_days: int
    cutoff: str  # YYYY-MM-DD: rows deleted before it may be archived
    tables: Mapping[str, TableCounts]
    shadow: Mapping[str, TableCounts]  # shadow_instances...: before_cutoff = purgeable
    states: tuple[StateCount, ...] = ()
    oldest_deleted_at: str | None = None
    client_token_scan: str | None = None  # EXPLAIN of Havana's client-token lookup
    missing_shadow: tuple[str, ...] = field(default=())

    def table(self, name: str) -> TableCounts:
        return self.tables.get(name) or TableCounts(name, 0)


def archive_plan(snap: NovaDbSnapshot) -> dict[str, FactValue]:
    """The rows ``archive_deleted_rows --before CUTOFF`` would move, and what
    ``purge --before CUTOFF`` would then delete from the shadow tables."""
    moves = {name: snap.table(name).before_cutoff for name in TABLES}
    archive_rows = sum(moves.values())
    shadow_old = sum(t.before_cutoff for t in snap.shadow.values())
    return {
        "archive_before": snap.cutoff,
        "archive_instances": moves[INSTANCES],
        "archive_system_metadata": moves[SYSTEM_METADATA],
        "archive_metadata": moves[METADATA],
        "archive_rows": archive_rows,
        "purge_rows": archive_rows + shadow_old,
    }


def detect_deleted_rows(host: str, snap: NovaDbSnapshot, min_deleted_rows: int) -> CheckResult:
    inst = snap.table(INSTANCES)
    sysmeta = snap.table(SYSTEM_METADATA)
    meta = snap.table(METADATA)
    deleted_rows = inst.deleted + sysmeta.deleted + meta.deleted
    total_rows = inst.total + sysmeta.total + meta.total
    errored = sum(s.count for s in snap.states if not s.deleted and s.vm_state == "error")
    live = sum(s.count for s in snap.states if not s.deleted and s.vm_state != "error")
    shadow_rows = sum(t.total for t in snap.shadow.values())
    tables = (inst, sysmeta, meta)
    facts: dict[str, FactValue] = {
        "database": snap.database,
        "instances_total": inst.total,
        "instances_deleted": inst.deleted,
        "instances_errored": errored,
        "instances_live": live,
        "system_metadata_total": sysmeta.total,
        "system_metadata_deleted": sysmeta.deleted,
        "metadata_deleted": meta.deleted,
        "deleted_rows": deleted_rows,
        "deleted_share": round(deleted_rows / total_rows, 3) if total_rows else 0.0,
        "shadow_rows": shadow_rows,
        "oldest_deleted_at": snap.oldest_deleted_at,
        "client_token_lookup": snap.client_token_scan,
        "tables": [t.one_line() for t in tables],
        **archive_plan(snap),
    }
    states = "\n".join(
        f"{'soft-deleted' if s.deleted else 'not deleted'}, vm_state {s.vm_state}: {s.count:,}"
        for s in snap.states
    )
    shadow = (
        "\n".join(t.one_line() for t in snap.shadow.values())
        if shadow_rows
        else "shadow tables empty: nothing was ever archived"
    )
    if snap.missing_shadow:
        shadow += f"\nno shadow table for: {', '.join(snap.missing_shadow)}"
    evidence = [
        Evidence(f"{snap.database}: rows by state", "\n".join(t.one_line() for t in tables), host),
        Evidence("instances by vm_state", states or "(no instances)", host),
        Evidence("shadow tables", shadow, host),
    ]
    if snap.client_token_scan:
        evidence.append(Evidence("EC2 client-token lookup (EXPLAIN)", snap.client_token_scan, host))
    never = " (shadow tables empty: never archived)" if not shadow_rows else ""
    if deleted_rows >= min_deleted_rows:
        return CheckResult(
            "bloated",
            f"{host}: {deleted_rows:,} soft-deleted rows ({inst.deleted:,} instances, "
            f"{sysmeta.deleted:,} system metadata){never}; {facts['archive_rows']:,} "
            f"deleted before {snap.cutoff}",
            facts,
            tuple(evidence),
        )
    return CheckResult(
        "clean",
        f"{host}: {deleted_rows:,} soft-deleted rows of {total_rows:,} "
        f"(under {min_deleted_rows:,})",
        facts,
        tuple(evidence),
    )


def describe_explain(rows: Sequence[Sequence[object]]) -> str | None:
    """One sentence from MariaDB's EXPLAIN of the client-token lookup (columns: id,
    select_type, table, type, possible_keys, key, key_len, ref, rows, Extra)."""
    if not rows or len(rows[0]) < 9:
        return None
    access, key, est = rows[0][3], rows[0][5], rows[0][8]
    n = int(est) if isinstance(est, int | float | str) and str(est).isdigit() else 0
    how = "a full table scan, no usable index" if access == "ALL" else f"index {key}"
    return f"each lookup reads about {n:,} rows of instance_system_metadata ({how})"
