"""Parse ``qemu-img info --output=json`` (one image) and ``--backing-chain`` (a list).

The chain is read from JSON, never from the human format. When a backing file is
missing, ``--backing-chain`` fails and says which file it could not open; the overlay
alone (``qemu-img info`` without ``--backing-chain``) still names its backing file.

>>> chain = parse_qemu_img_info('[{"filename": "disk", "format": "qcow2", '
...     '"virtual-size": 1073741824, "full-backing-filename": "/b/_base/ab", '
...     '"backing-filename": "/b/_base/ab", "backing-filename-format": "raw"}, '
...     '{"filename": "/b/_base/ab", "format": "raw", "virtual-size": 1073741824}]', "c1: disk")
>>> [(i.filename, i.format, i.backing) for i in chain]
[('disk', 'qcow2', '/b/_base/ab'), ('/b/_base/ab', 'raw', None)]
>>> missing_file_in_error(
...     "qemu-img: Could not open '/v/disk': Could not open backing file: "
...     "Could not open '/v/_base/ab': No such file or directory")
'/v/_base/ab'
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from engine.errors import CloudtalesError

_NOT_FOUND = re.compile(r"Could not open '([^']+)': No such file or directory")


@dataclass(frozen=True)
class ImageInfo:
    """One layer of a disk: the file, its format, and the backing file it names."""

    filename: str
    format: str
    virtual_size: int | None = None
    actual_size: int | None = None
    backing_filename: str | None = None  # as written in the image header
    full_backing_filename: str | None = None  # resolved against the image's directory
    backing_format: str | None = None

    @property
    def backing(self) -> str | None:
        """The backing file's path as qemu resolves it (None: the end of the chain)."""
        return self.full_backing_filename or self.backing_filename


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _image(obj: Any, source: str, index: int) -> ImageInfo:
    if not isinstance(obj, dict):
        raise CloudtalesError(f"{source}: qemu-img info entry {index} is not a JSON object")
    filename, fmt = _str(obj.get("filename")), _str(obj.get("format"))
    if filename is None or fmt is None:
        raise CloudtalesError(
            f"{source}: qemu-img info entry {index} has no 'filename' or 'format'"
        )
    backing = _str(obj.get("backing-filename"))
    full = _str(obj.get("full-backing-filename"))
    return ImageInfo(
        filename=filename,
        format=fmt,
        virtual_size=_int(obj.get("virtual-size")),
        actual_size=_int(obj.get("actual-size")),
        backing_filename=backing,
        full_backing_filename=full,
        backing_format=_str(obj.get("backing-filename-format")),
    )


def parse_qemu_img_info(text: str, source: str) -> list[ImageInfo]:
    """Images from ``qemu-img info --output=json`` (a dict) or ``--backing-chain`` (a list)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CloudtalesError(
            f"{source}: qemu-img info did not print JSON (line {getattr(exc, 'lineno', '?')}: "
            f"{getattr(exc, 'msg', exc)})"
        ) from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise CloudtalesError(f"{source}: qemu-img info printed an empty list")
    return [_image(obj, source, i) for i, obj in enumerate(items)]


def missing_file_in_error(stderr: str) -> str | None:
    """The innermost file qemu-img could not open because it does not exist."""
    found = _NOT_FOUND.findall(stderr)
    return found[-1] if found else None


def resolve_backing(image_path: str, backing: str) -> str:
    """A relative backing file name is relative to the image's own directory."""
    if posixpath.isabs(backing):
        return posixpath.normpath(backing)
    return posixpath.normpath(posixpath.join(posixpath.dirname(image_path), backing))
