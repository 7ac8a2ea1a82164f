"""``import asyncssh`` without its liboqs search spawning gcc and ld.

asyncssh looks for liboqs (post-quantum key exchange) at import with
``ctypes.util.find_library``, for two names. Where the library is not installed (the
usual case), each lookup runs ``ldconfig -p``, then ``gcc`` and ``ld`` as fallbacks:
six processes and 20 to 40 ms of every ``cloudtales`` start that connects anywhere
(measured here, gcc installed). During that one import the lookup consults the
ldconfig cache only, which is where a packaged liboqs is found; asyncssh behaves as
before when it is there.
"""

from __future__ import annotations

import ctypes.util
import sys

if "asyncssh" not in sys.modules:
    _find_library = ctypes.util.find_library
    _ldconfig = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if _ldconfig is not None and sys.platform.startswith("linux"):
        ctypes.util.find_library = _ldconfig
    try:
        import asyncssh
    finally:
        ctypes.util.find_library = _find_library
else:
    import asyncssh

__all__ = ["asyncssh"]
