"""The rows of the Havana tale, and how the lab loads them into nova's real schema.

The tables come from ``nova-manage db sync`` (``labs/havana/nova_schema.py`` and its
dump); this module fills ``instances``, ``instance_system_metadata``,
``instance_metadata`` and, for the healthy lab, the ``shadow_*`` copies that
``archive_deleted_rows`` moves soft-deleted rows into.

Nova never deletes a row: deleting an instance sets ``deleted = id``, ``deleted_at``,
``terminated_at`` and ``vm_state = 'deleted'`` on it and ``deleted = id`` on each of its
metadata rows. The faulty seed is the tale's database: 300,000 deleted or errored
instances and 1,000,000 ``instance_system_metadata`` rows beside a few hundred live
instances, written as tab-separated files and loaded with ``LOAD DATA INFILE``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

# ---------------------------------------------------------------- the seeded columns


def _columns(spec: str) -> tuple[str, ...]:
    return tuple(spec.split())


# the instances columns a seed row sets or leaves NULL (nova's own names; the real table,
# from ``nova_schema.sql``, also has ephemeral_key_uuid and compute_id, left NULL)
INSTANCE_COLUMNS = _columns(
    """
    created_at updated_at deleted_at id internal_id user_id project_id
    image_ref kernel_id ramdisk_id launch_index key_name key_data power_state
    vm_state memory_mb vcpus hostname host user_data reservation_id
    launched_at terminated_at display_name display_description
    availability_zone locked os_type launched_on instance_type_id vm_mode uuid
    architecture root_device_name access_ip_v4 access_ip_v6 config_drive
    task_state default_ephemeral_device default_swap_device progress
    auto_disk_config shutdown_terminate disable_terminate root_gb ephemeral_gb
    cell_name node deleted locked_by cleaned hidden
    """
)
# the order of the fields in a metadata TSV line (``metadata_row``); both metadata tables
# have these columns
METADATA_FIELDS = list(
    _columns("created_at updated_at deleted_at id instance_uuid key value deleted")
)


# ---------------------------------------------------------------- seed plans


@dataclass(frozen=True)
class SeedPlan:
    """How many rows of each kind the lab writes."""

    deleted_instances: int  # soft-deleted: deleted = id, vm_state 'deleted'
    errored_instances: int  # vm_state 'error', never deleted
    live_instances: int  # active
    system_metadata: int  # instance_system_metadata rows, spread over every instance
    user_metadata: int  # instance_metadata rows
    shadow_instances: int  # already archived (shadow_* tables)
    history_days: int  # instances were created over this many days

    @property
    def instances(self) -> int:
        return self.deleted_instances + self.errored_instances + self.live_instances


FAULTY = SeedPlan(
    deleted_instances=285_000,
    errored_instances=15_000,
    live_instances=300,
    system_metadata=1_000_000,
    user_metadata=60_000,
    shadow_instances=0,  # nobody ever archived
    history_days=1000,
)
HEALTHY = SeedPlan(
    deleted_instances=40,
    errored_instances=2,
    live_instances=300,
    system_metadata=1_100,
    user_metadata=120,
    shadow_instances=400,  # archived and purged regularly
    history_days=60,
)

SYSMETA_KEYS = ("instance_type_memory_mb", "instance_type_vcpus", "image_base_image_ref")
CLIENT_TOKEN_KEY = "EC2_client_token"
PROJECTS = tuple(f"{i:032x}" for i in (0x7052BD6714E7460CAEB16242E68124F9, 0xA1, 0xB2, 0xC3))
USERS = ("0c6e7dba03c24c6a9bce299747499e8a", "4f1c2d9e8b7a4c3d9e8f7a6b5c4d3e2f")
IMAGES = ("ami-00000001", "ami-00000002", "ami-00000007")
FLAVORS = ((2048, 1, 20), (4096, 2, 40), (8192, 4, 80))
NULL = "\\N"


@dataclass(frozen=True)
class Instance:
    id: int
    uuid: str
    created_at: str  # 'YYYY-MM-DD HH:MM:SS'
    deleted_at: str | None
    vm_state: str
    project_id: str
    host: str
    flavor: tuple[int, int, int]
    image: str


def _ts(value: dt.datetime) -> str:
    return value.isoformat(" ")  # microsecond is 0: 'YYYY-MM-DD HH:MM:SS'


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _instance(
    rng: random.Random, iid: int, kind: str, created: dt.datetime, now: dt.datetime
) -> Instance:
    deleted_at = None
    if kind == "deleted":
        deleted_at = _ts(min(created + dt.timedelta(seconds=rng.randrange(600, 20 * 86400)), now))
    return Instance(
        id=iid,
        uuid=_uuid4(rng),
        created_at=_ts(created),
        deleted_at=deleted_at,
        vm_state={"live": "active", "errored": "error", "deleted": "deleted"}[kind],
        project_id=PROJECTS[rng.randrange(len(PROJECTS))],
        host=f"compute{rng.randrange(1, 41):02d}",
        flavor=FLAVORS[rng.randrange(len(FLAVORS))],
        image=IMAGES[rng.randrange(len(IMAGES))],
    )


_ROW_FIELDS = {
    *("created_at", "updated_at", "deleted_at", "id", "user_id", "project_id", "image_ref"),
    *("launch_index", "power_state", "vm_state", "memory_mb", "vcpus", "hostname", "host"),
    *("reservation_id", "launched_at", "terminated_at", "display_name", "availability_zone"),
    *("locked", "instance_type_id", "uuid", "root_gb", "ephemeral_gb", "node", "deleted"),
    *("cleaned", "hidden"),
}
_ROW_TEMPLATE = "\t".join(f"{{{c}}}" if c in _ROW_FIELDS else NULL for c in INSTANCE_COLUMNS) + "\n"


def instance_row(inst: Instance) -> str:
    memory, vcpus, root = inst.flavor
    deleted = inst.deleted_at is not None
    gone = inst.deleted_at or NULL
    return _ROW_TEMPLATE.format(
        created_at=inst.created_at,
        updated_at=inst.deleted_at or inst.created_at,
        deleted_at=gone,
        id=inst.id,
        user_id=USERS[inst.id % len(USERS)],
        project_id=inst.project_id,
        image_ref=inst.image,
        launch_index=0,
        power_state=1 if inst.vm_state == "active" else 0,
        vm_state=inst.vm_state,
        memory_mb=memory,
        vcpus=vcpus,
        hostname=f"server-{inst.id}",
        host=inst.host,
        reservation_id=f"r-{inst.id:08x}",
        launched_at=inst.created_at,
        terminated_at=gone,
        display_name=f"server-{inst.id}",
        availability_zone="nova",
        locked=0,
        instance_type_id=FLAVORS.index(inst.flavor) + 1,
        uuid=inst.uuid,
        root_gb=root,
        ephemeral_gb=0,
        node=f"{inst.host}.example.org",
        deleted=inst.id if deleted else 0,
        cleaned=1 if deleted else 0,
        hidden=0,
    )


def metadata_row(row_id: int, inst: Instance, key: str, value: str) -> str:
    """A metadata row of ``inst`` (fields in ``METADATA_FIELDS`` order), soft-deleted with
    it (``deleted = id``)."""
    gone, deleted = inst.deleted_at, (str(row_id) if inst.deleted_at else "0")
    ts = f"{inst.created_at}\t{gone or inst.created_at}\t{gone or NULL}"
    return f"{ts}\t{row_id}\t{inst.uuid}\t{key}\t{value}\t{deleted}\n"


@dataclass(frozen=True)
class SeedFile:
    """One table's rows as a tab-separated file."""

    table: str
    path: Path
    rows: int


