"""Check ``dhcp_capture``: the instance's and the DHCP server's tcpdump, at the same time.

"We decided to have tcpdump run on this instance and see if we could catch it in
action": ``tcpdump -U -w -`` on the instance's interface and on the DHCP server's,
concurrently, DHCP only. Each message is matched across both points (xid, type,
retransmission), so the table says what the server sent and what the instance got:
``controller:br100 sent 3 ACK, instance:eth0 received 0``. Capturing stops early
once the picture is conclusive: a reply got through, or enough were lost and the
client went quiet (it gave up).
"""

from __future__ import annotations

import asyncio

from engine.analyzers.dhcp import BROADCAST, DhcpEvent, decode_dhcp
from engine.capture.points import Capture, CapturePoint, CaptureSpec, with_drops
from engine.checks.base import CheckContext, CheckParams, CheckType, LiveLine
from engine.checks.registry import register
from engine.detectors.dhcp import (
    DHCP_CAPTURE_OUTCOMES,
    DhcpPicture,
    dhcp_picture,
    judge_dhcp_conversation,
    settled,
)
from engine.errors import CloudtalesError
from engine.parsers.pcap import Frame
from engine.results import CheckResult

DHCP_FILTER = "udp and (port 67 or port 68)"


class DhcpCaptureParams(CheckParams):
    client: str  # host or role of the DHCP client (the instance)
    server: str  # host or role of the DHCP server (the controller)
    iface_var: str = "dhcp_iface"
    seconds: float = 45.0  # at most
    quiet_seconds: float = 5.0  # a client silent this long after lost replies gave up
    min_lost: int = 2
    snaplen: int = 1600


def _iface(point_host: object, var: str) -> str:
    vars_ = getattr(point_host, "vars", {})
    iface = vars_.get(var) or vars_.get("capture_iface")
    if not iface:
        name = getattr(point_host, "name", "?")
        raise CloudtalesError(f"host {name}: no {var} (or capture_iface) var to capture on")
    return str(iface)


async def run(ctx: CheckContext, params: DhcpCaptureParams) -> CheckResult:
    loop = asyncio.get_running_loop()
    client_host = ctx.inventory.resolve(params.client)[0]
    server_host = ctx.inventory.resolve(params.server)[0]
    client = CapturePoint(client_host, _iface(client_host, params.iface_var))
    server = CapturePoint(server_host, _iface(server_host, params.iface_var))
    if client.label == server.label:
        raise CloudtalesError(f"dhcp_capture: client and server are the same point {client.label}")
    started = loop.time()
    last_client_msg: list[float] = []

    def on_frame(point: CapturePoint, frame: Frame) -> None:
        msg = decode_dhcp(frame)
        if msg is None:
            return
        event = DhcpEvent(frame.ts, "", frame.ip_src or "", frame.ip_dst or "", msg)
        anomaly = None
        if point is client and msg.op == 1:
            last_client_msg.append(loop.time())
            if msg.type_name == "REQUEST" and event.dst == BROADCAST and msg.ciaddr != "0.0.0.0":
                anomaly = "renewal rebroadcast to 255.255.255.255: no answer heard"
        ctx.emit(LiveLine(point.label, f"xid 0x{msg.xid:08x} {event.line()}", anomaly))

    def quiet() -> bool:
        last = last_client_msg[-1] if last_client_msg else started
        return loop.time() - last >= params.quiet_seconds

    def picture() -> DhcpPicture:
        return dhcp_picture(
            {client.label: client.frames, server.label: server.frames}, client.label, server.label
        )

    arm_timeout = 10.0
    spec = CaptureSpec(
        bpf_filter=DHCP_FILTER,
        snaplen=params.snaplen,
        arm_timeout=arm_timeout,
        backstop=int(params.seconds + arm_timeout) + 5,
        stream_timeout=params.seconds + arm_timeout + 10,
    )
    async with Capture(ctx, [client, server], spec, on_frame) as capture:
        start = loop.time()
        await capture.wait(lambda: settled(picture(), params.min_lost, quiet()), params.seconds)
        await capture.drain(0.5)
        seconds = loop.time() - start
    final = picture()
    out = judge_dhcp_conversation(final, params.min_lost, quiet())
    facts = {**out.facts, "capture_seconds": round(seconds, 1)}
    tables = (
        [final.correlation.table("each DHCP message at both ends")]
        if final.correlation.packets
        else []
    )
    result = CheckResult(out.outcome, out.summary, facts, list(out.evidence), tables)
    return with_drops(result, [client, server])


register(
    CheckType(
        name="dhcp_capture",
        title="Capture DHCP on the instance and the DHCP server at once (tcpdump -U -w -)",
        outcomes=DHCP_CAPTURE_OUTCOMES,
        params=DhcpCaptureParams,
        run=run,
        facts=(
            "requests_sent",
            "requests_received",
            "server_replies",
            "replies_received",
            "replies_lost",
            "replies_sent_by_kind",
            "broadcast_requests",
            "client_gave_up",
            "conversations",
            "delivery",
            "packets_matched",
            "packets_seen_everywhere",
            "packets_delivered",
            "packets_lost",
            "lost_after",
            "tag_added_at",
            "tag_removed_at",
            "size_changed_at",
            "first_stacking_point",
            "capture_seconds",
            "kernel_drops",
            "kernel_drops_total",
        ),
    )
)
