"""Sources answered by the OpenStack API (the ``api`` provider), not by a host's shell.

Each is named like any other source, so a check asks ``ctx.sources.read(host,
"compute_services")`` and a recording keeps the answer by name; the live provider
(``engine/sources/live.py``) hands these names to ``engine.sources.api_client``, which
asks the cloud through openstacksdk. The cloud is the one ``--cloud NAME`` (or
``OS_CLOUD``) named, else the ``os_cloud`` var of the host the check runs for (the
controller, in a lab's inventory), with ``clouds_path`` when clouds.yaml is not in a
standard place. ``live`` gives the ``openstack`` command an operator would type for the
same data (what the walk shows as the check's command).

Every answer is JSON: ``{"cloud": NAME, "checked_at": ISO-8601 UTC, "items": [...]}``;
``checked_at`` is when it was asked, so a heartbeat's age replays as it was seen.
They cannot exist in a sosreport (``offline=False``).

``server`` is found by UUID or exact name in nova's basic list (never neutron), then
read with server show; when that answers 5xx (nova asks neutron for the server's
security groups, so a cloud whose neutron is down or absent fails it) the host and the
instance name come from the hypervisors' server lists instead, and the item's ``via``
says which.
"""

from __future__ import annotations

import shlex

from engine.sources.registry import register
from engine.sources.spec import Source, SourceParams


class ServerParams(SourceParams):
    server: str  # a name or a UUID


API_NOTE = "asked from the OpenStack API (openstacksdk), never from a host"

SOURCES = (
    Source(
        "compute_services",
        "nova's compute services: host, state, status and last heartbeat",
        live=lambda _p: "openstack compute service list --service nova-compute --long -f json",
        offline=False,
        parser="engine.parsers.os_api.parse_compute_services",
        sos_note=API_NOTE,
    ),
    Source(
        "hypervisors",
        "nova's hypervisors: name, host, state and status",
        live=lambda _p: "openstack hypervisor list --long -f json",
        offline=False,
        parser="engine.parsers.os_api.parse_items",
        sos_note=API_NOTE,
    ),
    Source(
        "server",
        "one server: its compute host, instance name and status",
        live=lambda p: f"openstack server show {shlex.quote(p.server)} -f json",
        params=ServerParams,
        offline=False,
        parser="engine.parsers.os_api.parse_items",
        sos_note=API_NOTE,
    ),
    Source(
        "server_ports",
        "one server's neutron ports: MAC, fixed IPs, status",
        live=lambda p: f"openstack port list --server {shlex.quote(p.server)} -f json",
        params=ServerParams,
        offline=False,
        parser="engine.parsers.os_api.parse_items",
        sos_note=API_NOTE,
    ),
)
API_SOURCES = frozenset(s.name for s in SOURCES)

for _source in SOURCES:
    register(_source)
