"""labs/core/global_setting.py on plain files (no root, no kernel): saved before it is
written, given back on restore and after a crash, the undo hook run with what was saved."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from labs.core.global_setting import GlobalSetting


def files(tmp_path: Path, **values: int) -> dict[str, Path]:
    paths = {}
    for name, value in values.items():
        path = tmp_path / name
        path.write_text(f"{value}\n")
        paths[name] = path
    return paths


@pytest.fixture
def undone() -> list[Mapping[str, Any]]:
    return []


@pytest.fixture
def setting(tmp_path: Path, undone: list[Mapping[str, Any]]) -> GlobalSetting:
    paths = files(tmp_path, gc_thresh1=128, gc_thresh2=512, gc_thresh3=1024)
    return GlobalSetting("t", paths, undo=undone.append, state_dir=tmp_path / "state")


def test_lower_saves_the_originals_before_writing(setting: GlobalSetting) -> None:
    seen: list[dict[str, Any] | None] = []
    low = {"gc_thresh1": 16, "gc_thresh2": 32, "gc_thresh3": 64}
    original = setting.lower(
        low, "lab", extra={"pins": [1]}, prepare=lambda: seen.append(setting.saved())
    )
    assert original == {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}
    assert seen[0] is not None  # saved before prepare ran
    assert seen[0]["original"] == original
    assert setting.current() == low
    doc = json.loads(setting.saved_path.read_text())
    assert (doc["lab"], doc["extra"]) == ("lab", {"pins": [1]})


def test_restore_gives_back_and_runs_the_undo(
    setting: GlobalSetting, undone: list[Mapping[str, Any]]
) -> None:
    setting.lower({"gc_thresh3": 64}, "lab", extra={"pins": [1]})
    assert setting.restore() == {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}
    assert setting.current()["gc_thresh3"] == 1024
    assert setting.saved() is None
    assert undone == [{"pins": [1]}]
    assert setting.restore() is None  # nothing lowered: nothing to give back


def test_a_second_lower_keeps_the_true_originals(setting: GlobalSetting) -> None:
    setting.lower({"gc_thresh3": 64}, "lab")
    assert setting.lower({"gc_thresh3": 32}, "lab")["gc_thresh3"] == 1024
    setting.restore()
    assert setting.current()["gc_thresh3"] == 1024


def test_orphaned_values_come_back_only_when_the_lab_is_gone(setting: GlobalSetting) -> None:
    setting.lower({"gc_thresh3": 64}, "lab")
    assert setting.restore_orphaned(lambda: True) is None
    assert setting.current()["gc_thresh3"] == 64
    assert setting.restore_orphaned(lambda: False) is not None
    assert setting.current()["gc_thresh3"] == 1024


def test_an_unwritable_file_is_one_line(tmp_path: Path) -> None:
    from engine.errors import CloudtalesError

    missing = GlobalSetting("m", {"x": tmp_path / "no" / "such"}, state_dir=tmp_path / "s")
    with pytest.raises(CloudtalesError, match="cannot write 5"):
        missing._write("x", 5)
