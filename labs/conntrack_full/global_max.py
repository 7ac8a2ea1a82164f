"""The kernel's global ``nf_conntrack_max``, lowered for a lab and always given back.

``nf_conntrack_max`` is read-only inside a network namespace other than the init one
("Permission denied"), while each namespace's ``nf_conntrack_count`` is compared with it.
So a lab whose table must fill with a bounded burst lowers the GLOBAL maximum (the root
namespace's ``/proc/sys/net/netfilter/nf_conntrack_max``). That touches every namespace
on the machine, so it is a ``labs.core.global_setting.GlobalSetting``: the original saved
(fsynced) under an exclusive ``flock`` before the value is written; ``restore`` on
``lab down``; ``restore_orphaned`` from every ``get_lab`` after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labs.core.global_setting import STATE_DIR, GlobalSetting

MAX_PATH = Path("/proc/sys/net/netfilter/nf_conntrack_max")
KEY = "nf_conntrack_max"
SETTING = GlobalSetting("conntrack-max", {KEY: MAX_PATH})
SAVED = SETTING.saved_path  # STATE_DIR/conntrack-max.saved.json, as before
LOCK = SETTING.lock_path
__all__ = [
    "LOCK",
    "MAX_PATH",
    "SAVED",
    "STATE_DIR",
    "current",
    "lower",
    "restore",
    "restore_orphaned",
    "saved",
]


def _upgrade() -> None:
    """A file saved by the earlier format (``"original": N``) reads as the new one."""
    try:
        data = json.loads(SAVED.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and isinstance(data.get("original"), int):
        data["original"] = {KEY: data["original"]}
        SAVED.write_text(json.dumps(data))


def current() -> int:
    return SETTING.current()[KEY]


def saved() -> dict[str, Any] | None:
    """What a lab saved before lowering the maximum (None: nothing is lowered)."""
    data = SETTING.saved()
    if data is None:
        return None
    return {**data, "original": int(data["original"][KEY])}


def _one(values: dict[str, int] | None) -> int | None:
    return None if values is None else values.get(KEY)


def lower(value: int, lab: str) -> int:
    """Set the global maximum to ``value``; returns the original (saved first)."""
    _upgrade()
    return SETTING.lower({KEY: value}, lab)[KEY]


def restore() -> int | None:
    """Give the saved maximum back; the value restored (None: nothing was lowered)."""
    _upgrade()
    return _one(SETTING.restore())


def restore_orphaned(lab_alive: Callable[[], bool]) -> int | None:
    """Restore a saved maximum whose lab no longer runs (after a crash)."""
    _upgrade()
    return _one(SETTING.restore_orphaned(lab_alive))
