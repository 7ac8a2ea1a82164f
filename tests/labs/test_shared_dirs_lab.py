"""Issue 12, for real: two labs binding /etc/netns/NS/nova over /etc/nova, up at once.

metadata and double-vlan both need /etc/nova; whichever goes down first must leave it
to the other, whose namespaces still read their nova.conf through it, and the second
``down`` removes it when a lab made it (the machine's own /etc/nova stays).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.core import netns, shared_dirs
from labs.core.registry import get_lab
from labs.double_vlan.lab import COMPUTE, DoubleVlanLab
from labs.metadata.lab import MetadataLab

pytestmark = pytest.mark.lab
NOVA = Path("/etc/nova")


def compute_nova_conf() -> str:
    argv = netns.in_ns(COMPUTE.netns, ["cat", "/etc/nova/nova.conf"])
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    return done.stdout + done.stderr


@pytest.fixture
def labs() -> Iterator[tuple[MetadataLab, DoubleVlanLab]]:
    md, dv = get_lab("metadata"), get_lab("double-vlan")
    assert isinstance(md, MetadataLab)
    assert isinstance(dv, DoubleVlanLab)
    md.down()
    dv.down()
    yield md, dv
    md.down()
    dv.down()


def test_the_first_down_leaves_etc_nova_to_the_other_lab(
    labs: tuple[MetadataLab, DoubleVlanLab],
) -> None:
    md, dv = labs
    had_nova = NOVA.exists()
    md.up()
    dv.up()
    assert "vlan_interface=vlan20" in compute_nova_conf()
    removed = md.down()
    assert str(NOVA) not in removed
    assert NOVA.is_dir()
    assert "vlan_interface=vlan20" in compute_nova_conf()  # still bound over /etc/nova
    dv.down()
    if had_nova or shared_dirs.bound_over(NOVA):  # the machine's, or another lab's in use
        assert NOVA.is_dir()
    else:
        assert not NOVA.exists()
