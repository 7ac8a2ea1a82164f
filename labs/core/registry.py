"""Every lab cloudtales can build, by name."""

from __future__ import annotations

from engine.errors import CloudtalesError
from labs.compute_service_down.lab import ComputeServiceDownLab
from labs.conntrack_full.lab import ConntrackFullLab, restore_orphaned_max
from labs.core.base import Lab
from labs.disappearing_images.lab import DisappearingImagesLab
from labs.dns.lab import DnsForwarderLab
from labs.double_vlan.lab import DoubleVlanLab
from labs.havana.lab import HavanaLab
from labs.metadata.lab import MetadataLab
from labs.neighbour_overflow.lab import NeighbourOverflowLab, restore_orphaned_thresholds
from labs.overlay_mtu.lab import OverlayMtuLab
from labs.rabbit_hole.lab import RabbitHoleLab
from labs.security_group.lab import SecurityGroupLab
from labs.the_issue.lab import TheIssueLab
from labs.valentines.lab import ValentinesLab

LABS: dict[str, Lab] = {
    lab.name: lab
    for lab in (
        DoubleVlanLab(),
        RabbitHoleLab(),
        DisappearingImagesLab(),
        ValentinesLab(),
        HavanaLab(),
        TheIssueLab(),
        MetadataLab(),
        SecurityGroupLab(),
        OverlayMtuLab(),
        DnsForwarderLab(),
        ComputeServiceDownLab(),
        ConntrackFullLab(),
        NeighbourOverflowLab(),
    )
}


def get_lab(name: str) -> Lab:
    restore_orphaned_max()  # a global nf_conntrack_max a crashed lab left lowered
    restore_orphaned_thresholds()  # the global ARP gc_thresh1/2/3 likewise
    try:
        return LABS[name]
    except KeyError:
        known = ", ".join(sorted(LABS))
        raise CloudtalesError(f"unknown lab {name!r} (known: {known})") from None
