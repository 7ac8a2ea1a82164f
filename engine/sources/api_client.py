"""The ``api`` provider: answers ``engine/sources/api.py``'s sources with openstacksdk.

openstacksdk is imported on the first API read only (``--help`` and the picker never
load it). clouds.yaml is read the standard way (``OS_CLIENT_CONFIG_FILE``,
``~/.config/openstack``, ``/etc/openstack``), plus the host's ``clouds_path`` when the
inventory names one. One connection per cloud is kept for the session; calls run in a
thread under the check's timeout.

Secrets never leave this module: an answer carries the API's data only, and a failure is
one line naming the cloud and the endpoint (never a password, a token or a traceback):
a wrong password, an unreachable endpoint, a cloud clouds.yaml does not have.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from engine.errors import CloudtalesError
from engine.remote.inventory import Host
from engine.remote.runner import CommandResult
from engine.sources.registry import get

_override: list[str] = []  # --cloud NAME, set once by the CLI
_connections: dict[tuple[str, str], Any] = {}
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)


def use_cloud(name: str | None) -> None:
    """``--cloud NAME``: every API read goes to this cloud (None: back to the host's)."""
    _override.clear()
    if name:
        _override.append(name)


def cloud_for(host: Host) -> tuple[str, str]:
    """(cloud name, clouds.yaml path or "") for reads made for ``host``: ``--cloud``
    (standard clouds.yaml search), else the host's ``os_cloud`` (with its ``clouds_path``),
    else ``OS_CLOUD``."""
    if _override:  # clouds.yaml from the standard places only
        return _override[0], ""
    name = str(host.vars.get("os_cloud") or "") or os.environ.get("OS_CLOUD", "")
    if not name:
        raise CloudtalesError(
            f"no cloud to ask for host {host.name}: give --cloud NAME (or OS_CLOUD), "
            "or set os_cloud in the host's vars",
            host=host.name,
        )
    return name, str(host.vars.get("clouds_path") or "")


def _connect(cloud: str, path: str) -> Any:
    key = (cloud, path)
    if key in _connections:
        return _connections[key]
    import openstack.config  # lazy: about 0.5 s
    from openstack import exceptions as sdk_errors

    files = [path] if path else None
    try:
        region = openstack.config.OpenStackConfig(config_files=files).get_one(cloud=cloud)
    except sdk_errors.ConfigException as exc:
        where = path or "clouds.yaml (OS_CLIENT_CONFIG_FILE, ~/.config/openstack, /etc/openstack)"
        raise CloudtalesError(f"cloud {cloud}: not found in {where}: {_first(exc)}") from None
    conn = openstack.connection.Connection(config=region)
    _connections[key] = conn
    return conn


def _auth_url(conn: Any) -> str:
    try:
        return str(conn.config.config.get("auth", {}).get("auth_url") or "?")
    except AttributeError:
        return "?"


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def explain(cloud: str, endpoint: str, exc: BaseException) -> str:
    """One line for a failed API call: what went wrong, naming the cloud and endpoint."""
    from keystoneauth1 import exceptions as ka

    if isinstance(exc, ka.http.Unauthorized):
        why = "authentication refused (wrong user name or password in clouds.yaml?)"
    elif isinstance(exc, ka.connection.ConnectFailure | ka.connection.ConnectTimeout):
        why = "endpoint unreachable"
    elif isinstance(exc, ka.EndpointNotFound | ka.catalog.EndpointNotFound):
        why = f"service not in the catalogue: {_first(exc)}"
    else:
        why = _first(exc)
    return f"cloud {cloud} ({endpoint}): {why}"


def _fetch(conn: Any, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    compute = conn.compute
    if name == "compute_services":
        return [_service(s) for s in compute.services(binary="nova-compute")]
    if name == "hypervisors":
        return [_hypervisor(h) for h in compute.hypervisors(details=True)]
    if name == "server":
        return [_server_of(compute, params["server"])]
    if name == "server_ports":
        server = _lookup(compute, params["server"])
        try:
            return [_port(p) for p in conn.network.ports(device_id=server["id"])]
        except Exception as exc:  # noqa: BLE001 - the SDK's "service not in catalog" types vary
            if "catalog" in str(exc):
                raise CloudtalesError("no network service (neutron) in the catalogue") from None
            raise
    raise CloudtalesError(f"source {name} is not answered by the API")


def _lookup(compute: Any, wanted: str) -> dict[str, str]:
    """``{"id", "name"}`` of the one server whose UUID or exact name is ``wanted``, from
    nova's basic server list (the only server read that never asks neutron)."""
    query = {"all_tenants": "1"}
    query["uuid" if _UUID.match(wanted) else "name"] = (
        wanted if _UUID.match(wanted) else f"^{re.escape(wanted)}$"
    )
    found = compute.get("/servers", params=query, microversion="2.1")
    found.raise_for_status()
    servers = [s for s in found.json().get("servers", []) if wanted in (s["id"], s["name"])]
    if not servers:
        raise CloudtalesError(f"no server named {wanted} (by name or UUID, all projects)")
    if len(servers) > 1:
        ids = ", ".join(s["id"] for s in servers)
        raise CloudtalesError(f"{len(servers)} servers are named {wanted}: give a UUID ({ids})")
    return {"id": servers[0]["id"], "name": servers[0]["name"]}


def _server_of(compute: Any, wanted: str) -> dict[str, Any]:
    """The server's host and instance name: ``GET /servers/ID``, else (when nova answers
    it with a 5xx, e.g. its network API, neutron, is down or absent) the hypervisors'
    server lists, which carry each server's UUID and instance name (microversion 2.53)."""
    from openstack import exceptions as sdk_errors

    found = _lookup(compute, wanted)
    try:
        return {**_server(compute.get_server(found["id"])), "via": "server show"}
    except sdk_errors.HttpException as exc:
        if not exc.status_code or exc.status_code < 500:
            raise
        said = str(getattr(exc, "details", "") or "").replace("\n", " ").strip()
        why = f"server show answered HTTP {exc.status_code}" + (f": {said[:120]}" if said else "")
    answer = compute.get("/os-hypervisors/detail?with_servers=true", microversion="2.53")
    answer.raise_for_status()
    for hyp in answer.json().get("hypervisors", []):
        for srv in hyp.get("servers") or []:
            if srv.get("uuid") == found["id"]:
                return {
                    **found,
                    "status": None,
                    "host": (hyp.get("service") or {}).get("host"),
                    "hypervisor_hostname": hyp.get("hypervisor_hostname"),
                    "instance_name": srv.get("name"),
                    "via": f"hypervisor server lists ({why})",
                }
    return {**found, "status": None, "host": None, "hypervisor_hostname": None,
            "instance_name": None, "via": f"no hypervisor lists it ({why})"}  # fmt: skip


def _service(s: Any) -> dict[str, Any]:
    return {
        "binary": s.binary,
        "host": s.host,
        "zone": s.availability_zone,
        "status": s.status,
        "state": s.state,
        "updated_at": s.updated_at,
        "disabled_reason": s.disabled_reason,
        "forced_down": bool(s.is_forced_down),
    }


def _hypervisor(h: Any) -> dict[str, Any]:
    details = h.service_details or {}
    return {"name": h.name, "host": details.get("host"), "state": h.state, "status": h.status}


def _server(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "host": s.compute_host,
        "hypervisor_hostname": s.hypervisor_hostname,
        "instance_name": s.instance_name,
    }


def _port(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "mac_address": p.mac_address,
        "fixed_ips": [ip.get("ip_address") for ip in p.fixed_ips or []],
        "status": p.status,
        "binding_host": p.binding_host_id,
    }


def call(host: Host, name: str, params: dict[str, Any]) -> str:
    """The JSON answer (blocking): ``{"cloud", "checked_at", "items"}``."""
    cloud, path = cloud_for(host)
    conn = _connect(cloud, path)
    try:
        items = _fetch(conn, name, params)
    except CloudtalesError as exc:
        raise CloudtalesError(f"cloud {cloud} ({_auth_url(conn)}): {exc}", host=host.name) from None
    except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one line
        raise CloudtalesError(explain(cloud, _auth_url(conn), exc), host=host.name) from None
    checked_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return json.dumps({"cloud": cloud, "checked_at": checked_at, "items": items}, default=str)


async def read_api(
    host: Host,
    name: str,
    timeout: float = 30.0,
    fetch: Callable[[Host, str, dict[str, Any]], str] = call,
    **params: Any,
) -> CommandResult:
    """The provider's read: the same ``CommandResult`` a shell source gives (stdout JSON)."""
    bound = get(name).bind(params)
    command = get(name).live(bound)
    started = time.monotonic()
    try:
        out = await asyncio.wait_for(
            asyncio.to_thread(fetch, host, name, bound.model_dump()), timeout
        )
    except TimeoutError:
        raise CloudtalesError(
            f"the OpenStack API did not answer {name} within {timeout:g} s",
            host=host.name,
            command=command,
        ) from None
    except CloudtalesError as exc:
        raise CloudtalesError(str(exc), host=host.name, command=command) from None
    return CommandResult(host.name, command, 0, out, "", time.monotonic() - started)
