"""The catalogue of check types. Adding a check type = one module here + one detector."""

from __future__ import annotations

import importlib

from engine.checks.base import CheckType
from engine.errors import CloudtalesError

_MODULES = (
    "engine.checks.link_facts",
    "engine.checks.nova_conf",
    "engine.checks.pmtu",
    "engine.checks.capture",
    "engine.checks.console_logs",
    "engine.checks.api_requests",
    "engine.checks.rabbitmq_queues",
    "engine.checks.libvirt_disks",
    "engine.checks.backing_chain",
    "engine.checks.imagecache",
    "engine.checks.instances_shared",
    "engine.checks.bond_state",
    "engine.checks.switch_log",
    "engine.checks.bpdu_capture",
    "engine.checks.bpdu_source",
    "engine.checks.api_timing",
    "engine.checks.nova_db",
    "engine.checks.dhcp_conversation",
    "engine.checks.dhcp_client",
    "engine.checks.lease_time",
    "engine.checks.tap_traffic",
    "engine.checks.qemu_versions",
)

_REGISTRY: dict[str, CheckType] = {}


def register(check_type: CheckType) -> CheckType:
    _REGISTRY[check_type.name] = check_type
    return check_type


def check_types() -> dict[str, CheckType]:
    """Every registered check type. Imports each module of ``_MODULES`` (a no-op once
    imported), so a module imported directly first cannot hide the others."""
    for mod in _MODULES:
        importlib.import_module(mod)
    return dict(_REGISTRY)


def get_check_type(name: str) -> CheckType:
    types = check_types()
    try:
        return types[name]
    except KeyError:
        raise CloudtalesError(
            f"unknown check type {name!r} (known: {', '.join(sorted(types))})"
        ) from None
