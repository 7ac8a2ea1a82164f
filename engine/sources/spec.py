"""What a named data source is: typed parameters, a live command, sosreport paths.

A check asks for data by name and parameters (``ip_link``, ``nova_conf(path=...)``),
never by command string. Each ``Source`` says how to read it live (a shell command with
bounded output), where it lands in a sosreport (paths or globs relative to the report's
root), which parser reads it, and whether it can exist offline at all (a capture, a ping
sweep or an SQL count cannot: ``offline=False``, ``sos=()``).

Parameters are a pydantic model; interface and path fields use ``Iface`` and ``AbsPath``,
validated with the inventory's own rules (``engine.remote.host_vars``), so a bad value
is refused before it reaches a command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from engine.errors import CloudtalesError
from engine.remote.host_vars import REASONS, shown, valid_interface, valid_path

Kind = Literal["text", "bytes", "lines"]


def _iface(value: str) -> str:
    if not valid_interface(value):
        raise ValueError(f"{shown(value)} {REASONS['interface']}")
    return value


def _path(value: str) -> str:
    if not valid_path(value):
        raise ValueError(f"{shown(value)} {REASONS['path']}")
    return value


Iface = Annotated[str, AfterValidator(_iface)]
AbsPath = Annotated[str, AfterValidator(_path)]


class SourceParams(BaseModel):
    """Base of every source's parameters: frozen, no unknown field."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(SourceParams):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    live: Callable[[Any], str]  # params model -> shell command (bounded output)
    params: type[SourceParams] = NoParams
    kind: Kind = "text"
    sos: tuple[str, ...] = ()  # paths/globs under the sosreport root
    offline: bool = True  # False: cannot exist in a sosreport (capture, ping, SQL)
    parser: str = ""  # the function that reads it, for documentation
    sos_note: str = ""  # why there are no sos paths although offline (or extra detail)

    def bind(self, values: dict[str, Any]) -> SourceParams:
        """The validated parameters, or one line naming the source and the field."""
        try:
            return self.params(**values)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "-"
            raise CloudtalesError(
                f"source {self.name}: parameter {field}: {first['msg']}"
            ) from None

    def command(self, values: dict[str, Any]) -> str:
        return self.live(self.bind(values))


def canonical(params: SourceParams) -> str:
    """Parameters as one stable key: ``iface=bond0,snaplen=96`` (sorted, JSON-free)."""
    data = params.model_dump()
    return ",".join(f"{k}={data[k]}" for k in sorted(data))
