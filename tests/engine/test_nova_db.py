"""nova DB check pieces without a server: URL parsing and redaction, the detector, the
SQL guard and error wording, and the whole check answered from recordings.

The same check against the real MariaDB (through the SSH tunnel) is in
tests/labs/test_havana_lab.py.
"""

from __future__ import annotations

import doctest
import json
import re
import sys
from pathlib import Path

import pymysql
import pytest

import engine.parsers.db_url
from engine.checks.base import CheckContext
from engine.checks.registry import get_check_type
from engine.detectors.db import (
    NovaDbSnapshot,
    StateCount,
    TableCounts,
    describe_explain,
    detect_deleted_rows,
)
from engine.errors import CloudtalesError
from engine.parsers.db_url import parse_db_url, redact, redact_url
from engine.privilege import PrivilegedRunner
from engine.remote.factory import make_runner
from engine.remote.inventory import Inventory
from engine.remote.recorder import RecordingRunner
from engine.remote.replay import Recording, ReplayRunner
from engine.remote.sql import describe_error, ensure_read_only, normalize, sql_command
from engine.remote.ssh import SshRunner
from engine.remote.tunnel import live_runner, recorder_of, transport_of

# through the registry, which imports every check module (importing one check module
# directly first would leave the registry holding only that one)
NOVA_DB = get_check_type("nova_db_rows")
nova_db = sys.modules[NOVA_DB.run.__module__]
queries, shadow_query = nova_db.queries, nova_db.shadow_query

SOURCE = "controller:/etc/nova/nova.conf"
SECRET = "Zq9-pass@word"
ENCODED = "Zq9-pass%40word"


def test_doctests() -> None:
    assert doctest.testmod(engine.parsers.db_url).failed == 0


# ---------------------------------------------------------------- URLs


def test_the_tales_url_parses_with_defaults() -> None:
    url = parse_db_url("mysql+pymysql://nova:PASSWORD@127.0.0.1/nova", SOURCE)
    assert (url.dialect, url.driver, url.username, url.password) == (
        "mysql",
        "pymysql",
        "nova",
        "PASSWORD",
    )
    assert (url.host, url.port, url.database, url.where) == (
        "127.0.0.1",
        3306,
        "nova",
        "127.0.0.1:3306",
    )
    assert "PASSWORD" not in repr(url)
    assert "PASSWORD" not in str(url)
    assert url.redacted == "mysql+pymysql://nova:***@127.0.0.1:3306/nova"


def test_percent_encoded_password_socket_and_ipv6() -> None:
    url = parse_db_url("mysql://nova:p%40ss%2Fw@[fd00::5]:3307/nova?charset=utf8", SOURCE)
    assert (url.password, url.host, url.port, url.where) == (
        "p@ss/w",
        "fd00::5",
        3307,
        "[fd00::5]:3307",
    )
    sock = parse_db_url("mysql+pymysql://nova:x@/nova?unix_socket=/run/mysqld/mysqld.sock", SOURCE)
    assert sock.unix_socket == "/run/mysqld/mysqld.sock"
    assert sock.where == "/run/mysqld/mysqld.sock"
    assert "x@" not in sock.redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "[database] connection is not set"),
        ("   ", "[database] connection is not set"),
        (f"nova:{SECRET}@db/nova", "not a URL"),
        (f"postgresql://nova:{SECRET}@db/nova", "postgresql database: only MySQL/MariaDB"),
        ("sqlite:////var/lib/nova/nova.sqlite", "sqlite database"),
        (f"mysql+pymysql://nova:{SECRET}/x@db/nova", "no database name"),
        (f"mysql+pymysql://nova:{SECRET}@db:99999/nova", "the port is not a number"),
        (f"mysql+pymysql://nova:{SECRET}@db:33o6/nova", "the port is not a number"),
        (f"mysql+pymysql://nova:{SECRET}@[fd00::1/nova", "malformed host part"),
        (f"mysql+pymysql://nova:{SECRET}@db", "no database name"),
        (f"mysql+pymysql://:{SECRET}@db/nova", "no user name"),
    ],
)
def test_malformed_urls_are_one_line_errors_without_the_password(
    text: str | None, expected: str
) -> None:
    with pytest.raises(CloudtalesError) as err:
        parse_db_url(text, SOURCE)
    msg = str(err.value)
    assert msg.startswith(f"{SOURCE}: [database] connection")
    assert expected in msg
    assert "\n" not in msg
    for part in (SECRET, "Zq9", "pass@"):
        assert part not in msg


def test_redaction_masks_url_passwords_and_named_secrets() -> None:
    assert (
        redact_url(f"see mysql://nova:{SECRET}@db/nova now") == "see mysql://nova:***@db/nova now"
    )
    assert redact("password hunter2 was refused", "hunter2", "") == "password *** was refused"


# ---------------------------------------------------------------- the detector


