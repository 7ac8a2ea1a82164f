"""Operator-facing errors: one line, naming the file, host or field at fault.

An error may say which host it is about and which command failed there: a check that
could not run ends as an error (never as a negative finding), and the inconclusive
ending names the host and the command to try by hand from these two attributes.
"""

from __future__ import annotations


class CloudtalesError(Exception):
    """An error the CLI prints as a single line (never a traceback)."""

    def __init__(self, message: str, *, host: str | None = None, command: str | None = None):
        super().__init__(message)
        self.host = host
        self.command = command


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

    def __init__(self, host: str, message: str, command: str | None = None) -> None:
        super().__init__(f"host {host}: {message}", host=host, command=command)


class CheckTimeoutError(CloudtalesError):
    pass
