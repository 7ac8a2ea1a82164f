"""Read-only SQL on a host's database: PyMySQL over an SSH tunnel, or recorded answers.

A live session connects through ``engine.remote.tunnel.forward`` and runs PyMySQL in
worker threads (``run_in_executor``), so the event loop stays free to carry the
tunnel's traffic. Every session is read-only three times over:

* only ``SELECT``, ``EXPLAIN`` and ``SHOW`` statements are accepted;
* the connection runs ``SET SESSION TRANSACTION READ ONLY`` then
  ``START TRANSACTION READ ONLY``, so the server itself refuses any write, and the
  transaction is rolled back at the end;
* each statement runs as ``SET STATEMENT max_statement_time=N FOR ...`` (MariaDB), so
  the server aborts it after N seconds, and results are bounded (``max_rows``).

Rehearsals: the rows of each query are recorded under a pseudo-command
(``cloudtales-sql LABEL: SQL``) when a ``RecordingRunner`` wraps the live runner, and
a replayed session (no live transport) asks its runner for that same pseudo-command.
The password never appears in a label, a command, a recording or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import pymysql

from engine.errors import CloudtalesError
from engine.parsers.db_url import DbUrl, redact
from engine.remote.inventory import Host
from engine.remote.recorder import RecordingRunner
from engine.remote.runner import Runner
from engine.remote.tunnel import forward, live_runner, recorder_of

Scalar = str | int | float | None
Row = tuple[Scalar, ...]
_T = TypeVar("_T")

SQL_COMMAND = "cloudtales-sql"
_READ_ONLY = re.compile(r"^\s*(SELECT|EXPLAIN|SHOW)\b", re.IGNORECASE)
# MariaDB/MySQL error codes worth a sentence of their own
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_BAD_DB = 1049
_NO_SUCH_TABLE = 1146
_READ_ONLY_TXN = 1792
_STATEMENT_TIMEOUT = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time
_LOST = (2003, 2006, 2013, 2055)


def sql_command(label: str, sql: str) -> str:
    """The pseudo-command under which ``sql``'s rows are recorded and replayed."""
    return f"{SQL_COMMAND} {label}: {' '.join(sql.split())}"


def ensure_read_only(sql: str) -> None:
    if not _READ_ONLY.match(sql):
        first = (sql.split() or ["(empty)"])[0]
        raise CloudtalesError(f"refused SQL statement {first!r}: checks only read")


def normalize(value: Any) -> Scalar:
    """A JSON-friendly cell: the same whether it came from the server or a recording."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date | dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class SqlSession(Protocol):
    label: str

    async def query(self, sql: str) -> list[Row]: ...


class _LiveSession:
    def __init__(
        self,
        conn: pymysql.connections.Connection[Any],
        label: str,
        describe: Callable[[pymysql.MySQLError], CloudtalesError],
        statement_timeout: float,
        max_rows: int,
        record: Callable[[str, list[Row]], None] | None,
    ) -> None:
        self.label = label
        self._conn = conn
        self._describe = describe
        self._statement_timeout = statement_timeout
        self._max_rows = max_rows
        self._record = record
        self.inflight: asyncio.Future[Any] | None = None

    async def call(self, fn: Callable[[], _T]) -> _T:
        """Run blocking PyMySQL work in a thread; errors become one-line CloudtalesErrors."""
        fut = asyncio.get_running_loop().run_in_executor(None, fn)
        self.inflight = fut
        try:
            # shielded: a cancelled check must not mark the future done while the
            # thread still holds the connection (see open_session's cleanup)
            result = await asyncio.shield(fut)
        except pymysql.MySQLError as exc:
            raise self._describe(exc) from None
        self.inflight = None
        return result

    async def query(self, sql: str) -> list[Row]:
        ensure_read_only(sql)
        limit = max(self._statement_timeout, 0.001)
        statement = f"SET STATEMENT max_statement_time={limit:g} FOR {sql}"

        def fetch() -> list[Row]:
            with self._conn.cursor() as cur:
                cur.execute(statement)
                rows = cur.fetchmany(self._max_rows + 1)
            if len(rows) > self._max_rows:
                raise CloudtalesError(
                    f"{self.label}: a query returned more than {self._max_rows} rows"
                )
            return [tuple(normalize(v) for v in row) for row in rows]

        rows = await self.call(fetch)
        if self._record is not None:
            self._record(sql, rows)
        return rows


class _ReplayedSession:
    def __init__(self, runner: Runner, host: Host, label: str, timeout: float) -> None:
        self.label = label
        self._runner = runner
        self._host = host
        self._timeout = timeout

    async def query(self, sql: str) -> list[Row]:
        ensure_read_only(sql)
        res = await self._runner.run(self._host, sql_command(self.label, sql), self._timeout)
        if not res.ok:
            raise CloudtalesError(f"{self.label}: {res.stderr.strip() or 'query failed'}")
        try:
            data = json.loads(res.stdout or "[]")
        except ValueError:
            raise CloudtalesError(f"{self.label}: recorded rows are not JSON") from None
        return [tuple(normalize(v) for v in row) for row in data]


def _recorder_hook(
    rec: RecordingRunner | None, host: Host, label: str
) -> Callable[[str, list[Row]], None] | None:
    if rec is None:
        return None

    def record(sql: str, rows: list[Row]) -> None:
        rec.add(host.name, sql_command(label, sql), json.dumps(rows))

    return record


def describe_error(
    exc: pymysql.MySQLError, url: DbUrl, label: str, statement_timeout: float
) -> CloudtalesError:
    """One line naming the database (password masked) and what went wrong."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    said = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    db = url.redacted
    if code == _ACCESS_DENIED:
        why = f"login refused for user {url.username!r}: wrong password? ({said})"
    elif code in (_DB_ACCESS_DENIED, _BAD_DB):
        why = f"cannot use database {url.database!r} ({said})"
    elif code == _NO_SUCH_TABLE:
        why = f"{said}: is this nova's database?"
    elif code == _READ_ONLY_TXN:
        why = "refused a write: the session is read-only"
    elif code in _STATEMENT_TIMEOUT:
        why = f"a query ran over {statement_timeout:g}s and was stopped (max_statement_time)"
    elif code in _LOST:
        why = f"lost the connection to {url.where} ({said})"
    else:
        why = f"MariaDB error {code}: {said}" if code else said
    return CloudtalesError(redact(f"{label}: database {db}: {why}", url.password))


