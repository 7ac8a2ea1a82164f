"""File sizes from ``find PATH -name NAME -printf '%s %b %p\\n'``, never from reading files.

``%s`` is the apparent size (what a reader such as nova's ``get_console_output``
gets), ``%b`` the 512-byte blocks allocated on disk (less for a sparse file).

>>> [f.size for f in parse_find_sizes("5905580032 8 /i/a/console.log\\n", "cc12:find")]
[5905580032]
>>> parse_find_sizes("12 8 /i/b/console.log\\n", "cc12:find")[0].allocated
4096
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from engine.errors import CloudtalesError

FIND_FORMAT = "%s %b %p\\n"
NO_DIR_MARKER = "__CT_NO_SUCH_DIR__"


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int  # apparent size in bytes (st_size)
    allocated: int  # bytes allocated on disk (st_blocks * 512)

    @property
    def sparse(self) -> bool:
        return self.allocated < self.size


def find_sizes_command(root: str, name: str, *, max_depth: int = 2, max_files: int = 5000) -> str:
    """A bounded, read-only shell command listing ``name`` files under ``root`` with sizes.

    A missing ``root`` prints ``NO_DIR_MARKER`` instead of failing, so the caller can
    tell "no such directory" from "no files"."""
    q = shlex.quote(root)
    return (
        f"if [ -d {q} ]; then find {q} -maxdepth {int(max_depth)} -name {shlex.quote(name)} "
        f"-type f -printf '{FIND_FORMAT}' 2>/dev/null | head -n {int(max_files)}; "
        f"else echo {NO_DIR_MARKER}; fi"
    )


def parse_find_sizes(text: str, source: str) -> list[FoundFile]:
    """Parse ``%s %b %p`` lines; a line that is not two integers and a path is an error."""
    found: list[FoundFile] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
            raise CloudtalesError(
                f"{source}:{lineno}: expected '<size> <blocks> <path>' from find -printf, "
                f"got {line[:80]!r}"
            )
        found.append(FoundFile(path=parts[2], size=int(parts[0]), allocated=int(parts[1]) * 512))
    return found


def human_bytes(n: int | float) -> str:
    """Sizes the way ``ls -sh`` prints them, with binary units spelled out.

    >>> human_bytes(5905580032)
    '5.5 GiB'
    >>> human_bytes(512)
    '512 B'
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
