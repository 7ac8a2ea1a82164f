"""The control plane's own virtualenv: OpenStack's services from PyPI, cached by pin set.

The services (keystone, glance, placement, nova, gunicorn) never enter cloudtales'
runtime dependencies: they live in a venv of their own under ``CACHE_ROOT``, named
after a hash of ``requirements.txt`` (every package pinned by hand: OpenStack's
upper-constraints cannot be fetched here). A second ``lab up`` finds it and installs
nothing; changing a pin builds a new one beside it. A venv is complete only once its
stamp file is written, so an install killed halfway is removed and redone.

``python -m labs.control_plane.venv`` builds it (``.ci/setup`` runs it as root) and
prints its path and how long it took.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
CACHE_ROOT = Path("/var/cache/cloudtales")
STAMP = ".cloudtales-complete"
INSTALL_TIMEOUT = 900.0
PYTHON = sys.executable if sys.version_info >= (3, 11) else "python3"


def pin_hash(requirements: Path = REQUIREMENTS) -> str:
    """The first 12 hex digits of the requirements file's sha256 (its pins name the venv)."""
    return hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]


def venv_path(requirements: Path = REQUIREMENTS, root: Path = CACHE_ROOT) -> Path:
    return root / f"control-plane-{pin_hash(requirements)}"


def ready(path: Path) -> bool:
    return (path / STAMP).is_file() and (path / "bin" / "python").exists()


def base_python() -> str:
    """A python outside any venv, so the lab's venv does not chain to cloudtales' own."""
    return getattr(sys, "_base_executable", "") or PYTHON


def ensure(
    requirements: Path = REQUIREMENTS,
    root: Path = CACHE_ROOT,
    progress: object = None,
) -> Path:
    """The venv for these pins, built if missing; its path."""
    path = venv_path(requirements, root)
    if ready(path):
        return path
    say = progress if callable(progress) else (lambda _m: None)
    if path.exists():
        shutil.rmtree(path)  # a half-built one
    root.mkdir(parents=True, exist_ok=True)
    say(f"installing the control plane's venv into {path} (first time only, about 1-2 min)")
    _run([base_python(), "-m", "venv", str(path)], "create the venv", 120.0)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input"]
    _run([*pip, "-r", str(requirements)], f"pip install -r {requirements}", INSTALL_TIMEOUT)
    (path / STAMP).write_text(requirements.read_text())
    return path


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CloudtalesError(f"control plane venv: {what} timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        said = lines[-1] if lines else f"exit {proc.returncode}"
        raise CloudtalesError(f"control plane venv: {what} failed: {said}")


def main() -> int:
    started = time.monotonic()
    try:
        path = ensure(progress=lambda m: print(f"control plane: {m}", file=sys.stderr))
    except CloudtalesError as exc:
        print(f"control plane: {exc}", file=sys.stderr)
        return 1
    print(f"{path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
