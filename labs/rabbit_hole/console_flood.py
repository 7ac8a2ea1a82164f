"""What "Down the Rabbit Hole" leaves on disk, written as files: an emulation.

No guest and no nova run here, so this module writes what they would have left:

* each instance's ``console.log`` (a normal boot log) and ``libvirt.xml``;
* for the broken instance, a 5.5 GiB console.log: SPARSE (``os.truncate``), then
  8 MiB of the guest's real-looking failure spew at its end. Its apparent size,
  what nova's ``get_console_output`` would read and ship, is the tale's 5.5G;
  ``ls -s`` shows only the blocks of the text;
* the nova-api log (oslo.log format, ``debug = True`` as in the tale) of the last
  ten minutes: the dashboard user's console refreshes every ~3 s, the boots that
  take a minute, the usual listings. ``--healthy`` writes a quiet one;
* the JSON bodies of the RPC messages (oslo envelope, as nova's rpc layer sent them
  from Grizzly on) the lab publishes into the real RabbitMQ.

Everything is seeded, so two builds write the same bytes (timestamps aside).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

HUGE_CONSOLE_BYTES = int(5.5 * 1024**3)  # the tale's `ls -sh`: 5.5G
SPEW_BYTES = 8 * 1024 * 1024  # real text at the end of the sparse file
TENANT = "4c1f6b2d9a8e4f37b5d0c2a1e9f87b36"
USER = "b2e6f0c4a1d94e6f8c3b5a7d9e1f2a40"
DASHBOARD_IP = "10.250.5.1"
API_URL = "http://10.250.5.1:8774"
WINDOW = timedelta(minutes=10)
SEED = 832507  # the upstream bug


@dataclass(frozen=True)
class Instance:
    host: str
    uuid: str
    name: str  # libvirt domain name (instance_name_template instance-%08x)
    broken: bool = False


INSTANCES = (
    Instance("cc11", "1d4f7a2c-8e3b-4f6a-9c5d-2b7e8a1f0df1", "instance-00000df1"),
    Instance("cc11", "6a2e9c4b-1f7d-4e8a-b3c6-5d9f2a7e0df7", "instance-00000df7"),
    Instance("cc12", "3f8b2d6e-9a1c-4b7f-8e2d-6c4a9f1b0e01", "instance-00000e01"),
    Instance("cc12", "9b7e2c4a-3f1d-4c6b-8e0a-7d2f5c1e0e05", "instance-00000e05", broken=True),
    Instance("cc12", "c5a1e7f3-2b9d-4a6c-9f8e-1d3b7c5a0e09", "instance-00000e09"),
)
BROKEN = next(i for i in INSTANCES if i.broken)

_BOOT = (
    "Initializing cgroup subsys cpuset",
    "Linux version 3.2.0-58-virtual (buildd@allspice) (gcc version 4.6.3) #88-Ubuntu SMP",
    "Command line: root=LABEL=cloudimg-rootfs ro console=ttyS0",
    "KERNEL supported cpus:",
    "BIOS-provided physical RAM map:",
    "Booting paravirtualized kernel on KVM",
    "Console: colour VGA+ 80x25",
    "console [ttyS0] enabled",
    "Freeing unused kernel memory: 928k freed",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode. Opts: (null)",
    "virtio-pci 0000:00:03.0: PCI INT A -> Link[LNKC] -> GSI 11 (level, high) -> IRQ 11",
    "cloud-init start-local running: Mon, 04 Nov 2013 09:12:01 +0000. up 3.12 seconds",
    "ci-info: +++++++++++++++++++++++Net device info+++++++++++++++++++++++",
    "ci-info: |  eth0  | True |  10.0.0.12  | 255.255.255.0 | fa:16:3e:5b:0e:05 |",
    "Generating public/private rsa key pair.",
    "Cloud-init v. 0.7.2 finished at Mon, 04 Nov 2013 09:12:09 +0000. Up 11.87 seconds",
)
_SPEW = (
    "end_request: I/O error, dev vda, sector 0",
    "Buffer I/O error on device vda1, logical block 0",
    "lost page write due to I/O error on vda1",
    "EXT4-fs error (device vda1): ext4_find_entry:935: inode #2: comm init: reading dir",
)


def boot_log(instance: Instance) -> str:
    rng = random.Random(f"{SEED}{instance.uuid}")
    lines, t = [], 0.0
    for _ in range(6):  # a few reboots' worth: tens of KiB, as normal logs are
        for msg in _BOOT:
            t += rng.uniform(0.001, 0.4)
            lines.append(f"[{t:12.6f}] {msg}")
        lines.append(f"Ubuntu 12.04.3 LTS {instance.name} ttyS0\n\n{instance.name} login: ")
    return "\n".join(lines) + "\n"


def failure_spew(size: int = SPEW_BYTES, start: float = 9312.0) -> str:
    """Kernel I/O errors over and over, about 64 bytes a line (the tale's 5.5G held
    92,890,453 lines: 63.6 bytes each)."""
    out: list[str] = []
    total, t, i = 0, start, 0
    while total < size:
        t += 0.000009
        line = f"[{t:12.6f}] {_SPEW[i % len(_SPEW)]}\n"
        out.append(line)
        total += len(line)
        i += 1
    return "".join(out)


def write_sparse_console(path: Path, apparent_size: int, text: str) -> None:
    """A file of ``apparent_size`` bytes: a hole, then ``text`` at the very end."""
    data = text.encode()
    with path.open("wb") as f:
        os.truncate(f.fileno(), apparent_size - len(data))
        f.seek(0, os.SEEK_END)
        f.write(data)


def libvirt_xml(instance: Instance, console_log: Path) -> str:
    return (
        "<domain type='kvm'>\n"
        f"  <uuid>{instance.uuid}</uuid>\n"
        f"  <name>{instance.name}</name>\n"
        "  <memory>2097152</memory>\n  <vcpu>1</vcpu>\n  <devices>\n"
        f"    <serial type='file'>\n      <source path='{console_log}'/>\n    </serial>\n"
        "    <serial type='pty'/>\n  </devices>\n</domain>\n"
    )


def write_instances(root: Path, host: str, healthy: bool) -> list[Path]:
    """Instance directories of ``host`` under ``root`` (nova's instances_path)."""
    written = []
    (root / "_base").mkdir(parents=True, exist_ok=True)
    for inst in (i for i in INSTANCES if i.host == host):
        d = root / inst.uuid
        d.mkdir(parents=True, exist_ok=True)
        log = d / "console.log"
        if inst.broken and not healthy:
            write_sparse_console(log, HUGE_CONSOLE_BYTES, boot_log(inst) + failure_spew())
        else:
            log.write_text(boot_log(inst))
        (d / "libvirt.xml").write_text(libvirt_xml(inst, log))
        written.append(log)
    return written


# ---------------------------------------------------------------- RPC bodies


def rpc_request_body(instance: Instance, reply_queue: str, msg_id: str) -> str:
    message = {
        "_msg_id": msg_id,
        "_reply_q": reply_queue,
        "_context_user_id": USER,
        "_context_project_id": TENANT,
        "method": "get_console_output",
        "namespace": None,
        "version": "2.0",
        "args": {"instance": {"uuid": instance.uuid, "host": instance.host}, "tail_length": None},
    }
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def rpc_reply_body(console_text: str, msg_id: str) -> str:
    message = {"result": console_text, "failure": None, "_msg_id": msg_id}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


# ---------------------------------------------------------------- nova-api log


def _stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}"


