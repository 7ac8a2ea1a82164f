"""labs/core/shared_dirs: a shared /etc dir made by one lab goes with the last lab using it.

Issue 12: compute-service-down and metadata both bind /etc/netns/NS/nova over /etc/nova;
the one that made /etc/nova removed it on ``down`` while the other was still up. Here
on a scratch /etc (no root needed): two claiming labs, and a lab that does not claim
but whose namespace binds over the dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.core import shared_dirs
from labs.core.base import LabState


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "run" / "labs"
    monkeypatch.setattr(shared_dirs, "RUN_ROOT", root)
    monkeypatch.setattr(shared_dirs, "CLAIMS", tmp_path / "run" / "shared-dirs")
    monkeypatch.setattr(shared_dirs, "ETC_NETNS", tmp_path / "etc" / "netns")
    (tmp_path / "etc").mkdir()
    return tmp_path / "etc"


def up(lab: str, dirs: list[Path]) -> list[str]:
    """What a lab's build does: its state saved, then the dirs claimed; what it made."""
    made = [str(d) for d in dirs if not d.exists()]
    LabState(mode="m", healthy=False, created_paths=made).save(
        shared_dirs.RUN_ROOT / lab / "state.json"
    )
    shared_dirs.claim(lab, dirs)
    return made


def down(lab: str, made: list[str]) -> list[str]:
    removed = shared_dirs.release(lab, made)
    (shared_dirs.RUN_ROOT / lab / "state.json").unlink()
    return removed


def test_the_lab_that_made_it_leaves_it_to_the_other_and_the_last_removes_it(etc: Path) -> None:
    nova = etc / "nova"
    made_a = up("metadata", [nova])
    made_b = up("double-vlan", [nova])
    assert (made_a, made_b) == ([str(nova)], [])
    assert down("metadata", made_a) == []
    assert nova.is_dir()  # double-vlan's namespaces still bind over it
    assert down("double-vlan", made_b) == [str(nova)]
    assert not nova.exists()
    assert not shared_dirs.CLAIMS.exists()


def test_either_order(etc: Path) -> None:
    nova = etc / "nova"
    made_a = up("metadata", [nova])
    made_b = up("double-vlan", [nova])
    assert down("double-vlan", made_b) == []
    assert nova.is_dir()
    assert down("metadata", made_a) == [str(nova)]
    assert not nova.exists()


def test_a_lab_that_does_not_claim_keeps_it_while_its_namespace_binds_over_it(etc: Path) -> None:
    nova = etc / "nova"
    made = up("metadata", [nova])
    bind = shared_dirs.ETC_NETNS / "ct-cs-controller" / "nova"
    bind.mkdir(parents=True)  # compute-service-down, up, with its own nova.conf dir
    assert down("metadata", made) == []
    assert nova.is_dir()
    bind.parent.rename(etc / "gone")  # its down removes /etc/netns/ct-cs-*
    # its down releases with what it made (nothing): the dir it was handed goes
    assert shared_dirs.release("compute-service-down", []) == [str(nova)]
    assert not nova.exists()


def test_a_dir_the_host_had_is_never_removed(etc: Path) -> None:
    nova = etc / "nova"
    nova.mkdir()
    made = up("metadata", [nova])
    assert made == []
    assert down("metadata", made) == []
    assert nova.is_dir()
    assert not shared_dirs.CLAIMS.exists()


def test_a_crashed_labs_claim_does_not_hold_it(etc: Path) -> None:
    nova = etc / "nova"
    made = up("metadata", [nova])
    up("double-vlan", [nova])
    (shared_dirs.RUN_ROOT / "double-vlan" / "state.json").unlink()  # its run dir is gone
    assert down("metadata", made) == [str(nova)]
