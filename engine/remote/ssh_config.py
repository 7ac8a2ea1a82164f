"""Read an OpenSSH client config: its Host aliases, and where each one really goes.

Connecting needs nothing from here: ``SshRunner`` hands the config file to asyncssh,
which applies ``HostName``, ``Port``, ``User``, ``IdentityFile``, ``UserKnownHostsFile``
and ``ProxyJump`` itself (a jump host is reached with the same config file, so its own
``Host`` block must carry its key and known_hosts). This module is for showing and
listing: ``resolve`` says where an alias lands and through which jump host, and
``ssh_config_aliases`` lists the concrete ``Host`` names (wildcards and negations are
patterns, not hosts) so ``cloudtales hosts --ssh-config`` can check them all.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "config").write_text("Host bastion\\n  HostName 192.0.2.1\\n"
...                               "Host cc01 *.lab\\n  ProxyJump bastion\\n")
>>> ssh_config_aliases(d / "config")
['bastion', 'cc01']
>>> resolve("cc01", d / "config").proxy_jump
'bastion'
"""

from __future__ import annotations

import fnmatch
import getpass
import glob
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InventoryError
from engine.remote.inventory import Host, Inventory, SshSettings

DEFAULT_CONFIG = Path("~/.ssh/config")
_WILDCARDS = set("*?!")
MAX_INCLUDE_DEPTH = 16


@dataclass(frozen=True)
class SshTarget:
    """Where an alias goes once the config applies."""

    alias: str
    hostname: str
    port: int | None
    user: str | None
    proxy_jump: str | None
    identity_files: tuple[str, ...] = ()


def config_path(inventory: Inventory) -> Path | None:
    """The ssh config ``SshRunner`` uses for ``inventory`` (None when there is none)."""
    path = Path(inventory.ssh.config or DEFAULT_CONFIG).expanduser()
    return path if path.is_file() else None


def resolve(alias: str, path: str | Path) -> SshTarget:
    """Apply the config to ``alias`` as ssh would (first value wins, Match included)."""
    from asyncssh.config import SSHClientConfig

    p = Path(path).expanduser()
    try:
        cfg = SSHClientConfig.load(
            None, [str(p)], False, False, False, _local_user(), (), alias, ()
        )
    except (OSError, ValueError) as exc:
        raise InventoryError(f"{p}: cannot read the ssh config ({exc})") from None
    port = cfg.get("Port")
    user = cfg.get("User")
    jump = cfg.get("ProxyJump")
    keys = cfg.get("IdentityFile") or ()
    return SshTarget(
        alias=alias,
        hostname=str(cfg.get("Hostname") or alias),
        port=int(str(port)) if port not in (None, ()) else None,
        user=str(user) if user else None,
        proxy_jump=str(jump) if jump and str(jump).lower() != "none" else None,
        identity_files=tuple(str(k) for k in keys) if isinstance(keys, list | tuple) else (),
    )


def jump_for(host: Host, inventory: Inventory) -> str | None:
    """The ProxyJump the ssh config sets for ``host`` (None: a direct connection)."""
    return route(host, inventory)[1]


def route(host: Host, inventory: Inventory) -> tuple[str, str | None]:
    """(``address[:port]`` ssh really connects to, the ProxyJump host or None)."""
    if host.transport != "ssh":
        return "local", None
    path = config_path(inventory)
    target = resolve(host.address, path) if path is not None else None
    address = target.hostname if target else host.address
    port = host.port if "port" in host.model_fields_set else (target.port if target else None)
    where = f"[{address}]" if ":" in address and port not in (None, 22) else address
    return (f"{where}:{port}" if port not in (None, 22) else where), (
        target.proxy_jump if target else None
    )


def ssh_config_aliases(path: str | Path) -> list[str]:
    """Concrete ``Host`` names in file order (``Include`` followed), patterns left out."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InventoryError(f"{p}: ssh config not found")
    found: list[str] = []
    _collect(p, found, 0)
    return list(dict.fromkeys(found))


def _collect(path: Path, found: list[str], depth: int) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        raise InventoryError(f"{path}: Include nested more than {MAX_INCLUDE_DEPTH} deep")
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read the ssh config ({exc.strerror})") from None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.replace("=", " ", 1).partition(" ")
        keyword = keyword.lower()
        if keyword not in ("host", "include"):
            continue
        try:
            args = shlex.split(rest)
        except ValueError:
            raise InventoryError(f"{path}:{lineno}: unbalanced quotes") from None
        if keyword == "host":
            found += [a for a in args if not _WILDCARDS & set(a)]
            continue
        for pattern in args:
            target = Path(pattern).expanduser()
            if not target.is_absolute():
                target = Path("~/.ssh").expanduser() / target
            for match in sorted(glob.glob(str(target))):
                _collect(Path(match), found, depth + 1)


def inventory_from_ssh_config(
    path: str | Path,
    *,
    only: list[str] | None = None,
    roles: Mapping[str, str] | None = None,
) -> Inventory:
    """One host per alias (``only``: fnmatch patterns to keep); ``roles`` maps patterns
    to roles (``{"cc*": "controller", "nc*": "compute"}``)."""
    p = Path(path).expanduser()
    aliases = ssh_config_aliases(p)
    if only:
        aliases = [a for a in aliases if any(fnmatch.fnmatchcase(a, pat) for pat in only)]
    if not aliases:
        raise InventoryError(f"{p}: no Host aliases{' match ' + ', '.join(only) if only else ''}")
    hosts = {
        a: Host(
            address=a, roles=[r for pat, r in (roles or {}).items() if fnmatch.fnmatchcase(a, pat)]
        )
        for a in aliases
    }
    return Inventory(name=p.name, ssh=SshSettings(config=str(p)), hosts=hosts, source=str(p))


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def ssh_args_config(text: str) -> tuple[str | None, str | None]:
    """(``-F`` file, the jump option found) in ssh arguments (``ansible_ssh_common_args``).

    >>> ssh_args_config("-F cfg -o ProxyJump=bastion")
    ('cfg', 'ProxyJump')
    """
    try:
        args = shlex.split(text)
    except ValueError:
        return None, None
    config = jump = None
    for i, arg in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if arg == "-F" and nxt:
            config = nxt
        elif arg.startswith("-F") and len(arg) > 2:
            config = arg[2:]
        elif arg == "-J" or arg.startswith("-J"):
            jump = "ProxyJump"
        elif arg.startswith("-o"):
            option = nxt if arg == "-o" else arg[2:]
            key = re.split(r"[=\s]", option.strip(), maxsplit=1)[0].lower()
            if key in ("proxyjump", "proxycommand"):
                jump = "ProxyJump" if key == "proxyjump" else "ProxyCommand"
    return config, jump


def config_beside(config: str, base: Path) -> str:
    """A relative ``-F`` path: beside the inventory if it is there, else as given."""
    p = Path(config).expanduser()
    if p.is_absolute():
        return str(p)
    beside = base / p
    return str(beside if beside.exists() else p)
