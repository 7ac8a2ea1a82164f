"""Run a check's reads concurrently, and fail as one error naming every host that failed.

``asyncio.gather`` without ``return_exceptions`` raises the first error and leaves the
others running, their errors never retrieved (a traceback at shutdown). ``gather_all``
waits for every read, then raises one ``CloudtalesError`` that names each failing host,
so the inconclusive ending can say which hosts could not be checked.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar, overload

from engine.errors import CloudtalesError

_A = TypeVar("_A")
_B = TypeVar("_B")
_C = TypeVar("_C")


@overload
async def gather_all(aws: Iterable[Awaitable[_A]], /) -> list[_A]: ...
@overload
async def gather_all(a: Awaitable[_A], b: Awaitable[_B], /) -> tuple[_A, _B]: ...
@overload
async def gather_all(
    a: Awaitable[_A], b: Awaitable[_B], c: Awaitable[_C], /
) -> tuple[_A, _B, _C]: ...


async def gather_all(*args: Any) -> Any:
    """``gather_all(iterable)`` -> a list; ``gather_all(a, b[, c])`` -> a tuple."""
    one_iterable = len(args) == 1 and not inspect.isawaitable(args[0])
    aws = list(args[0]) if one_iterable else list(args)
    results = await asyncio.gather(*aws, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for err in errors:
        if not isinstance(err, Exception):  # a cancel (or an exit) is not a check's error
            raise err
    if errors:
        raise _one_error(errors)
    return list(results) if one_iterable else tuple(results)


def _one_error(errors: list[BaseException]) -> BaseException:
    if len(errors) == 1 or not all(isinstance(e, CloudtalesError) for e in errors):
        return errors[0]
    texts = list(dict.fromkeys(str(e) for e in errors))
    hosts = [h for e in errors if isinstance(e, CloudtalesError) and (h := e.host)]
    commands = [c for e in errors if isinstance(e, CloudtalesError) and (c := e.command)]
    return CloudtalesError(
        "; ".join(texts),
        host=",".join(dict.fromkeys(hosts)) or None,
        command=commands[0] if commands else None,
    )
