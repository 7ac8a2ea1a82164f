"""What nova.conf on the controller and computes says, as inventory vars.

Reads each host's nova.conf (``vars.nova_conf``, default ``/etc/nova/nova.conf``;
bounded to 1 MiB; through the runner it is given, so ``sudo -n`` applies where the file
is root-only) and keeps what the playbooks ask for:

* ``[database] connection`` (also the old ``[DEFAULT] sql_connection``), with the password
  replaced by ``***``: ``nova_database`` plus ``nova_database_host``/``_name``/``_user``;
  the password is never kept;
* ``vlan_interface`` (``[DEFAULT]``);
* ``instances_path`` (``[DEFAULT]``; unset means ``$state_path/instances``, and
  ``state_path`` defaults to ``/var/lib/nova``, as in nova).

``apply_discovery`` returns a copy of the inventory with those values added to each
host's vars, never replacing a var the operator wrote.

>>> redact_url("mysql+pymysql://nova:s3cret@10.0.0.1/nova?charset=utf8")
'mysql+pymysql://nova:***@10.0.0.1/nova?charset=utf8'
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from engine.errors import CloudtalesError
from engine.parsers.nova_conf import NovaConf, parse_nova_conf
from engine.remote.inventory import Host, Inventory
from engine.remote.runner import Runner

DEFAULT_NOVA_CONF = "/etc/nova/nova.conf"
DEFAULT_STATE_PATH = "/var/lib/nova"
MAX_CONF_BYTES = 1 << 20
READ_TIMEOUT = 20.0
ROLES = ("controller", "compute")
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass(frozen=True)
class NovaSettings:
    host: str
    path: str
    error: str | None = None
    database: str | None = None  # the connection URL, password redacted
    database_host: str | None = None
    database_name: str | None = None
    database_user: str | None = None
    vlan_interface: str | None = None
    instances_path: str | None = None
    instances_path_is_default: bool = False

    def as_vars(self) -> dict[str, str]:
        found = {
            "nova_conf": self.path,
            "nova_database": self.database,
            "nova_database_host": self.database_host,
            "nova_database_name": self.database_name,
            "nova_database_user": self.database_user,
            "vlan_interface": self.vlan_interface,
            "instances_path": self.instances_path,
        }
        return {k: v for k, v in found.items() if v}


def redact_url(url: str) -> str:
    """A database URL with its password (and any ``password=`` query value) as ``***``."""
    parts = urlsplit(url)
    redacted = url
    if "@" in parts.netloc:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            redacted = redacted.replace(f"//{parts.netloc}", f"//{user}:***@{hostport}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        secret = ("password", "passwd")
        if any(k.lower() in secret for k, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in secret else v) for k, v in pairs], safe="*"
            )
            redacted = redacted.replace(f"?{parts.query}", f"?{query}", 1)
    return redacted


def settings_from_conf(host: str, path: str, conf: NovaConf) -> NovaSettings:
    url = (
        conf.get("database", "connection")
        or conf.get("DATABASE", "sql_connection")
        or conf.get("DEFAULT", "sql_connection")
    )
    db_host = db_name = db_user = None
    if url:
        parts = urlsplit(url)
        db_host = parts.hostname
        db_name = parts.path.lstrip("/") or None
        db_user = parts.username
    state_path = conf.get("DEFAULT", "state_path") or DEFAULT_STATE_PATH
    instances = conf.get("DEFAULT", "instances_path")
    default = not instances
    instances = _expand(instances or "$state_path/instances", {"state_path": state_path})
    return NovaSettings(
        host=host,
        path=path,
        database=redact_url(url) if url else None,
        database_host=db_host,
        database_name=db_name,
        database_user=db_user,
        vlan_interface=conf.get("DEFAULT", "vlan_interface"),
        instances_path=instances,
        instances_path_is_default=default,
    )


def _expand(value: str, scope: dict[str, str]) -> str:
    return _VAR.sub(lambda m: scope.get(m.group(1), m.group(0)), value)


def nova_hosts(inventory: Inventory) -> list[Host]:
    found: dict[str, Host] = {}
    for role in ROLES:
        for host in inventory.by_role(role):
            found.setdefault(host.name, host)
    return list(found.values())


async def read_nova_settings(runner: Runner, host: Host) -> NovaSettings:
    path = str(host.vars.get("nova_conf") or DEFAULT_NOVA_CONF)
    try:
        res = await runner.run(
            host, f"head -c {MAX_CONF_BYTES} {shlex.quote(path)}", timeout=READ_TIMEOUT
        )
        if not res.ok:
            said = (res.stderr.strip().splitlines() or [f"exit status {res.exit_status}"])[0]
            return NovaSettings(host.name, path, error=f"cannot read {path}: {said[:160]}")
        conf = parse_nova_conf(res.stdout, f"{host.name}:{path}")
    except CloudtalesError as exc:
        return NovaSettings(host.name, path, error=str(exc))
    return settings_from_conf(host.name, path, conf)


async def discover_nova(
    inventory: Inventory,
    runner: Runner,
    *,
    hosts: Sequence[Host] | None = None,
    on_done: Callable[[NovaSettings], None] = lambda s: None,
) -> list[NovaSettings]:
    """nova.conf of every controller and compute host (or ``hosts``), concurrently."""
    targets = nova_hosts(inventory) if hosts is None else list(hosts)

    async def one(host: Host) -> NovaSettings:
        found = await read_nova_settings(runner, host)
        on_done(found)
        return found

    return list(await asyncio.gather(*(one(h) for h in targets)))


def apply_discovery(inventory: Inventory, found: Sequence[NovaSettings]) -> Inventory:
    """A copy of ``inventory`` whose hosts' vars gain what was found (never overwritten)."""
    updated = inventory.model_copy(deep=True)
    for settings in found:
        host = updated.hosts.get(settings.host)
        if host is None or settings.error:
            continue
        host.vars = {**settings.as_vars(), **host.vars}
    return updated
