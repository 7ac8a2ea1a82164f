"""Network sources: links, bonds, bridges, NIC features, captures."""

from __future__ import annotations

import shlex
from typing import Literal

from engine.parsers.ethtool import ethtool_command
from engine.sources.registry import register
from engine.sources.spec import AbsPath, Iface, NoParams, Source, SourceParams

EXTRAS = "sos_commands/sos_extras/cloudtales/"


class IfaceParams(SourceParams):
    iface: Iface


class BondingParams(SourceParams):
    path: AbsPath = "/proc/net/bonding/bond0"  # a lab keeps its status file elsewhere


def _bonding(p: BondingParams) -> str:
    return f"head -c 65536 -- {shlex.quote(p.path)}"


class CaptureParams(SourceParams):
    iface: Iface
    snaplen: int = 256
    count: int = 100
    filter: str = ""
    direction: Literal["", "in", "out", "inout"] = ""  # tcpdump -Q
    backstop: int = 0  # s: `timeout` ends tcpdump on the host even if the channel is lost
    stats_every: int = 0  # s between SIGUSR1s: tcpdump then prints its counts (kernel drops)


def _capture(p: CaptureParams) -> str:
    head = f"exec timeout {p.backstop} " if p.backstop else ""
    only = f" -Q {p.direction}" if p.direction else ""
    bpf = f" {shlex.quote(p.filter)}" if p.filter else ""
    tcpdump = f"tcpdump -i {shlex.quote(p.iface)}{only} -U -w - -n -s {p.snaplen} -c {p.count}{bpf}"
    if not p.stats_every:
        return head + tcpdump
    # a capture stopped by closing its channel never shows tcpdump's exit summary: the
    # last count it printed on SIGUSR1 (a signal, so tcpdump is never held up) does
    ask = f"{{ while sleep {p.stats_every}; do kill -USR1 $p || exit; done; }} >/dev/null 2>&1"
    script = f"{tcpdump} & p=$!; {ask} & s=$!; wait $p; r=$?; kill $s; exit $r"
    return f"{head}sh -c {shlex.quote(script)}"


register(
    Source(
        "ip_link",
        "Links with details (ip -j -d link show)",
        live=lambda _p: "ip -j -d link show",
        params=NoParams,
        sos=(EXTRAS + "ip_-j_-d_link_show",),
        parser="engine.parsers.iplink.parse_ip_link",
    )
)
register(
    Source(
        "proc_net_bonding",
        "A bond's status (/proc/net/bonding/BOND)",
        live=_bonding,
        params=BondingParams,
        sos=("proc/net/bonding/*", "run/cloudtales/labs/*/*/proc-net-bonding/*"),
        sos_note="a lab's bond stand-in status file is copied under run/cloudtales/labs",
        parser="engine.parsers.proc_bonding.parse_proc_bonding",
    )
)
register(
    Source(
        "bridge_fdb",
        "Bridge forwarding database (bridge -j fdb show)",
        live=lambda _p: "bridge -j fdb show",
        sos=(EXTRAS + "bridge_-j_fdb_show",),
        parser="engine.checks.bpdu_source",
    )
)
register(
    Source(
        "ethtool_features",
        "A NIC's offload features (ethtool -k IFACE)",
        live=lambda p: ethtool_command(p.iface),
        params=IfaceParams,
        sos=("sos_commands/networking/ethtool_-k_*",),
        parser="engine.parsers.ethtool.parse_ethtool_features",
    )
)
SAMPLE_SEPARATOR = "--- cloudtales sample ---"


class SampleParams(SourceParams):
    iface: Iface
    interval: float = 2.0


def sample_command(iface: str, interval: float) -> str:
    """Two ``ip -s -j link show dev IFACE`` reads ``interval`` seconds apart."""
    show = f"ip -s -j link show dev {shlex.quote(iface)}"
    return f"{show} && sleep {interval:g} && echo '{SAMPLE_SEPARATOR}' && {show}"


register(
    Source(
        "link_stats_sample",
        "An interface's counters twice, INTERVAL seconds apart",
        live=lambda p: sample_command(p.iface, p.interval),
        params=SampleParams,
        offline=False,
        sos_note="a rate needs two reads now; sos holds one `ip -s -j link show`",
        parser="engine.parsers.iplink.parse_ip_link",
    )
)
register(
    Source(
        "capture",
        "Packets on an interface (tcpdump -w -), pcap bytes",
        live=_capture,
        params=CaptureParams,
        kind="bytes",
        offline=False,
        sos_note="a capture happens now: no sosreport holds it",
        parser="engine.parsers.pcap",
    )
)


class PingSizesParams(SourceParams):
    target: str
    sizes: tuple[int, ...] = (56, 1400, 1472)
    wait: int = 1


def ping_sizes_command(p: PingSizesParams) -> str:
    """One ``ping -M do`` (DF set, no fragmenting) per payload size: ``SIZE ok|fail``."""
    t = shlex.quote(p.target)
    sizes = " ".join(str(int(s)) for s in p.sizes)
    return (
        f"for s in {sizes}; do if ping -n -M do -c 1 -W {int(p.wait)} -s $s {t} "
        '>/dev/null 2>&1; then echo "$s ok"; else echo "$s fail"; fi; done'
    )


register(
    Source(
        "ping_sizes",
        "One ping -M do per payload size to TARGET (DF set): SIZE ok|fail",
        live=ping_sizes_command,
        params=PingSizesParams,
        offline=False,
        sos_note="a probe happens now: no sosreport holds it",
        parser="engine.detectors.overlay.parse_ping_sizes",
    )
)


class RouteParams(SourceParams):
    target: str


register(
    Source(
        "route_get",
        "The route this host takes to TARGET (ip -4 route get)",
        live=lambda p: f"ip -4 route get {shlex.quote(p.target)} 2>&1",
        params=RouteParams,
        offline=False,
        sos_note="asks the kernel now; sos keeps the routing tables, not a lookup",
        parser="engine.detectors.dns.judge_upstreams",
    )
)
