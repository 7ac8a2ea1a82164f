"""``cloudtales hosts``: is every host reachable, and what can cloudtales do there?

Probes all hosts at once (``engine.hosts_probe``): progress on stderr, one line per host
as it finishes with a running count; then an aligned table on stdout, the reasons for
any failure, and a summary. Exit status 0 when every host answered, 1 when any did not,
130 when interrupted (ctrl-c cancels every probe and closes every connection).

``--nova`` also reads nova.conf on the reachable controller and compute hosts
(database, vlan_interface, instances_path; ``engine.remote.cloud_discovery``), and
``--write-inventory FILE`` saves a cloudtales inventory with those values as host vars.

Plain text only: this command never imports textual (it runs in any ssh session).
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CloudtalesError

if TYPE_CHECKING:  # the engine is imported when the command runs, not for `--help`
    from engine.hosts_probe import HostProbe
    from engine.remote.cloud_discovery import NovaSettings
    from engine.remote.connect_early import EarlySockets
    from engine.remote.factory import InventoryRunner
    from engine.remote.inventory import Inventory

TOOLS = ("tcpdump", "ip", "qemu-img", "virsh")  # engine.hosts_probe.PROBE_TOOLS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i",
        "--inventory",
        metavar="FILE",
        help="cloudtales inventory, or an Ansible inventory (INI, YAML, JSON or directory)",
    )
    p.add_argument(
        "-F",
        "--ssh-config",
        metavar="FILE",
        help="ssh config to connect with (Host aliases, ProxyJump, IdentityFile); "
        "without -i, every concrete Host in it is a host",
    )
    p.add_argument(
        "--ansible-inventory",
        metavar="PATH",
        help="ansible-inventory program that reads an Ansible inventory (default: the one "
        "on PATH; 'builtin': cloudtales' own reader)",
    )
    p.add_argument(
        "-l", "--limit", metavar="PATTERN", action="append", help="only hosts or roles matching"
    )
    p.add_argument("--nova", action="store_true", help="also read nova.conf on controller/compute")
    p.add_argument(
        "--write-inventory",
        metavar="FILE",
        help="(with --nova) save an inventory with what it found",
    )
    p.add_argument(
        "-j",
        "--concurrency",
        type=int,
        default=None,
        help="hosts at once (default: as many as the open-file limit allows, RLIMIT_NOFILE - 64)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _inventory(args: argparse.Namespace) -> Inventory:
    from engine.remote.inventory import load_inventory
    from engine.remote.ssh_config import DEFAULT_CONFIG, inventory_from_ssh_config

    if args.inventory:
        inv = load_inventory(args.inventory, getattr(args, "ansible_inventory", None))
        if args.ssh_config:
            config = str(Path(args.ssh_config).expanduser().resolve())
            inv = inv.model_copy(update={"ssh": inv.ssh.model_copy(update={"config": config})})
    else:
        inv = inventory_from_ssh_config(args.ssh_config or DEFAULT_CONFIG)
    if args.limit:
        keep = {
            name: h
            for name, h in inv.hosts.items()
            if any(fnmatch.fnmatchcase(x, pat) for pat in args.limit for x in [name, *h.roles])
        }
        if not keep:
            raise CloudtalesError(f"no host or role matches {', '.join(args.limit)}")
        inv = inv.model_copy(update={"hosts": keep})
    return inv


def cmd_hosts(args: argparse.Namespace) -> int:
    if args.write_inventory and not args.nova:
        raise CloudtalesError("--write-inventory needs --nova (it saves what nova.conf says)")
    # Start-up (pydantic, the inventory, asyncssh) makes long-lived objects only, yet the
    # cyclic collector ran about 120 times over them: 60-90 ms of a 50-host survey. It
    # stays off until the libraries are loaded, which are then frozen out of its sight.
    gc.disable()
    try:
        return _hosts(args)
    finally:
        gc.enable()
        gc.unfreeze()


def _hosts(args: argparse.Namespace) -> int:
    from engine.remote.connect_early import (
        MAX_CONNECTING,
        connection_budget,
        open_early,
        open_early_from_file,
    )

    # the first hosts' TCP connects start now, while pydantic and asyncssh load
    first = min(args.concurrency or connection_budget(), MAX_CONNECTING)
    if args.inventory and not args.ssh_config:
        early = open_early_from_file(args.inventory, first, args.limit)
    else:
        early = None
    inventory = _inventory(args)
    for note in inventory.notes:
        _err(f"note: {note}")
    at_once = min(len(inventory.hosts), args.concurrency or connection_budget())
    if not early:  # not read early: now that the inventory is known
        early = open_early(inventory, inventory.hosts.values(), min(at_once, MAX_CONNECTING))
    import asyncio

    return asyncio.run(_survey(args, inventory, at_once, early))


async def _survey(
    args: argparse.Namespace, inventory: Inventory, at_once: int, early: EarlySockets
) -> int:
    import asyncio

    from engine.hosts_probe import probe_hosts
    from engine.remote.factory import InventoryRunner

    if any(h.transport == "ssh" for h in inventory.hosts.values()):
        import engine.remote.ssh  # noqa: F401  (asyncssh, loaded before the freeze)
    gc.freeze()
    gc.enable()
    total = len(inventory.hosts)
    base = InventoryRunner(inventory, early)
    done: list[HostProbe] = []
    width = max(len(n) for n in inventory.hosts)

    def progress(p: HostProbe) -> None:
        done.append(p)
        state = "ok" if p.reachable else "UNREACHABLE"
        count = f"[{len(done):>{len(str(total))}}/{total}]"
        extra = f"  {p.error}" if p.error else ""
        _err(f"{count} {p.host:<{width}}  {state} {p.seconds:.1f}s{extra}")

    source = inventory.source or inventory.name
    if at_once < total and not args.concurrency:  # the open-file limit is what caps it
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        at_once_text = f"{at_once} at a time (open-file limit {soft})"
    else:
        at_once_text = f"{at_once} at a time"
    _err(f"probing {total} host(s) from {source} (read by {inventory.reader}), {at_once_text}")
    nova: list[NovaSettings] = []
    try:
        probes = await probe_hosts(inventory, base, on_done=progress, concurrency=at_once)
        if args.nova:
            nova = await _nova(inventory, base, probes)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        _err(f"cancelled: {len(done)} of {total} host(s) probed")
        return 130
    finally:
        await base.close()
    if args.json:
        print(json.dumps({"hosts": [_probe_json(p) for p in probes],
                          "nova": [asdict(n) for n in nova],
                          "reader": inventory.reader}, indent=2))  # fmt: skip
    else:
        print(format_table(probes))
        if nova:
            print()
            print(format_nova(nova))
        print()
        print(summary(probes))
    if args.write_inventory:
        from engine.remote.cloud_discovery import apply_discovery

        _write_inventory(Path(args.write_inventory), apply_discovery(inventory, nova))
        _err(f"wrote {args.write_inventory}")
    return 0 if all(p.reachable for p in probes) else 1


async def _nova(
    inventory: Inventory, base: InventoryRunner, probes: Sequence[HostProbe]
) -> list[NovaSettings]:
    from engine.privilege import PrivilegedRunner, with_privilege
    from engine.remote.cloud_discovery import discover_nova, nova_hosts

    reachable = {p.host for p in probes if p.reachable}

    hosts = [h for h in nova_hosts(inventory) if h.name in reachable]
    runner = with_privilege(base, inventory)
    if isinstance(runner, PrivilegedRunner):
        for p in probes:  # the survey already asked each host about sudo
            if p.sudo is not None:
                runner.remember(p.host, p.sudo)
    return await discover_nova(inventory, runner, hosts=hosts)


# ---------------------------------------------------------------- output


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "~"


def format_table(probes: Sequence[HostProbe], tools: Sequence[str] = TOOLS) -> str:
    header = ["HOST", "ADDRESS", "VIA", "USER", "ROLES", "SSH", *[t.upper() for t in tools]]
    header.append("SUDO")
    rows = []
    for p in probes:
        row = [
            p.host,
            _short(p.connects_to or p.address, 24),
            p.via or "-",
            p.user or "-",
            _short(",".join(p.roles) or "-", 22),
            "ok" if p.reachable else "FAIL",
        ]
        row += [("yes" if p.tools.get(t) else "no") if p.reachable else "-" for t in tools]
        row.append(_sudo_label(p))
        rows.append(row)
    text = _table(header, rows)
    failures = [f"  {p.host}: {p.error}" for p in probes if not p.reachable]
    return text + ("\n\nunreachable:\n" + "\n".join(failures) if failures else "")


def _sudo_label(p: HostProbe) -> str:
    if not p.reachable or p.sudo is None:
        return "-"
    return p.sudo.label


def format_nova(found: Sequence[NovaSettings]) -> str:
    header = ["HOST", "NOVA.CONF", "DATABASE", "VLAN_INTERFACE", "INSTANCES_PATH"]
    rows = []
    for s in found:
        if s.error:
            rows.append([s.host, s.path, f"({_short(s.error, 60)})", "", ""])
            continue
        instances = s.instances_path or "-"
        if s.instances_path_is_default:
            instances += " (default)"
        rows.append([s.host, s.path, s.database or "-", s.vlan_interface or "-", instances])
    return "nova.conf:\n" + _table(header, rows)


def summary(probes: Sequence[HostProbe]) -> str:
    up = [p for p in probes if p.reachable]
    root = [p for p in up if p.root_ok]
    missing: dict[str, list[str]] = {}
    for p in up:
        for tool in p.missing:
            missing.setdefault(tool, []).append(p.host)
    parts = [f"{len(up)} of {len(probes)} host(s) reachable"]
    if len(up) < len(probes):
        parts.append(f"{len(probes) - len(up)} unreachable")
    parts.append(f"root (login or sudo -n) on {len(root)} of {len(up)}")
    lines = ["; ".join(parts)]
    lines += [f"  no {tool} on: {_names(hosts)}" for tool, hosts in missing.items()]
    no_root = [p for p in up if not p.root_ok]
    for p in no_root:
        assert p.sudo is not None
        lines.append(f"  {p.sudo.error(p.host)}")
    return "\n".join(lines)


def _names(hosts: Sequence[str], shown: int = 10) -> str:
    """Up to ``shown`` names, then how many more (the table lists every host)."""
    if len(hosts) <= shown:
        return ", ".join(hosts)
    return f"{', '.join(hosts[:shown])} and {len(hosts) - shown} more ({len(hosts)} hosts)"


def _probe_json(p: HostProbe) -> dict[str, object]:
    data = asdict(p)
    data["sudo"] = p.sudo.state if p.sudo else None
    data["root_ok"] = p.root_ok
    return data


def _write_inventory(path: Path, inventory: Inventory) -> None:
    import yaml

    data = inventory.model_dump(exclude={"source", "notes", "reader"}, exclude_unset=True)
    data["hosts"] = {
        name: h.model_dump(exclude={"name"}, exclude_unset=True)
        for name, h in inventory.hosts.items()
    }
    header = f"# written by `cloudtales hosts --nova --write-inventory` from {inventory.source}\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
