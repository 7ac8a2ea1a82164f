"""The Valentine's Day lab's real control plane (``labs/control_plane``), reached through bond0.

The controller (``ct-vd-controller``) runs MariaDB, RabbitMQ, keystone, glance,
placement, nova-api, nova-conductor and nova-scheduler on its data address
(10.0.100.40, behind SW-1; SW-2 reaches it over the peer link). nova-compute
(``fake.FakeDriver``) runs in the compute's namespace as host ``server35``, its
``transport_url`` and placement/keystone URLs on that address: every heartbeat crosses
bond0, never the 1G eth2. The lab uses a short ``service_down_time`` (15 s, report
every 3 s), so once BPDU guard has cut both members nova's own API lists the node
``down`` within about 20 s.

nova boots ``centos-test`` and ``web-01`` on server35 (``networks: none``: no neutron);
the lab then names the compute's libvirt domains after nova's instance names and
UUIDs, so ``investigate --server centos-test`` maps nova's answer to the domain, its
tap and its MAC.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from pathlib import Path
from typing import Any

from labs.control_plane import cloud, venv
from labs.control_plane.configs import Secrets, Site
from labs.control_plane.plane import ComputeNode, ControlPlane
from labs.core import netns
from labs.core.base import LabState, Progress
from labs.core.netns_lab import ETC_NETNS
from labs.services.mariadb_server import MariaDbServer
from labs.services.rabbitmq_node import RabbitNode
from labs.valentines.plan import (
    CLOUD,
    COMPUTE,
    COMPUTE_NAME,
    CONTROLLER,
    DATA_IP,
    INSTANCES,
    InstancePlan,
)

UP_TIMEOUT = 180.0  # nova-compute's first report (measured 16-19 s on a loaded machine)
DOWN_TIMEOUT = 90.0  # service_down_time 15 s after the last heartbeat, and the API's view


def new_secrets() -> dict[str, str]:
    return {k: secrets.token_hex(12) for k in ("admin", "service", "db", "rabbit")}


def plane(run_dir: Path, state: LabState) -> ControlPlane:
    site = Site(CONTROLLER.data_ip, run_dir / "cp", Secrets.from_mapping(state.extra["secrets"]))
    return ControlPlane(
        site=site,
        venv=Path(state.extra["venv"]),
        controller_ns=CONTROLLER.netns,
        computes=(ComputeNode(COMPUTE_NAME, COMPUTE.netns, DATA_IP),),
        db=db(run_dir),
        rabbit=rabbit(run_dir),
    )


def db(run_dir: Path) -> MariaDbServer:
    return MariaDbServer(run_dir / "mysql", CONTROLLER.netns, address="0.0.0.0")


def rabbit(run_dir: Path) -> RabbitNode:
    return RabbitNode(CONTROLLER.netns, run_dir / "rabbitmq", ETC_NETNS)


def prepare(run_dir: Path, state: LabState, progress: Progress) -> ControlPlane:
    """The venv (cached), the secrets and the configuration files (before any sshd)."""
    started = time.monotonic()
    state.extra["venv"] = str(venv.ensure(progress=progress))
    state.extra["venv_seconds"] = round(time.monotonic() - started, 1)
    state.extra["secrets"] = new_secrets()
    return plane(run_dir, state)


def start_backends(p: ControlPlane, progress: Progress) -> float:
    """RabbitMQ (started, not waited for) and MariaDB on the controller; the configs."""
    progress("starting RabbitMQ and MariaDB on the controller")
    rabbit_started = p.rabbit.start()
    p.db.install()
    p.db.start()
    p.write_configs()
    return rabbit_started


def bring_up(
    p: ControlPlane, clouds_path: Path, rabbit_started: float, state: LabState, progress: Progress
) -> tuple[InstancePlan, ...]:
    """Databases, APIs, catalogue, nova's daemons and nova-compute; both servers booted
    on server35. The instances as nova named them (instance name, UUID)."""
    p.prepare_databases()
    p.sync_databases(progress)
    state.extra["rabbitmq_start_seconds"] = round(p.rabbit.wait(rabbit_started), 1)
    p.prepare_rabbit()
    p.start_apis(progress)
    clouds_path.write_text(cloud.clouds_yaml(p.site, CLOUD))
    clouds_path.chmod(0o600)
    conn = cloud.connect(clouds_path, CLOUD)
    progress("registering users, catalogue, image and flavor (openstacksdk)")
    t = time.monotonic()
    cloud.sdk_step("registering the catalogue", cloud.register, conn, p.site)
    conn = cloud.connect(clouds_path, CLOUD)
    cloud.sdk_step("uploading the image and the flavor", cloud.seed, conn)
    p.timings["register"] = time.monotonic() - t

    progress(f"starting nova-conductor, nova-scheduler and nova-compute on {COMPUTE_NAME}")
    t = time.monotonic()
    p.start_controller_daemons()
    p.start_compute(p.computes[0])
    up = {COMPUTE_NAME: "up"}
    cloud.sdk_step("waiting for nova-compute", cloud.wait_states, conn, up, UP_TIMEOUT, progress)
    p.discover_hosts()
    p.timings["nova-compute"] = time.monotonic() - t
    progress(f"nova-compute on {COMPUTE_NAME} up, over bond0 ({p.timings['nova-compute']:.1f} s)")

    t = time.monotonic()
    names = [i.display_name for i in INSTANCES]
    progress(f"booting {', '.join(names)} on {COMPUTE_NAME} (networks: none)")
    cloud.sdk_step("booting the servers", cloud.boot, conn, [(n, COMPUTE_NAME) for n in names])
    on = dict.fromkeys(names, COMPUTE_NAME)
    cloud.sdk_step("waiting for the servers", cloud.wait_servers, conn, on, 120.0)
    p.timings["servers"] = time.monotonic() - t
    instances = as_booted(conn)
    state.extra["timings"] = {k: round(v, 1) for k, v in p.timings.items()}
    state.extra["domains"] = {i.display_name: [i.domain, i.uuid] for i in instances}
    return instances


def as_booted(conn: Any) -> tuple[InstancePlan, ...]:
    """Each lab instance under nova's instance name and server UUID."""
    ids = {s.name: s.id for s in conn.compute.servers(details=False, all_projects=True)}
    names = cloud.sdk_step("reading the instance names", cloud.instance_names, conn)
    return tuple(
        dataclasses.replace(i, domain=names[ids[i.display_name]], uuid=ids[i.display_name])
        for i in INSTANCES
    )