@contextlib.asynccontextmanager
async def open_session(
    runner: Runner,
    host: Host,
    label: str,
    load_url: Callable[[Runner], Awaitable[DbUrl]],
    *,
    statement_timeout: float = 20.0,
    connect_timeout: float = 10.0,
    max_rows: int = 1000,
) -> AsyncIterator[SqlSession]:
    """A read-only SQL session on ``host``'s database.

    ``label`` names the database in commands and errors (say ``controller:/etc/nova/
    nova.conf``); ``load_url`` reads the connection URL through the live runner (never
    the recording one: the URL holds the password), and is not called when replaying.
    """
    live = live_runner(runner, host)
    if live is None:
        yield _ReplayedSession(runner, host, label, statement_timeout + connect_timeout)
        return
    url = await load_url(live)
    async with forward(runner, host, url.host, url.port, url.unix_socket, connect_timeout) as ep:

        def describe(exc: pymysql.MySQLError) -> CloudtalesError:
            return describe_error(exc, url, label, statement_timeout)

        def connect() -> pymysql.connections.Connection[Any]:
            kwargs: dict[str, Any] = {"unix_socket": ep.path} if ep.path else {}
            conn = pymysql.connect(
                host=ep.host or "localhost",
                port=ep.port or 0,
                user=url.username,
                password=url.password,
                database=url.database,
                charset="utf8mb4",
                connect_timeout=connect_timeout,
                read_timeout=statement_timeout + connect_timeout,
                write_timeout=connect_timeout,
                autocommit=False,
                local_infile=False,
                **kwargs,
            )
            try:
                with conn.cursor() as cur:
                    cur.execute("SET SESSION TRANSACTION READ ONLY")
                    cur.execute("START TRANSACTION READ ONLY")
            except BaseException:
                conn.close()
                raise
            return conn

        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(None, connect)
        try:
            conn = await asyncio.shield(pending)
        except pymysql.MySQLError as exc:
            raise describe(exc) from None
        except BaseException:  # cancelled while connecting: close once connected
            pending.add_done_callback(_abandoned)
            pending.add_done_callback(_close_when_connected)
            raise
        record = _recorder_hook(recorder_of(runner, host), host, label)
        session = _LiveSession(conn, label, describe, statement_timeout, max_rows, record)
        try:
            yield session
        finally:
            inflight = session.inflight
            if inflight is not None and not inflight.done():
                # cancelled mid-query: close once the worker thread lets go of it (its
                # outcome, an error once the lab or the server is gone, is nobody's now)
                inflight.add_done_callback(_abandoned)
                inflight.add_done_callback(lambda _: _close_in_thread(conn))
            else:
                await loop.run_in_executor(None, _close_quietly, conn)


def _abandoned(fut: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a query nobody awaits any more, so asyncio does not log
    "Future exception was never retrieved" with a traceback."""
    if not fut.cancelled():
        fut.exception()


def _close_quietly(conn: pymysql.connections.Connection[Any]) -> None:
    with contextlib.suppress(Exception):
        conn.rollback()
    with contextlib.suppress(Exception):
        conn.close()


def _close_in_thread(conn: pymysql.connections.Connection[Any]) -> None:
    loop = asyncio.get_running_loop()  # called back on the loop's thread
    loop.run_in_executor(None, _close_quietly, conn)


def _close_when_connected(fut: asyncio.Future[pymysql.connections.Connection[Any]]) -> None:
    if not fut.cancelled() and fut.exception() is None:
        _close_in_thread(fut.result())
