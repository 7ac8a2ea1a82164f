"""nova's real database schema, as ``nova-manage db sync`` (nova 34) leaves it on MariaDB.

``nova_schema.sql`` beside this file is a ``mariadb-dump --no-data`` of the main (cell)
database after ``nova-manage --config-file C db sync --local_cell`` ran with the
control plane's venv (``labs/control_plane/venv.py``), plus the one ``alembic_version``
row: every table nova has, with its indexes, foreign keys and ``shadow_*`` copies. The
Havana lab loads it, then its rows (``labs/havana/nova_db_schema.py``). A lab test checks
that the dump's alembic revision is the head of nova's migrations in the venv, so a new
nova pin cannot leave a stale schema behind.

``python -m labs.havana.nova_schema`` writes the dump again (a scratch mariadbd on a
unix socket, no network; 8-11 s measured on 2 busy cores) and prints its revision.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.errors import CloudtalesError
from labs.control_plane import venv as cp_venv
from labs.services.mariadb_server import MariaDbServer

SCHEMA_SQL = Path(__file__).with_name("nova_schema.sql")
MIGRATIONS = "nova/db/main/migrations"
_VERSION_ROW = re.compile(r"INSERT INTO `alembic_version` VALUES\s*\('([0-9a-f]+)'\)")
_HEAD_SCRIPT = (
    "import os, sys, nova\n"
    "from alembic.config import Config\n"
    "from alembic.script import ScriptDirectory\n"
    "cfg = Config()\n"
    "cfg.set_main_option('script_location', os.path.join(os.path.dirname(nova.__file__),"
    " 'db', 'main', 'migrations'))\n"
    "print(' '.join(ScriptDirectory.from_config(cfg).get_heads()))\n"
)


class ScratchServer(MariaDbServer):
    """A mariadbd on a unix socket only (no namespace, no TCP): for db sync and dumps."""

    def argv(self) -> list[str]:
        argv = super().argv()
        return [*argv[argv.index("exec") + 2 :], "--skip-networking"]


def dump_revision(text: str) -> str:
    """The alembic revision recorded in a dump (its ``alembic_version`` row)."""
    match = _VERSION_ROW.search(text)
    if match is None:
        raise CloudtalesError("nova schema dump: no alembic_version row")
    return match.group(1)


def venv_head(venv: Path) -> str:
    """The head of nova's main-database migrations, as alembic in ``venv`` sees them."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _HEAD_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    heads = done.stdout.split()
    if done.returncode != 0 or len(heads) != 1:
        said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise CloudtalesError(f"nova migrations in {venv}: no single head ({said})")
    return heads[0]


def statements(text: str) -> list[str]:
    """The dump's statements (comments and blank lines dropped), in order."""
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not current and (not line.strip() or line.startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        raise CloudtalesError("nova schema dump: the last statement has no ';'")
    return out


def load(cur: object, text: str | None = None) -> int:
    """Run the dump on ``cur`` (a cursor on the target database); the statement count.
    Foreign key checks are off for the session: the dump creates tables by name, not
    parents first (as mariadb-dump's own header does)."""
    stmts = statements(SCHEMA_SQL.read_text() if text is None else text)
    cur.execute("SET SESSION foreign_key_checks = 0")  # type: ignore[attr-defined]
    for stmt in stmts:
        cur.execute(stmt)  # type: ignore[attr-defined]
    return len(stmts)


def sync_conf(path: Path, socket: Path, database: str, api_database: str | None = None) -> Path:
    """A nova.conf for nova-manage on a unix socket (root, no password)."""
    url = "mysql+pymysql://root@localhost/{}?unix_socket=" + str(socket) + "&charset=utf8"
    text = f"[database]\nconnection = {url.format(database)}\n"
    if api_database:
        text += f"\n[api_database]\nconnection = {url.format(api_database)}\n"
    path.write_text(text)
    return path


def nova_manage(
    venv: Path, conf: Path, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 300
) -> str:
    """Run the venv's nova-manage; its stdout. An exit status not in ``ok`` is an error
    (``archive_deleted_rows`` exits 1 when it moved rows)."""
    argv = [str(venv / "bin" / "nova-manage"), "--config-file", str(conf), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in ok:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        said = lines[-1] if lines else f"exit {done.returncode}"
        raise CloudtalesError(f"nova-manage {' '.join(args)} failed: {said}")
    return done.stdout


def generate(venv: Path, out: Path = SCHEMA_SQL) -> tuple[str, float]:
    """Sync a scratch nova database with ``venv``'s nova-manage and dump it to ``out``;
    (its revision, seconds)."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cloudtales-nova-schema-"))
    db = ScratchServer(work / "mysql", netns="")
    try:
        db.install()
        db.start()
        with db.root_connection() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE nova DEFAULT CHARACTER SET utf8mb3")
        conf = sync_conf(work / "nova.conf", db.socket, "nova")
        nova_manage(venv, conf, "db", "sync", "--local_cell")
        dump = ["mariadb-dump", "--no-defaults", f"--socket={db.socket}", "-uroot"]
        common = ["--skip-comments", "--skip-dump-date", "--compact", "nova"]
        schema = subprocess.run(
            [*dump, "--no-data", *common], capture_output=True, text=True, check=True
        ).stdout
        version = subprocess.run(
            [*dump, "--no-create-info", *common, "alembic_version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        db.stop()
        shutil.rmtree(work, ignore_errors=True)
    # only the tables and the revision: mariadb-dump's /*!...*/ session settings are dropped
    text = "".join(
        ln for ln in (schema + version).splitlines(keepends=True) if not ln.startswith("/*")
    )
    revision = dump_revision(text)
    header = f"-- nova's main database after nova-manage db sync (revision {revision})\n"
    out.write_text(header + "-- written by: python -m labs.havana.nova_schema\n" + text)
    return revision, time.monotonic() - started


def main() -> int:
    try:
        path = cp_venv.ensure(progress=lambda m: print(m, file=sys.stderr))
        revision, seconds = generate(path)
    except (CloudtalesError, subprocess.CalledProcessError) as exc:
        print(f"nova schema: {exc}", file=sys.stderr)
        return 1
    print(f"{SCHEMA_SQL}: revision {revision} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
