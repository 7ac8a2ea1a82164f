"""The Havana lab, for real: a MariaDB full of dead instances behind sshd in a namespace.

Runs in file order against one module-scoped lab: the faulty lab first (seeding,
the checks through the SSH tunnel, read-only sessions, one-line errors, redaction),
then idempotency, the healthy rebuild and teardown.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from engine.checks.base import CheckContext, LiveLine
from engine.checks.registry import get_check_type
from engine.errors import CloudtalesError
from engine.journal import read_events
from engine.parsers.db_url import DbUrl, parse_db_url
from engine.playbook.graph import load_valid_graph
from engine.remedy import plan_remedy
from engine.remote.factory import make_runner
from engine.remote.inventory import Inventory, load_inventory
from engine.remote.runner import Runner
from engine.remote.sql import SqlSession, open_session
from engine.report import render_report
from engine.results import CheckResult
from engine.session import Session
from labs.control_plane import venv as cp_venv
from labs.core import netns
from labs.havana import nova_schema
from labs.havana.lab import (
    CONTROLLER,
    CONTROLLER_NS,
    MGMT_BRIDGE,
    NS_PREFIX,
    ROOT_PREFIX,
    HavanaLab,
)
from labs.havana.nova_db_schema import SeedPlan, load_seed
from tests.labs.conftest import fresh_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> Iterator[HavanaLab]:
    yield from fresh_lab("havana", HavanaLab)


def password(lab: HavanaLab) -> str:
    conf = (lab.etc_upper / "nova" / "nova.conf").read_text()
    match = re.search(r"^connection = (\S+)$", conf, re.M)
    assert match is not None
    return parse_db_url(match.group(1), "test").password


def in_controller(lab: HavanaLab, script: str, stdin: str = "") -> str:
    """Run ``script`` in the controller's view (sshd's mount namespace)."""
    pid = netns.sshd_pid(lab.run_dir, CONTROLLER)
    assert pid is not None
    argv = ["nsenter", "-t", str(pid), "-m", "-n", "--", "sh", "-c", script]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout


def root_query(lab: HavanaLab, sql: str) -> list[tuple[object, ...]]:
    with lab.db.root_connection("nova") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


async def run_check(
    lab: HavanaLab, type_name: str, params: dict[str, object], lines: list[LiveLine] | None = None
) -> CheckResult:
    inventory = load_inventory(lab.inventory_path())
    runner = make_runner(inventory)
    ctype = get_check_type(type_name)
    ctx = CheckContext(
        runner,
        inventory,
        [inventory.host(CONTROLLER)],
        {},
        60.0,
        (lines.append if lines is not None else lambda line: None),
    )
    try:
        return await ctype.run(ctx, ctype.params.model_validate(params))
    finally:
        await runner.close()


@asynccontextmanager
async def session(lab: HavanaLab, timeout: float = 20.0) -> AsyncIterator[SqlSession]:
    inventory: Inventory = load_inventory(lab.inventory_path())
    runner: Runner = make_runner(inventory)
    host = inventory.host(CONTROLLER)

    async def load_url(live: Runner) -> DbUrl:
        res = await live.run(host, "cat /etc/nova/nova.conf")
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("connection"))
        return parse_db_url(line.split("=", 1)[1], "controller:/etc/nova/nova.conf")

    try:
        async with open_session(
            runner, host, "controller:test", load_url, statement_timeout=timeout
        ) as db:
            yield db
    finally:
        await runner.close()


# ---------------------------------------------------------------- the faulty lab


def test_up_gives_a_controller_with_sshd_mariadb_and_its_own_etc_nova(lab: HavanaLab) -> None:
    status = lab.status()
    assert status.running, status.details
    assert (status.mode, status.healthy) == ("netns+mariadb", False)
    inv = load_inventory(lab.inventory_path())
    assert list(inv.hosts) == [CONTROLLER]
    assert inv.hosts[CONTROLLER].vars["nova_conf"] == "/etc/nova/nova.conf"
    assert inv.hosts[CONTROLLER].vars["nova_api_log"] == "/var/log/nova/nova-api.log"
    seen = in_controller(lab, "cat /etc/nova/nova.conf; head -n 3 /var/log/nova/nova-api.log")
    assert f"connection = mysql+pymysql://nova:{password(lab)}@127.0.0.1/nova" in seen
    assert "nova.ec2.wsgi.server" in seen
    # the machine's own /etc and /var/log are untouched
    root_conf = Path("/etc/nova/nova.conf")
    assert not root_conf.exists() or password(lab) not in root_conf.read_text()
    assert not Path("/var/log/nova/nova-api.log").exists() or (
        "129745" not in Path("/var/log/nova/nova-api.log").read_text()[:4096]
    )
    listening = in_controller(lab, "ss -ltnH")
    assert "127.0.0.1:3306" in listening
    assert "10.250.6.1:22" in listening


def test_the_database_holds_the_tales_dead_with_novas_indexes(lab: HavanaLab) -> None:
    rows = dict(
        root_query(lab, "SELECT vm_state, COUNT(*) FROM instances GROUP BY vm_state")  # type: ignore[arg-type]
    )
    assert rows == {"active": 300, "deleted": 285_000, "error": 15_000}
    deleted = root_query(lab, "SELECT COUNT(*) FROM instances WHERE deleted = id")[0][0]
    assert deleted == 285_000
    assert root_query(lab, "SELECT COUNT(*) FROM instance_system_metadata")[0][0] == 1_000_000
    keys = {
        (table, name)
        for table, name in root_query(
            lab,
            "SELECT DISTINCT table_name, index_name FROM information_schema.statistics "
            "WHERE table_schema = 'nova'",
        )
    }
    for expected in [
        ("instances", "uniq_instances0uuid"),  # nova 34's names, not Havana's
        ("instances", "instances_deleted_created_at_idx"),
        ("instances", "instances_project_id_deleted_idx"),
        ("instances", "instances_uuid_deleted_idx"),
        ("instances", "instances_host_deleted_cleaned_idx"),
        ("instance_system_metadata", "instance_uuid"),
        ("instance_metadata", "instance_metadata_instance_uuid_idx"),
        ("shadow_instances", "PRIMARY"),
    ]:
        assert expected in keys
    shadow = root_query(
        lab,
        "SELECT (SELECT COUNT(*) FROM shadow_instances) + "
        "(SELECT COUNT(*) FROM shadow_instance_system_metadata) + "
        "(SELECT COUNT(*) FROM shadow_instance_metadata)",
    )
    assert shadow[0][0] == 0
    fks = root_query(
        lab,
        "SELECT constraint_name FROM information_schema.referential_constraints "
        "WHERE constraint_schema = 'nova' AND table_name LIKE 'instance%metadata' ORDER BY 1",
    )
    assert [r[0] for r in fks] == [
        "instance_metadata_instance_uuid_fkey",
        "instance_system_metadata_ibfk_1",
    ]
    assert "seeding 1,360,300 rows took" in " ".join(lab.status().details)


async def test_the_db_check_reaches_mariadb_through_the_tunnel_and_finds_the_bloat(
    lab: HavanaLab,
) -> None:
    lines: list[LiveLine] = []
    result = await run_check(lab, "nova_db_rows", {"nova_conf": "/etc/nova/nova.conf"}, lines)
    assert result.outcome == "bloated"
    f = result.facts
    assert (f["instances_deleted"], f["instances_errored"], f["instances_live"]) == (
        285_000,
        15_000,
        300,
    )
    assert f["system_metadata_total"] == 1_000_000
    assert f["shadow_rows"] == 0
    archived = root_query(
        lab,
        "SELECT COUNT(*) FROM instances WHERE deleted <> 0 "
        "AND deleted_at < DATE(NOW() - INTERVAL 365 DAY)",
    )[0][0]
    assert f["archive_instances"] == archived
    assert f["purge_rows"] == f["archive_rows"]
    assert "full table scan" in str(f["client_token_lookup"])
    assert str(f["database"]).startswith("nova as nova@127.0.0.1")
    assert any("mysql+pymysql://nova:***@127.0.0.1:3306/nova" in ln.text for ln in lines)
    everything = json.dumps(
        [
            result.summary,
            f,
            [(e.title, e.text) for e in result.evidence],
            [ln.text for ln in lines],
        ],
        default=str,
    )
    assert password(lab) not in everything


async def test_api_timing_ranks_runinstances_first_from_the_real_log(lab: HavanaLab) -> None:
    result = await run_check(lab, "api_timing", {"path": "/var/log/nova/nova-api.log"})
    assert result.outcome == "slow"
    assert result.facts["slowest_action"] == "RunInstances"
    assert result.facts["slowest_seconds"] == 138.6  # the tale's own request
    assert isinstance(result.facts["slow_requests"], int)
    assert result.facts["slow_requests"] > 10


async def test_sessions_are_read_only_and_statements_are_time_limited(lab: HavanaLab) -> None:
    async with session(lab, timeout=0.05) as db:
        assert await db.query("SELECT @@tx_read_only, @@autocommit") == [(1, 0)]
        with pytest.raises(CloudtalesError, match="refused SQL statement 'DELETE'"):
            await db.query("DELETE FROM instances WHERE deleted <> 0")
        with pytest.raises(CloudtalesError) as err:
            await db.query("SELECT COUNT(*) FROM instances a, instances b")
    assert "ran over 0.05s and was stopped (max_statement_time)" in str(err.value)
    assert root_query(lab, "SELECT COUNT(*) FROM instances")[0][0] == 300_300


async def test_a_cancelled_query_ends_on_the_server_and_its_connection_closes(
    lab: HavanaLab,
) -> None:
    count = "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'nova'"
    with pytest.raises(TimeoutError):
        async with session(lab, timeout=2.0) as db:
            await asyncio.wait_for(db.query("SELECT COUNT(*) FROM instances a, instances b"), 0.2)
    # max_statement_time stops the statement; the worker thread then closes the connection
    deadline = time.monotonic() + 20
    while root_query(lab, count)[0][0]:
        assert time.monotonic() < deadline, root_query(lab, "SHOW PROCESSLIST")
        await asyncio.sleep(0.05)


BAD_CONFS = {
    "wrong-password": (
        "[database]\nconnection = mysql+pymysql://nova:not-the-password@127.0.0.1/nova\n",
        "database mysql+pymysql://nova:***@127.0.0.1:3306/nova: login refused for user 'nova'",
    ),
    "unreachable": (
        "[database]\nconnection = mysql+pymysql://nova:{pw}@127.0.0.1:3307/nova\n",
        "host controller: cannot reach 127.0.0.1:3307 from controller:",
    ),
    "unknown-db": (
        "[database]\nconnection = mysql+pymysql://nova:{pw}@127.0.0.1/nova_api\n",
        "cannot use database 'nova_api'",
    ),
    "bad-url": (
        "[database]\nconnection = mysql+pymysql://nova:{pw}@127.0.0.1:33o6/nova\n",
        "[database] connection: the port is not a number from 0 to 65535 "
        "(mysql+pymysql://nova:***@127.0.0.1:33o6/nova)",
    ),
    "no-connection": ("[database]\nmax_pool_size = 10\n", "[database] connection is not set"),
    "malformed": (
        "[database\nconnection = mysql+pymysql://nova:{pw}@127.0.0.1/nova\n",
        "nova-malformed.conf:1: option before any [section] header",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFS))
async def test_bad_database_settings_are_one_line_errors_without_the_password(
    lab: HavanaLab, case: str
) -> None:
    text, expected = BAD_CONFS[case]
    path = f"/etc/nova/nova-{case}.conf"
    in_controller(lab, f"cat > {path}", text.replace("{pw}", password(lab)))
    try:
        with pytest.raises(CloudtalesError) as err:
            await run_check(lab, "nova_db_rows", {"nova_conf": path})
    finally:
        in_controller(lab, f"rm -f {path}")
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg
    assert "Traceback" not in msg
    assert password(lab) not in msg


async def test_a_missing_nova_conf_is_named(lab: HavanaLab) -> None:
    with pytest.raises(CloudtalesError) as err:
        await run_check(lab, "nova_db_rows", {"nova_conf": "/etc/nova/absent.conf"})
    assert str(err.value) == (
        "host controller: cannot read /etc/nova/absent.conf: No such file or directory"
    )


async def test_journal_and_report_never_show_the_password(lab: HavanaLab, tmp_path: Path) -> None:
    graph = load_valid_graph()
    inventory = load_inventory(lab.inventory_path())
    journal = tmp_path / "journal.jsonl"
    s = Session.start(graph, inventory, make_runner(inventory), "ec2-api-slow", journal)
    await s.autopilot()
    await s.close()
    assert s.walker.path[-1] == "deleted-rows-bloat"
    text = journal.read_text()
    report = render_report(graph, list(read_events(journal)))
    assert "archive_rows" in text
    for where in (text, report):
        assert password(lab) not in where


# ---------------------------------------------------------------- nova's own tools


def control_plane_venv() -> Path:
    path = cp_venv.venv_path()
    assert cp_venv.ready(path), (
        f"no control plane venv at {path}: python -m labs.control_plane.venv"
    )
    return path


def test_the_schema_is_novas_migration_head_from_db_sync(lab: HavanaLab) -> None:
    head = nova_schema.venv_head(control_plane_venv())
    text = nova_schema.SCHEMA_SQL.read_text()
    assert nova_schema.dump_revision(text) == head
    assert root_query(lab, "SELECT version_num FROM alembic_version") == [(head,)]
    dumped = set(re.findall(r"^CREATE TABLE `(\w+)`", text, re.M))
    tables = {
        str(r[0])
        for r in root_query(
            lab,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'nova'",
        )
    }
    assert tables == dumped
    assert len(tables) > 100  # nova's whole cell database, not a subset
    for table in ("instances", "instance_system_metadata", "instance_metadata", "instance_extra"):
        assert f"shadow_{table}" in tables
    columns = root_query(
        lab,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'nova' AND table_name = 'instances' "
        "AND column_name IN ('deleted', 'compute_id', 'hidden') ORDER BY 1",
    )
    assert columns == [("compute_id", "bigint"), ("deleted", "int"), ("hidden", "tinyint")]


SCRATCH = SeedPlan(
    deleted_instances=400,
    errored_instances=20,
    live_instances=30,
    system_metadata=2_000,
    user_metadata=300,
    shadow_instances=0,
    history_days=1000,
)
ARCHIVED_LINE = re.compile(r"^\|\s*([a-z_]+)\s*\|\s*(\d+)\s*\|$", re.M)
SHADOWS = ("shadow_instances", "shadow_instance_system_metadata", "shadow_instance_metadata")


def shadow_counts(lab: HavanaLab, database: str) -> dict[str, int]:
    with lab.db.root_connection(database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE 'shadow%%'",
            (database,),
        )
        counts = {}
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM `{name}`")
            counts[str(name)] = int(cur.fetchone()[0])
    return counts


async def test_the_remedys_dry_run_is_what_nova_manage_archives_on_a_scratch_copy(
    lab: HavanaLab,
) -> None:
    """The remedy's numbers against the real ``nova-manage db archive_deleted_rows`` and
    ``purge``, run as the remedy writes them, on a small copy (nova's schema, the lab's
    kind of rows) beside the tale's database."""
    venv = control_plane_venv()
    with lab.db.root_connection() as conn, conn.cursor() as cur:
        for db in ("nova_scratch", "nova_api_scratch"):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db} DEFAULT CHARACTER SET utf8mb3")
        cur.execute("GRANT SELECT ON nova_scratch.* TO 'nova'@'127.0.0.1'")
    with lab.db.root_connection("nova_scratch") as conn:
        with conn.cursor() as cur:
            nova_schema.load(cur)
        load_seed(conn, SCRATCH, lab.run_dir / "scratch-seed")
    conf = nova_schema.sync_conf(
        lab.run_dir / "nova-scratch.conf", lab.db.socket, "nova_scratch", "nova_api_scratch"
    )
    nova_schema.nova_manage(venv, conf, "api_db", "sync")
    scratch_conf = "/etc/nova/nova-scratch.conf"
    url = f"mysql+pymysql://nova:{password(lab)}@127.0.0.1/nova_scratch"
    in_controller(lab, f"cat > {scratch_conf}", f"[database]\nconnection = {url}\n")
    try:
        before = await run_check(lab, "nova_db_rows", {"nova_conf": scratch_conf})
        graph = load_valid_graph()
        inventory = load_inventory(lab.inventory_path())
        plan = plan_remedy(
            graph.remedies["havana-archive-deleted-rows"],
            inventory,
            {f"havana-db-rows.{k}": v for k, v in before.facts.items()},
        )
        assert plan.runnable, plan.unresolved
        archive, purge = (shlex.split(c) for c in plan.commands)
        assert (
            archive[:3]
            == purge[:2] + ["archive_deleted_rows"]
            == [
                "nova-manage",
                "db",
                "archive_deleted_rows",
            ]
        )
        said = nova_schema.nova_manage(venv, conf, *archive[1:], ok=(0, 1))
        moved = shadow_counts(lab, "nova_scratch")
        after = await run_check(lab, "nova_db_rows", {"nova_conf": scratch_conf})
        nova_schema.nova_manage(venv, conf, *purge[1:], ok=(0, 3))
        purged = shadow_counts(lab, "nova_scratch")
    finally:
        in_controller(lab, f"rm -f {scratch_conf}")
        with lab.db.root_connection() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS nova_scratch")
            cur.execute("DROP DATABASE IF EXISTS nova_api_scratch")
    f = before.facts
    assert isinstance(f["archive_rows"], int)
    assert 0 < f["archive_rows"] < SCRATCH.instances + SCRATCH.system_metadata
    # what moved to the shadow tables is exactly what the dry run said, and nothing else
    assert {t: n for t, n in moved.items() if n} == {
        "shadow_instances": f["archive_instances"],
        "shadow_instance_system_metadata": f["archive_system_metadata"],
        "shadow_instance_metadata": f["archive_metadata"],
    }
    # nova-manage's own table (--verbose) says the same
    reported = {t: int(n) for t, n in ARCHIVED_LINE.findall(said) if int(n)}
    assert reported == {
        "instances": f["archive_instances"],
        "instance_system_metadata": f["archive_system_metadata"],
        "instance_metadata": f["archive_metadata"],
    }
    assert after.facts["archive_rows"] == 0
    assert after.facts["shadow_rows"] == f["archive_rows"]
    # purge --before the same date empties what was archived (purge_rows of the dry run)
    assert sum(moved.values()) - sum(purged.values()) == f["purge_rows"]