class _ApiLog:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[tuple[datetime, int, str]] = []
        self.n = 0

    def add(self, t: datetime, level: str, logger: str, ctx: str, msg: str) -> None:
        self.n += 1
        self.lines.append((t, self.n, f"{_stamp(t)} 2481 {level} {logger} [{ctx}] {msg}"))

    def request(
        self,
        done: datetime,
        method: str,
        path: str,
        status: int,
        length: int,
        seconds: float,
        body: str | None = None,
        received: str | None = None,
    ) -> None:
        h = f"{self.rng.getrandbits(128):032x}"
        rid = f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        ctx = f"{rid} {USER} {TENANT}"
        began = done - timedelta(seconds=seconds)
        wsgi = "nova.api.openstack.wsgi"
        self.add(began, "INFO", wsgi, ctx, f"{method} {API_URL}{path}")
        if body is not None:
            self.add(
                began + timedelta(milliseconds=1),
                "DEBUG",
                wsgi,
                ctx,
                f"Action: 'action', body: {body} _process_stack "
                "/usr/lib/python2.7/dist-packages/nova/api/openstack/wsgi.py:935",
            )
        if received is not None:
            self.add(
                done - timedelta(milliseconds=200),
                "DEBUG",
                "nova.openstack.common.rpc.amqp",
                "-",
                f"received {received}",
            )
        self.add(done, "INFO", wsgi, ctx, f"{API_URL}{path} returned with HTTP {status}")
        self.add(
            done,
            "INFO",
            "nova.osapi_compute.wsgi.server",
            ctx,
            f'{DASHBOARD_IP} "{method} {path} HTTP/1.1" status: {status} len: {length} '
            f"time: {seconds:.7f}",
        )

    def text(self) -> str:
        return "".join(line + "\n" for _, _, line in sorted(self.lines))


def nova_api_log(now: datetime, healthy: bool) -> str:
    rng = random.Random(SEED + int(healthy))
    log = _ApiLog(rng)
    start = now - WINDOW
    v2 = f"/v2/{TENANT}"
    console_body = '{"os-getConsoleOutput": {"length": null}}'
    t = start + timedelta(seconds=5)
    while t < now:  # the dashboard's instance list
        log.request(t, "GET", f"{v2}/servers/detail", 200, rng.randint(4000, 9000), 0.2)
        t += timedelta(seconds=rng.uniform(8, 12))
    for k in range(6):  # boots: slow when RabbitMQ is drowning
        secs = rng.uniform(0.8, 1.6) if healthy else rng.uniform(25, 60)
        t = start + timedelta(seconds=60 + 90 * k)
        log.request(t, "POST", f"{v2}/servers", 202, 1214, secs, None)
    for inst in [i for i in INSTANCES if not i.broken][:3]:  # normal console looks
        t = start + timedelta(seconds=rng.uniform(30, 560))
        log.request(t, "POST", f"{v2}/servers/{inst.uuid}/action", 200, 21000, 0.4, console_body)
    if healthy:
        t = start + timedelta(seconds=300)
        log.request(t, "POST", f"{v2}/servers/{BROKEN.uuid}/action", 200, 24000, 0.5, console_body)
        return log.text()
    spew = failure_spew(1200)
    t = start + timedelta(seconds=2)
    while t < now:  # the user refreshing the console log page
        received = repr(
            {"_msg_id": f"{rng.getrandbits(128):032x}", "failure": None, "result": spew}
        )
        log.request(
            t,
            "POST",
            f"{v2}/servers/{BROKEN.uuid}/action",
            200,
            HUGE_CONSOLE_BYTES + rng.randint(0, 4096),
            rng.uniform(60, 110),
            console_body,
            received[:400] + "...",
        )
        t += timedelta(seconds=rng.uniform(2.0, 4.0))
    return log.text()
