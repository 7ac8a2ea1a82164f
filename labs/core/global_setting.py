"""Global kernel settings a lab lowers for its fault, always given back.

Some kernel limits exist only in the init namespace (``nf_conntrack_max``; the ARP
table's ``gc_thresh1/2/3``) while every namespace on the machine is measured against
them. A lab whose fault needs such a limit lowered changes the whole machine, so:

- the originals (and anything else the lab must undo, ``extra``) are saved to a JSON
  file under ``STATE_DIR`` (fsynced) before a value is written, under an exclusive
  ``flock`` (read-modify-write by one process at a time);
- ``restore`` writes the originals back, runs the setting's ``undo`` over ``extra`` and
  removes the file (``lab down``);
- ``restore_orphaned`` does the same for a leftover whose lab is gone (a crash, a killed
  ``lab up``): ``get_lab`` calls it, so the next ``lab up``/``down``/``status`` of any
  lab gives the values back first.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError

STATE_DIR = Path("/run/cloudtales")  # outlives the lab's run dir (down removes it)


def _no_undo(_extra: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class GlobalSetting:
    """Named global files (``/proc/sys/...``) saved and lowered together."""

    key: str  # the state file's stem: STATE_DIR/KEY.saved.json, STATE_DIR/KEY.lock
    paths: Mapping[str, Path]  # name -> file, written in this order (restored reversed)
    undo: Callable[[Mapping[str, Any]], None] = _no_undo  # after the values come back
    state_dir: Path = STATE_DIR

    @property
    def saved_path(self) -> Path:
        return self.state_dir / f"{self.key}.saved.json"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / f"{self.key}.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def current(self) -> dict[str, int]:
        return {name: int(path.read_text().strip()) for name, path in self.paths.items()}

    def saved(self) -> dict[str, Any] | None:
        """What a lab saved before lowering (None: nothing is lowered)."""
        try:
            data = json.loads(self.saved_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("original"), dict):
            return None
        return data

    def _write(self, name: str, value: int) -> None:
        path = self.paths[name]
        try:
            path.write_text(f"{value}\n")
        except OSError as exc:
            raise CloudtalesError(f"{path}: cannot write {value}: {exc.strerror}") from None

    def _restore_locked(self) -> dict[str, int] | None:
        data = self.saved()
        if data is None:
            self.saved_path.unlink(missing_ok=True)  # unreadable: nothing to give back
            return None
        original = {str(k): int(v) for k, v in data["original"].items() if k in self.paths}
        for name in reversed(list(self.paths)):  # thresh3 first when raising back
            if name in original:
                self._write(name, original[name])
        extra = data.get("extra")
        self.undo(extra if isinstance(extra, dict) else {})
        self.saved_path.unlink(missing_ok=True)
        return original

    def lower(
        self,
        values: Mapping[str, int],
        lab: str,
        extra: Mapping[str, Any] | None = None,
        prepare: Callable[[], None] | None = None,
    ) -> dict[str, int]:
        """Save the originals and ``extra`` (fsynced), run ``prepare``, then write
        ``values`` (in ``paths`` order); returns the originals."""
        with self._locked():
            self._restore_locked()  # a leftover from a crash: the true originals first
            original = self.current()
            tmp = self.saved_path.with_suffix(".tmp")
            doc = {"original": original, "lowered": dict(values), "lab": lab,
                   "extra": dict(extra or {})}  # fmt: skip
            with tmp.open("w") as fh:
                json.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.saved_path)
            if prepare is not None:
                prepare()
            for name in self.paths:
                if name in values:
                    self._write(name, values[name])
            return original

    def restore(self) -> dict[str, int] | None:
        """Give the saved values back; those restored (None: nothing was lowered)."""
        with self._locked():
            return self._restore_locked()

    def restore_orphaned(self, lab_alive: Callable[[], bool]) -> dict[str, int] | None:
        """Restore saved values whose lab no longer runs (after a crash)."""
        if not self.saved_path.exists():
            return None
        with self._locked():
            if self.saved() is not None and lab_alive():
                return None
            return self._restore_locked()
