"""Read-only libvirt access: every domain's XML and state from a URI.

``qemu+ssh://root@host/system`` in production, ``test:///abs/path/node.xml`` (libvirt's
test driver, no daemon) in labs and rehearsals. libvirt-python blocks: call
``domain_xmls`` in a thread. Errors become one line naming the URI; libvirt's own
printing to stderr is silenced, and a test driver file that does not exist is refused
before libxml2 can print its "I/O warning" over the operator's screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError

TEST_PREFIX = "test://"


def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError:
        raise CloudtalesError(
            "libvirt-python is not installed (pip install libvirt-python; needs libvirt-dev)"
        ) from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def message(exc: Exception) -> str:
    """libvirt's error message on one line (at most 200 characters)."""
    get = getattr(exc, "get_error_message", None)
    text = str(get() if get else exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def domain_xmls(uri: str) -> list[tuple[str, int]]:
    """(domain XML, state) of every domain, active or not. Blocking."""
    if uri.startswith(TEST_PREFIX):
        path = uri[len(TEST_PREFIX) :]
        if path.startswith("/") and path != "/default" and not Path(path).is_file():
            raise CloudtalesError(f"libvirt {uri}: no such test driver file")
    libvirt = _libvirt()
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        raise CloudtalesError(f"libvirt {uri}: {message(exc)}") from None
    try:
        return [(str(dom.XMLDesc(0)), int(dom.state()[0])) for dom in conn.listAllDomains(0)]
    except libvirt.libvirtError as exc:
        raise CloudtalesError(f"libvirt {uri}: {message(exc)}") from None
    finally:
        conn.close()
