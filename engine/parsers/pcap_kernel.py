"""The optional compiled kernel of the capture scanner (``pcap_kernel.c``) via ctypes.

``python -m engine.parsers.pcap_kernel build`` compiles it with gcc into
``pcap_kernel.ctypes.so`` next to this file (``.ci/setup`` runs it). ``load()`` returns None
when the library is missing, stale (another ABI) or ``CLOUDTALES_PURE_PYTHON=1`` is
set; ``engine.parsers.pcap_scan`` then uses its pure-Python path, which gives the same
findings.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from array import array
from pathlib import Path

ABI = 5  # KERNEL_ABI in pcap_kernel.c
SOURCE = Path(__file__).with_name("pcap_kernel.c")
# not "<name>.so": pkgutil would list that as an (unimportable) extension module
LIBRARY = Path(__file__).with_name("pcap_kernel.ctypes.so")
STACK_SLOTS = 65536
STACK_FILL = 49152
MAX_IFACES = 256
MAX_EXAMPLES = 5


class KernelState(ctypes.Structure):
    """Mirror of ``scan_state`` in pcap_kernel.c (checked against its size on load)."""

    _fields_ = [  # noqa: RUF012 - ctypes needs a class attribute
        ("limit", ctypes.c_uint32),
        ("linktype", ctypes.c_uint32),
        ("big_endian", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("frames", ctypes.c_uint64),
        ("depth", ctypes.c_uint64 * 3),
        ("oversize", ctypes.c_uint64),
        ("double_over", ctypes.c_uint64),
        ("largest", ctypes.c_uint64),
        ("ex_double", ctypes.c_uint32),
        ("ex_other", ctypes.c_uint32),
        ("stacks_used", ctypes.c_uint32),
        ("dead", ctypes.c_uint32),
        ("single", ctypes.c_uint64 * 4096),
        ("stack_key", ctypes.c_uint32 * STACK_SLOTS),
        ("stack_count", ctypes.c_uint64 * STACK_SLOTS),
        ("stack_used", ctypes.c_uint32 * STACK_FILL),
        ("lt_frames", ctypes.c_uint64 * 3),
        ("n_ifaces", ctypes.c_uint32),
        ("iface_linktype", ctypes.c_uint32 * MAX_IFACES),
        ("iface_units", ctypes.c_double * MAX_IFACES),
        ("iface_offset", ctypes.c_double * MAX_IFACES),
    ]

    def linktype_counts(self) -> dict[int, int]:
        """Link type -> frames tallied here."""
        return {lt: n for lt, n in zip((1, 113, 276), self.lt_frames, strict=True) if n}

    def single_counts(self) -> dict[int, int]:
        """VID -> frames with exactly that one tag."""
        counts = array("Q", bytes(self.single))  # one copy, not 4096 ctypes reads
        return {vid: n for vid, n in enumerate(counts) if n}

    def stack_counts(self) -> dict[tuple[int, int], int]:
        """(outer, inner) VID -> frames with exactly those two tags."""
        out: dict[tuple[int, int], int] = {}
        keys, counts = self.stack_key, self.stack_count
        for slot in self.stack_used[: self.stacks_used]:
            key = keys[slot] - 1
            out[(key >> 12, key & 0xFFF)] = counts[slot]
        return out


class Kernel:
    """The loaded library: ``scan`` walks classic pcap records or pcapng blocks (see
    pcap_kernel.c)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._walks = {"pcap": lib.pcap_kernel_scan, "pcapng": lib.pcapng_kernel_scan}
        for walk in self._walks.values():
            walk.restype = ctypes.c_long
            walk.argtypes = [
                ctypes.POINTER(KernelState),
                ctypes.c_void_p,
                ctypes.c_long,
                ctypes.c_long,
                ctypes.c_void_p,
                ctypes.c_long,
                ctypes.POINTER(ctypes.c_long),
            ]
        self._n = ctypes.c_long()

    def scan(
        self,
        fmt: str,
        state: KernelState,
        buf_addr: int,
        pos: int,
        end: int,
        out: ctypes.Array[ctypes.c_uint64],
    ) -> tuple[int, int]:
        """(position reached, entries written to ``out``); ``fmt``: pcap or pcapng."""
        reached = self._walks[fmt](
            ctypes.byref(state), buf_addr, pos, end, ctypes.addressof(out), len(out), self._n
        )
        return int(reached), self._n.value


_loaded: list[Kernel | None] = []


def load() -> Kernel | None:
    """The compiled kernel, or None (missing, stale, or pure Python requested)."""
    if _loaded:
        return _loaded[0]
    kernel = None
    if os.environ.get("CLOUDTALES_PURE_PYTHON") != "1" and LIBRARY.exists():
        try:
            lib = ctypes.CDLL(str(LIBRARY))
            abi = lib.pcap_kernel_abi()
            lib.pcap_kernel_state_size.restype = ctypes.c_size_t
            size = lib.pcap_kernel_state_size()
        except (OSError, AttributeError):
            abi = size = -1
        if abi == ABI and size == ctypes.sizeof(KernelState):
            kernel = Kernel(lib)
    _loaded.append(kernel)
    return kernel


def build(cc: str = "gcc") -> Path:
    """Compile pcap_kernel.c into pcap_kernel.ctypes.so (atomically replaced)."""
    tmp = LIBRARY.with_name("pcap_kernel.ctypes.tmp")
    cmd = [cc, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(tmp), str(SOURCE)]
    subprocess.run(cmd, check=True)
    tmp.replace(LIBRARY)
    return LIBRARY


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m engine.parsers.pcap_kernel build")
    print(f"built {build()}")
