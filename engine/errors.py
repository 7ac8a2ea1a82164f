"""Operator-facing errors: one line, naming the file, host or field at fault."""

from __future__ import annotations


class CloudtalesError(Exception):
    """An error the CLI prints as a single line (never a traceback)."""


class PlaybookError(CloudtalesError):
    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class InventoryError(CloudtalesError):
    pass


class TransportError(CloudtalesError):
    """A host could not be reached or a command could not be started."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"host {host}: {message}")


class CheckTimeoutError(CloudtalesError):
    pass