def booted(state: LabState) -> tuple[InstancePlan, ...]:
    """The instances as the build recorded nova's names (the plan's before it booted)."""
    domains = state.extra.get("domains") or {}
    return tuple(
        dataclasses.replace(i, domain=domains[i.display_name][0], uuid=domains[i.display_name][1])
        if i.display_name in domains
        else i
        for i in INSTANCES
    )


def wait_down(clouds_path: Path, state: LabState, progress: Progress) -> None:
    """Until nova's API lists server35 down (bounded; one clear line if not)."""
    conn = cloud.connect(clouds_path, CLOUD)
    t = time.monotonic()
    want = {COMPUTE_NAME: "down"}
    cloud.sdk_step(
        "waiting for nova to list the compute down", cloud.wait_states, conn, want,
        DOWN_TIMEOUT, progress,
    )  # fmt: skip
    state.extra["down_after_seconds"] = round(time.monotonic() - t, 1)
    progress(f"nova lists {COMPUTE_NAME} down ({state.extra['down_after_seconds']} s)")


def stop(run_dir: Path, present: list[str]) -> list[str]:
    """RabbitMQ and MariaDB first (``lab down``): they outlive a plain SIGTERM round."""
    if CONTROLLER.netns not in present:
        return []
    stopped = [f"RabbitMQ pid {p}" for p in netns.stop_pids(rabbit(run_dir).pids(), timeout=15.0)]
    return stopped + [f"mariadbd pid {pid}" for pid in db(run_dir).stop()]
