"""nova.conf's ``[database] connection``: an SQLAlchemy URL, parsed without leaking it.

>>> url = parse_db_url("mysql+pymysql://nova:s3cret@127.0.0.1/nova", "controller:nova.conf")
>>> (url.username, url.host, url.port, url.database)
('nova', '127.0.0.1', 3306, 'nova')
>>> url.redacted
'mysql+pymysql://nova:***@127.0.0.1:3306/nova'
>>> url
DbUrl(mysql+pymysql://nova:***@127.0.0.1:3306/nova)

The password is kept out of ``repr``, of ``redacted`` and of every error message:
a malformed URL is quoted with its password masked (``redact_url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from engine.errors import CloudtalesError

MYSQL_PORT = 3306
MASK = "***"
# the userinfo part of any URL-like text: scheme://user:PASSWORD@
# (greedy up to the last "@" of the word, so a password holding "@" or "/" is masked whole)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)(?P<password>\S*)@")


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` masked.

    >>> redact_url("bad url mysql://nova:pw@[::1/nova")
    'bad url mysql://nova:***@[::1/nova'
    >>> redact_url("mysql://nova:p@s/s@db/nova")
    'mysql://nova:***@db/nova'
    """
    return _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def redact(text: str, *secrets: str) -> str:
    """``text`` with URL passwords and each of ``secrets`` masked.

    >>> redact("login failed for pw42", "pw42")
    'login failed for ***'
    """
    out = redact_url(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, MASK)
    return out


@dataclass(frozen=True)
class DbUrl:
    dialect: str
    driver: str | None
    username: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def unix_socket(self) -> str | None:
        return dict(self.query).get("unix_socket")

    @property
    def where(self) -> str:
        """Where the server is, as the host holding nova.conf sees it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return self.unix_socket or f"{host}:{self.port}"

    @property
    def redacted(self) -> str:
        scheme = f"{self.dialect}+{self.driver}" if self.driver else self.dialect
        user = f"{self.username}:{MASK}@" if self.password else f"{self.username}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{host}:{self.port}" if host else ""
        tail = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{scheme}://{user}{netloc}/{self.database}" + (f"?{tail}" if tail else "")

    def __repr__(self) -> str:
        return f"DbUrl({self.redacted})"

    __str__ = __repr__


def parse_db_url(text: str | None, source: str) -> DbUrl:
    """Parse a MySQL/MariaDB SQLAlchemy URL; anything else is a one-line error naming
    ``source`` (``host:path``) and the option, with the password masked."""
    where = f"{source}: [database] connection"
    if text is None or not text.strip():
        raise CloudtalesError(f"{where} is not set")
    raw = text.strip()
    shown = redact_url(raw)

    def bad(why: str) -> CloudtalesError:
        return CloudtalesError(f"{where}: {why} ({shown})")

    if "://" not in raw:  # nothing to mask reliably: quote none of it
        raise CloudtalesError(
            f"{where}: not a URL (expected mysql+pymysql://user:password@host/nova)"
        )
    # urllib's messages quote the text they choke on, which may be part of the
    # password: never pass them on
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise bad("malformed host part") from None
    try:
        port = parts.port
    except ValueError:
        raise bad("the port is not a number from 0 to 65535") from None
    dialect, _, driver = parts.scheme.partition("+")
    if dialect.lower() not in ("mysql", "mariadb"):
        raise bad(f"{dialect or 'no'} database: only MySQL/MariaDB URLs are supported")
    if not parts.username:
        raise bad("no user name")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise bad("no database name after the host")
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    host = parts.hostname or ""
    if not host and "unix_socket" not in dict(query):
        host = "localhost"
    return DbUrl(
        dialect=dialect.lower(),
        driver=driver.lower() or None,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        host=host,
        port=port or MYSQL_PORT,
        database=database,
        query=query,
    )