def seed_files(
    plan: SeedPlan, out_dir: Path, now: dt.datetime | None = None, seed: int = 2014
) -> Iterator[SeedFile]:
    """Write the rows of ``plan`` as TSV files (NULL as ``\\N``) under ``out_dir``, parents
    first."""
    now = (now or dt.datetime.now()).replace(microsecond=0)
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    span = plan.history_days * 86400
    # the shadow tables hold what an earlier archive run moved: older than the rest
    shadow = [
        _instance(rng, i + 1, "deleted", now - dt.timedelta(seconds=span * 2 - i * 60), now)
        for i in range(plan.shadow_instances)
    ]
    # deleted and errored instances interleave over the history; ids grow with time
    kinds = ["deleted"] * plan.deleted_instances + ["errored"] * plan.errored_instances
    rng.shuffle(kinds)
    first = plan.shadow_instances + 1
    instances = [
        _instance(
            rng,
            first + i,
            kind,
            now - dt.timedelta(seconds=int(span * (1 - i / len(kinds))) + rng.randrange(3600)),
            now,
        )
        for i, kind in enumerate(kinds)
    ]
    first += len(kinds)
    instances += [
        _instance(
            rng, first + i, "live", now - dt.timedelta(seconds=rng.randrange(3600, 30 * 86400)), now
        )
        for i in range(plan.live_instances)
    ]

    def write(table: str, rows: Iterator[str]) -> SeedFile:
        path = out_dir / f"{table}.tsv"
        n = 0
        with path.open("w") as f:
            for line in rows:
                f.write(line)
                n += 1
        return SeedFile(table, path, n)

    yield write("instances", (instance_row(i) for i in instances))
    yield write("instance_system_metadata", _system_metadata(instances, plan.system_metadata, rng))
    yield write("instance_metadata", _user_metadata(instances, plan.user_metadata, rng))
    if shadow:
        yield write("shadow_instances", (instance_row(i) for i in shadow))
        yield write(
            "shadow_instance_system_metadata",
            _system_metadata(shadow, len(shadow) * len(SYSMETA_KEYS), rng),
        )


