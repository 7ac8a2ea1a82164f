"""Root-namespace directories several labs share: made by the first lab, removed by the last.

``ip netns exec NS`` binds each ``/etc/netns/NS/X`` over ``/etc/X``, which must exist, so
a lab whose namespaces carry a nova.conf needs ``/etc/nova`` in the root namespace, where
it stays empty. Two labs up at once share it: the one that made it must not remove it on
``down`` while the other's namespaces still bind over it (issue 12).

A lab claims each shared dir it uses: an empty file named after the lab in
``CLAIMS/<the dir's path, / as %>/``, next to ``made`` when a lab made the dir (written
before the dir, so a crashed build is still known). A claim is live while its lab's
``state.json`` exists. ``release`` drops the lab's claims, then removes each dir a lab
made (or the lab lists as created) once it is empty and nothing uses it: no live claim
and no ``/etc/netns/*/X`` binding over it (a lab that does not claim yet). A dir still
in use is marked made, so the last user's ``down`` removes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from labs.core.base import RUN_ROOT as RUN_ROOT  # tests point it elsewhere

ETC_NETNS = Path("/etc/netns")
CLAIMS = RUN_ROOT.parent / "shared-dirs"
MADE = "made"


def rmdir_if_empty(path: Path) -> bool:
    """Remove ``path`` if it is an empty directory; True if it went."""
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def _record(path: Path) -> Path:
    return CLAIMS / str(path).strip("/").replace("/", "%")


def _path(record: Path) -> Path:
    return Path("/" + record.name.replace("%", "/"))


def _live_claims(record: Path) -> list[str]:
    """The labs claiming the dir whose state is still there (a crashed lab's is gone)."""
    return [
        c.name
        for c in record.iterdir()
        if c.name != MADE and (RUN_ROOT / c.name / "state.json").exists()
    ]


def bound_over(path: Path) -> bool:
    """Some namespace's ``/etc/netns/NS/X`` binds over ``path`` (= ``/etc/X``)."""
    if path.parent != ETC_NETNS.parent or path == ETC_NETNS:
        return False
    return any(ETC_NETNS.glob(f"*/{path.name}"))


def in_use(path: Path) -> bool:
    record = _record(path)
    return (record.is_dir() and bool(_live_claims(record))) or bound_over(path)


def claim(lab: str, dirs: Iterable[Path]) -> None:
    """Claim each of ``dirs`` for ``lab``, making (and marking as made) those missing."""
    for d in dirs:
        record = _record(d)
        record.mkdir(parents=True, exist_ok=True)
        if not d.exists():
            (record / MADE).touch()
        (record / lab).touch()
        d.mkdir(exist_ok=True)


def release(lab: str, created: Iterable[str]) -> list[str]:
    """Drop ``lab``'s claims; remove, when empty and unused, each of ``created`` (the paths
    the lab made, parents first) and every shared dir a lab made; the paths removed."""
    removed: list[str] = []
    for made_here in reversed(list(created)):
        record = _record(Path(made_here))
        (record / lab).unlink(missing_ok=True)
        if in_use(Path(made_here)):
            record.mkdir(parents=True, exist_ok=True)
            (record / MADE).touch()  # handed over: the last user removes it
        elif rmdir_if_empty(Path(made_here)):
            removed.append(made_here)
    for record in sorted(CLAIMS.iterdir()) if CLAIMS.is_dir() else []:
        (record / lab).unlink(missing_ok=True)
        path = _path(record)
        made = (record / MADE).exists()
        if made and not in_use(path) and rmdir_if_empty(path):
            removed.append(str(path))
        if not _live_claims(record) and not (made and path.exists() and bound_over(path)):
            shutil.rmtree(record, ignore_errors=True)  # nothing left to hand over
    rmdir_if_empty(CLAIMS)
    return removed
