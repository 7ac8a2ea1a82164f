"""The kernel's global ``nf_conntrack_max``, lowered for a lab and always given back.

``nf_conntrack_max`` is read-only inside a network namespace other than the init one
("Permission denied"), while each namespace's ``nf_conntrack_count`` is compared with it.
So a lab whose table must fill with a bounded burst lowers the GLOBAL maximum (the root
namespace's ``/proc/sys/net/netfilter/nf_conntrack_max``). That touches every namespace
on the machine, so:

- the original is saved to ``SAVED`` (fsynced) before the value is written, under an
  exclusive ``flock`` on ``LOCK`` (read-modify-write by one process at a time);
- ``restore`` writes the saved value back and removes the file (``lab down``);
- ``restore_orphaned`` restores a leftover value whose lab is gone (a crash, a killed
  ``lab up``): every ``get_lab`` calls it, so the next ``lab up``/``down``/``status``
  of any lab gives the value back first.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import CloudtalesError

MAX_PATH = Path("/proc/sys/net/netfilter/nf_conntrack_max")
STATE_DIR = Path("/run/cloudtales")  # outlives the lab's run dir (down removes it)
SAVED = STATE_DIR / "conntrack-max.saved.json"
LOCK = STATE_DIR / "conntrack-max.lock"


@contextmanager
def _locked() -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current() -> int:
    return int(MAX_PATH.read_text().strip())


def saved() -> dict[str, object] | None:
    """What a lab saved before lowering the maximum (None: nothing is lowered)."""
    try:
        data = json.loads(SAVED.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("original"), int) else None


def _write(value: int) -> None:
    try:
        MAX_PATH.write_text(f"{value}\n")
    except OSError as exc:
        raise CloudtalesError(f"{MAX_PATH}: cannot write {value}: {exc.strerror}") from None


def _restore_locked() -> int | None:
    data = saved()
    if data is None:
        SAVED.unlink(missing_ok=True)  # unreadable: nothing to give back
        return None
    original = int(str(data["original"]))
    _write(original)
    SAVED.unlink(missing_ok=True)
    return original


def lower(value: int, lab: str) -> int:
    """Set the global maximum to ``value``; returns the original (saved first)."""
    with _locked():
        _restore_locked()  # a leftover from a crash: the true original comes back first
        original = current()
        tmp = SAVED.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump({"original": original, "lowered": value, "lab": lab}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(SAVED)
        _write(value)
        return original


def restore() -> int | None:
    """Give the saved maximum back; the value restored (None: nothing was lowered)."""
    with _locked():
        return _restore_locked()


def restore_orphaned(lab_alive: Callable[[], bool]) -> int | None:
    """Restore a saved maximum whose lab no longer runs (after a crash)."""
    if not SAVED.exists():
        return None
    with _locked():
        if saved() is not None and lab_alive():
            return None
        return _restore_locked()