# ---------------------------------------------------------------- rebuilds and teardown


def test_up_again_is_idempotent(lab: HavanaLab) -> None:
    before = lab.db.pid()
    said: list[str] = []
    lab.up(progress=said.append)
    assert said == ["lab already up"]
    assert lab.db.pid() == before


async def test_healthy_lab_is_small_clean_and_fast(lab: HavanaLab) -> None:
    lab.up(healthy=True)
    assert lab.status().healthy is True
    db = await run_check(lab, "nova_db_rows", {"nova_conf": "/etc/nova/nova.conf"})
    assert db.outcome == "clean"
    assert db.facts["instances_total"] == 342
    assert db.facts["shadow_rows"] == 1600  # archived regularly
    api = await run_check(lab, "api_timing", {"path": "/var/log/nova/nova-api.log"})
    assert api.outcome == "normal"
    assert api.facts["slowest_action"] == "RunInstances"
    assert isinstance(api.facts["slowest_seconds"], float)
    assert api.facts["slowest_seconds"] < 5


def test_down_removes_everything_even_after_a_crash(lab: HavanaLab) -> None:
    pid = lab.db.pid()
    assert pid is not None
    netns.stop_pids([pid])  # mariadbd dies under the lab
    assert "problem: mariadbd not running" in lab.status().details
    removed = lab.down()
    assert "namespace ct-hv-controller" in removed
    assert not netns.namespaces(NS_PREFIX)
    assert not netns.links(prefix=ROOT_PREFIX)
    assert MGMT_BRIDGE not in netns.links()
    assert not lab.run_dir.exists()
    assert lab.down() == []
    assert not lab.status().running
    assert CONTROLLER_NS not in netns.namespaces()
