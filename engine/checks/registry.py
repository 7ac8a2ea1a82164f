"""The catalogue of check types, discovered: adding a check type is one module in this
package (it calls ``register``) and one detector; nothing to list here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from engine.checks.base import CheckType
from engine.errors import CloudtalesError

_SKIP = {"base", "registry", "gather"}  # building blocks, not checks


def _check_modules() -> list[str]:
    """Every module of this package: a new check is a new module, with no line to add here."""
    package = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(package)]) if m.name not in _SKIP)
    return [f"{__package__}.{name}" for name in names]


_REGISTRY: dict[str, CheckType] = {}


def register(check_type: CheckType) -> CheckType:
    _REGISTRY[check_type.name] = check_type
    return check_type


def check_types() -> dict[str, CheckType]:
    """Every registered check type. Imports each check module (a no-op once imported), so
    a module imported directly first cannot hide the others."""
    for mod in _check_modules():
        importlib.import_module(mod)
    return dict(_REGISTRY)


def get_check_type(name: str) -> CheckType:
    types = check_types()
    try:
        return types[name]
    except KeyError:
        raise CloudtalesError(
            f"unknown check type {name!r} (known: {', '.join(sorted(types))})"
        ) from None
