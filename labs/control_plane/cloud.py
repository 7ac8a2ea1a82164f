"""The control plane's cloud, as an operator sees it: clouds.yaml, catalogue, compute services.

Registration goes through openstacksdk from the root namespace (the controller's
address is on the lab's management bridge): the ``service`` project, the service users
with the admin role, the catalogue (compute, image, placement), one tiny image in
glance's file store and a flavor. ``clouds.yaml`` is written the standard way, so
``OS_CLIENT_CONFIG_FILE=... openstack --os-cloud NAME compute service list`` works too.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from engine.errors import CloudtalesError
from labs.control_plane import configs
from labs.control_plane.configs import Site

IMAGE = "cirros-tiny"
FLAVOR = "m1.nano"


def sdk_step(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; an openstacksdk failure becomes one line naming the step."""
    try:
        return fn(*args)
    except CloudtalesError:
        raise
    except Exception as exc:  # noqa: BLE001 - every SDK failure is one line
        said = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise CloudtalesError(f"control plane: {what} failed: {said[:300]}") from None


def clouds_yaml(site: Site, cloud: str) -> str:
    doc = {
        "clouds": {
            cloud: {
                "auth": {
                    "auth_url": site.keystone_url,
                    "username": "admin",
                    "password": site.secrets.admin,
                    "project_name": "admin",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": site.region,
                "identity_api_version": 3,
                "interface": "public",
            }
        }
    }
    return "# written by a cloudtales lab (labs/control_plane)\n" + yaml.safe_dump(doc)


def connect(clouds_file: Path, cloud: str) -> Any:
    import openstack.config  # lazy: openstacksdk takes ~0.5 s to import

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_file)])
    region = config.get_one(cloud=cloud)
    return openstack.connection.Connection(config=region)


def register(conn: Any, site: Site) -> None:
    """Project, users and catalogue; idempotent. A connection made before does not see
    the new endpoints (its token's catalogue): ``seed`` takes a new one."""
    ident = conn.identity
    project = ident.find_project("service") or ident.create_project(
        name="service", domain_id="default"
    )
    admin = ident.find_role("admin")
    for name in configs.SERVICE_USERS:
        user = ident.find_user(name) or ident.create_user(
            name=name, password=site.secrets.service, domain_id="default"
        )
        ident.assign_project_role_to_user(project, user, admin)
    for app in configs.WSGI_APPS:
        if app.service_type == "identity":
            continue  # keystone-manage bootstrap registered it
        service = ident.find_service(app.name) or ident.create_service(
            name=app.name, type=app.service_type
        )
        if not list(ident.endpoints(service_id=service.id)):
            url = f"http://{site.controller_ip}:{app.port}{app.url_suffix}"
            for interface in ("public", "internal", "admin"):
                ident.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=site.region
                )


def seed(conn: Any) -> None:
    """The tiny image in glance's file store and the flavor nova boots it with."""
    if not conn.image.find_image(IMAGE):
        conn.image.create_image(
            name=IMAGE,
            data=io.BytesIO(b"\0" * 1024),
            disk_format="raw",
            container_format="bare",
            visibility="public",
        )
    if not conn.compute.find_flavor(FLAVOR):
        conn.compute.create_flavor(name=FLAVOR, ram=64, vcpus=1, disk=1)


def compute_states(conn: Any) -> dict[str, str]:
    """nova-compute host -> state (``up``/``down``) as the API reports it."""
    return {s.host: s.state for s in conn.compute.services(binary="nova-compute")}


def wait_states(
    conn: Any,
    want: dict[str, str],
    timeout: float,
    say: Callable[[str], None],
) -> float:
    """Until every host in ``want`` has that state in ``os-services``; seconds waited."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    while time.monotonic() - started < timeout:
        seen = compute_states(conn)
        if all(seen.get(h) == s for h, s in want.items()):
            return time.monotonic() - started
        time.sleep(1.0)
    said = ", ".join(f"{h} {seen.get(h, 'missing')}" for h in want)
    raise CloudtalesError(
        f"nova-compute states not reached within {timeout:g} s (want "
        f"{', '.join(f'{h} {s}' for h, s in want.items())}; API says {said})"
    )


def wait_services_up(
    conn: Any,
    starts: dict[tuple[str, str], float],
    timeout: float,
    say: Callable[[str], None],
    poll: float = 0.5,
) -> dict[tuple[str, str], float]:
    """Until each (binary, host) is ``up`` in ``os-services`` (its first report is in);
    seconds from its own start (``time.monotonic``) to the poll that first saw it."""
    first = min(starts.values(), default=time.monotonic())
    took: dict[tuple[str, str], float] = {}
    seen: dict[tuple[str, str], str] = {}
    while time.monotonic() - first < timeout:
        seen = {(s.binary, s.host): s.state for s in conn.compute.services()}
        now = time.monotonic()
        for key, started in starts.items():
            if key not in took and seen.get(key) == "up":
                took[key] = now - started
                say(f"{key[0]} on {key[1]} up in nova's service list ({took[key]:.1f} s)")
        if len(took) == len(starts):
            return took
        time.sleep(poll)
    said = ", ".join(f"{b} on {h} {seen.get((b, h), 'missing')}" for b, h in starts)
    raise CloudtalesError(f"nova services not up within {timeout:g} s (API says {said})")


def boot(conn: Any, servers: Iterable[tuple[str, str]]) -> None:
    """One server per (name, compute host), ``networks: none`` (no neutron in the lab:
    nova's ``GET /servers/ID`` then answers 500, since it asks neutron for the server's
    security groups; the hypervisors' server lists still name its host and instance)."""
    image = conn.image.find_image(IMAGE)
    flavor = conn.compute.find_flavor(FLAVOR)
    for name, host in servers:
        conn.compute.create_server(
            name=name,
            image_id=image.id,
            flavor_id=flavor.id,
            networks="none",
            availability_zone=f"nova:{host}",
        )


def instance_names(conn: Any) -> dict[str, str]:
    """server UUID -> instance name (``instance-0000000N``), from the hypervisor lists."""
    answer = conn.compute.get("/os-hypervisors/detail?with_servers=true", microversion="2.53")
    answer.raise_for_status()
    return {
        srv["uuid"]: str(srv["name"])
        for hyp in answer.json().get("hypervisors", [])
        for srv in hyp.get("servers") or []
    }


def servers_on_hosts(conn: Any) -> dict[str, str]:
    """server UUID -> compute host, from nova's hypervisor server lists (2.53)."""
    answer = conn.compute.get("/os-hypervisors/detail?with_servers=true", microversion="2.53")
    answer.raise_for_status()
    return {
        srv["uuid"]: str((hyp.get("service") or {}).get("host"))
        for hyp in answer.json().get("hypervisors", [])
        for srv in hyp.get("servers") or []
    }


def wait_servers(conn: Any, want: dict[str, str], timeout: float) -> float:
    """Until each server (name -> host) is on its host; seconds waited."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    while time.monotonic() - started < timeout:
        ids = {s.name: s.id for s in conn.compute.servers(details=False, all_projects=True)}
        on = servers_on_hosts(conn)
        seen = {name: on.get(ids.get(name, ""), "nowhere") for name in want}
        if seen == want:
            return time.monotonic() - started
        time.sleep(0.5)
    raise CloudtalesError(
        f"servers not on their hosts within {timeout:g} s: "
        + ", ".join(f"{n} on {seen.get(n, 'nowhere')} (want {h})" for n, h in want.items())
    )