def snapshot(deleted: int, sysmeta_deleted: int, shadow: int = 0) -> NovaDbSnapshot:
    return NovaDbSnapshot(
        database="nova as nova@127.0.0.1",
        older_than_days=365,
        cutoff="2013-01-10",
        tables={
            "instances": TableCounts("instances", deleted + 300, deleted, deleted // 2, 2**20),
            "instance_system_metadata": TableCounts(
                "instance_system_metadata",
                sysmeta_deleted + 900,
                sysmeta_deleted,
                sysmeta_deleted // 3,
            ),
            "instance_metadata": TableCounts("instance_metadata", 10, 4, 1),
        },
        shadow={"shadow_instances": TableCounts("shadow_instances", shadow, shadow, shadow // 2)},
        states=(
            StateCount(False, "active", 290),
            StateCount(False, "error", 10),
            StateCount(True, "deleted", deleted),
        ),
        oldest_deleted_at="2011-05-01 10:00:00",
        client_token_scan="each lookup reads about 1,000,000 rows (a full table scan)",
    )


def test_the_tales_database_is_bloated_with_an_archive_plan() -> None:
    out = detect_deleted_rows("controller", snapshot(300_000, 1_000_000), 100_000)
    assert out.outcome == "bloated"
    f = out.facts
    assert (f["instances_deleted"], f["instances_errored"], f["instances_live"]) == (
        300_000,
        10,
        290,
    )
    assert f["system_metadata_deleted"] == 1_000_000
    assert f["deleted_rows"] == 300_000 + 1_000_000 + 4
    assert f["archive_before"] == "2013-01-10"
    assert (f["archive_instances"], f["archive_system_metadata"], f["archive_metadata"]) == (
        150_000,
        333_333,
        1,
    )
    assert f["archive_rows"] == 150_000 + 333_333 + 1
    assert f["purge_rows"] == f["archive_rows"]  # nothing archived before
    assert f["shadow_rows"] == 0
    assert "never archived" in out.summary
    titles = [e.title for e in out.evidence]
    assert "EC2 client-token lookup (EXPLAIN)" in titles
    assert any("shadow tables empty" in e.text for e in out.evidence)


def test_a_small_database_is_clean_and_purge_counts_the_shadow_tables() -> None:
    out = detect_deleted_rows("controller", snapshot(40, 160, shadow=400), 100_000)
    assert out.outcome == "clean"
    assert out.facts["shadow_rows"] == 400
    assert out.facts["purge_rows"] == out.facts["archive_rows"] + 200
    assert "under 100,000" in out.summary


def test_explain_rows_become_a_sentence() -> None:
    row = (
        1,
        "SIMPLE",
        "instance_system_metadata",
        "ALL",
        None,
        None,
        None,
        None,
        995068,
        "Using where",
    )
    assert describe_explain([row]) == (
        "each lookup reads about 995,068 rows of instance_system_metadata "
        "(a full table scan, no usable index)"
    )
    indexed = (1, "SIMPLE", "t", "ref", "k", "kv_idx", "767", "const", 3, "Using where")
    assert "index kv_idx" in (describe_explain([indexed]) or "")
    assert describe_explain([]) is None


# ---------------------------------------------------------------- the SQL guard


@pytest.mark.parametrize(
    "sql", ["DELETE FROM instances", "  update instances set deleted=0", "DROP TABLE x", ""]
)
def test_only_reads_are_accepted(sql: str) -> None:
    with pytest.raises(CloudtalesError, match="checks only read"):
        ensure_read_only(sql)


def test_reads_are_accepted() -> None:
    for sql in ("SELECT 1", " select 1", "EXPLAIN SELECT 1", "SHOW TABLES"):
        ensure_read_only(sql)


def test_every_check_query_is_bounded() -> None:
    for sql in [*queries(365).values(), shadow_query(["shadow_instances"], 365)]:
        ensure_read_only(sql)
        assert "SELECT *" not in sql
        # a LIMIT, or aggregates only (one row per group), or no table at all
        assert "LIMIT" in sql or "COUNT(" in sql or sql.startswith("EXPLAIN") or " FROM " not in sql


def test_cells_normalize_the_same_live_and_replayed() -> None:
    from datetime import datetime
    from decimal import Decimal

    assert normalize(Decimal("841517")) == 841517
    assert normalize(Decimal("0.5")) == 0.5
    assert normalize(datetime(2014, 1, 10, 9, 11, 45)) == "2014-01-10 09:11:45"
    assert normalize(b"ALL") == "ALL"
    assert normalize(None) is None


@pytest.mark.parametrize(
    ("code", "said", "expected"),
    [
        (
            1045,
            "Access denied for user 'nova'@'localhost' (using password: YES)",
            "wrong password?",
        ),
        (1049, "Unknown database 'nova2'", "cannot use database 'nova'"),
        (1146, "Table 'nova.instances' doesn't exist", "is this nova's database?"),
        (1969, "Query execution was interrupted (max_statement_time exceeded)", "ran over 20s"),
        (2013, "Lost connection to MySQL server during query", "lost the connection to db:3306"),
        (1792, "Cannot execute statement in a READ ONLY transaction", "session is read-only"),
        (1064, f"syntax error near '{SECRET}'", "MariaDB error 1064"),
    ],
)
def test_server_errors_are_one_line_and_never_show_the_password(
    code: int, said: str, expected: str
) -> None:
    url = parse_db_url(f"mysql+pymysql://nova:{ENCODED}@db/nova", SOURCE)
    assert url.password == SECRET
    err = describe_error(pymysql.err.OperationalError(code, said), url, SOURCE, 20)
    msg = str(err)
    assert msg.startswith(f"{SOURCE}: database mysql+pymysql://nova:***@db:3306/nova: ")
    assert expected in msg
    assert SECRET not in msg
    assert "\n" not in msg


# ---------------------------------------------------------------- the check, replayed


def recorded_answers() -> list[Recording]:
    label = SOURCE
    q = queries(365)
    answers = {
        q["who"]: [["nova", "nova@127.0.0.1", "10.11.19-MariaDB", "2025-11-25"]],
        q["sizes"]: [
            ["instance_metadata", 9437184],
            ["instance_system_metadata", 169082880],
            ["instances", 220200960],
            ["shadow_instances", 16384],
        ],
        q["instances"]: [
            [0, "active", 300, 0, None],
            [0, "error", 15000, 0, None],
            [1, "deleted", 285000, 177965, "2024-02-29 20:08:46"],
        ],
        q["instance_system_metadata"]: [[1000000, 949095, 627990]],
        q["instance_metadata"]: [[60000, 56971, 35562]],
        shadow_query(["shadow_instances"], 365): [["shadow_instances", 0, None]],
        q["explain"]: [
            [
                1,
                "SIMPLE",
                "instance_system_metadata",
                "ALL",
                None,
                None,
                None,
                None,
                985802,
                "Using where",
            ]
        ],
    }
    return [
        Recording("controller", "^" + re.escape(sql_command(label, sql)) + "$", json.dumps(rows))
        for sql, rows in answers.items()
    ]


async def test_the_check_runs_from_recordings_without_reading_nova_conf() -> None:
    inventory = Inventory.model_validate(
        {"hosts": {"controller": {"address": "10.250.6.1", "roles": ["controller"]}}}
    )
    runner = ReplayRunner(recorded_answers())
    ctx = CheckContext(runner, inventory, [inventory.host("controller")], {}, 30.0)
    result = await NOVA_DB.run(ctx, NOVA_DB.params())
    assert result.outcome == "bloated"
    assert result.facts["instances_deleted"] == 285000
    assert result.facts["system_metadata_deleted"] == 949095
    assert result.facts["archive_rows"] == 177965 + 627990 + 35562
    assert result.facts["archive_before"] == "2025-11-25"
    assert result.facts["oldest_deleted_at"] == "2024-02-29 20:08:46"
    assert result.facts["database"] == "nova as nova@127.0.0.1 (MariaDB/MySQL 10.11.19-MariaDB)"
    commands = runner.commands()
    assert all(c.startswith("cloudtales-sql controller:/etc/nova/nova.conf: ") for c in commands)
    assert not any("nova.conf" in c and "head" in c for c in commands)


async def test_a_missing_recording_fails_the_check_with_one_line() -> None:
    inventory = Inventory.model_validate({"hosts": {"controller": {"address": "10.250.6.1"}}})
    runner = ReplayRunner([])
    ctx = CheckContext(runner, inventory, [inventory.host("controller")], {}, 30.0)
    with pytest.raises(CloudtalesError, match="no recording matches: cloudtales-sql"):
        await NOVA_DB.run(ctx, NOVA_DB.params())


# ---------------------------------------------------------------- runner chains


def test_the_live_runner_skips_recorders_but_keeps_sudo(tmp_path: Path) -> None:
    inventory = Inventory.model_validate(
        {
            "ssh": {"username": "ops"},
            "hosts": {"controller": {"address": "10.250.6.1", "become": "sudo"}},
        }
    )
    host = inventory.host("controller")
    inner = make_runner(inventory)
    assert isinstance(inner, PrivilegedRunner)
    recorded = RecordingRunner(inner, tmp_path / "rec")
    assert live_runner(recorded, host) is inner  # nova.conf is read with sudo, unrecorded
    assert isinstance(transport_of(recorded, host), SshRunner)  # the tunnel's connection
    assert recorder_of(recorded, host) is recorded
    assert recorder_of(inner, host) is None
    replay = ReplayRunner([])
    assert live_runner(RecordingRunner(replay, tmp_path / "r2"), host) is None
    assert transport_of(replay, host) is None