def _system_metadata(
    instances: Sequence[Instance], total: int, rng: random.Random
) -> Iterator[str]:
    """Flavor and image keys for every instance, then an EC2 client token for some,
    until ``total`` rows."""
    row_id = 0
    for key in SYSMETA_KEYS:
        for inst in instances:
            if row_id >= total:
                return
            row_id += 1
            memory, vcpus, _ = inst.flavor
            value = {"instance_type_memory_mb": str(memory), "instance_type_vcpus": str(vcpus)}
            yield metadata_row(row_id, inst, key, value.get(key, inst.image))
    while row_id < total:
        for inst in instances:
            if row_id >= total:
                return
            row_id += 1
            yield metadata_row(row_id, inst, CLIENT_TOKEN_KEY, f"{rng.getrandbits(64):016x}")


def _user_metadata(instances: Sequence[Instance], total: int, rng: random.Random) -> Iterator[str]:
    for row_id in range(1, total + 1):
        inst = instances[rng.randrange(len(instances))]
        yield metadata_row(row_id, inst, "role", rng.choice(("web", "db", "batch", "ci")))


def load_statement(f: SeedFile) -> str:
    """``LOAD DATA INFILE`` for one file (one parameter: its path, read by the server)."""
    table = f.table.removeprefix("shadow_")
    fields = list(INSTANCE_COLUMNS) if table == "instances" else METADATA_FIELDS
    cols = ", ".join(f"`{c}`" for c in fields)
    return (
        f"LOAD DATA INFILE %s INTO TABLE `{f.table}` CHARACTER SET utf8mb3 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({cols})"
    )


# With both checks off, MariaDB (10.7+) loads an empty InnoDB table in bulk inside a
# transaction: no undo log per row, indexes built by sorting. Measured on 2 cores:
# 300k instances + 1M metadata rows load in 9-11 s, against 27 s row by row with
# autocommit. The server reads the files itself (it shares the lab's filesystem):
# LOAD DATA LOCAL, which streams them through the client, took 3-4 s longer. Writing
# the files while loading did not help on 2 busy cores.
BULK_SESSION = ("SET SESSION foreign_key_checks = 0", "SET SESSION unique_checks = 0")


def load_seed(
    conn: pymysql.connections.Connection[Any],
    plan: SeedPlan,
    work_dir: Path,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, int]:
    """Fill the (empty) tables of ``conn``'s database with ``plan``'s rows, one
    transaction per table; returns the rows loaded per table. The files are removed."""
    progress(f"generating {plan.instances:,} instances, {plan.system_metadata:,} metadata rows")
    files = list(seed_files(plan, work_dir))
    loaded: dict[str, int] = {}
    with conn.cursor() as cur:
        for stmt in BULK_SESSION:
            cur.execute(stmt)
        for f in files:
            progress(f"loading {f.rows:,} rows into {f.table}")
            conn.begin()
            cur.execute(load_statement(f), (str(f.path),))
            conn.commit()
            loaded[f.table] = f.rows
            f.path.unlink()
    return loaded
