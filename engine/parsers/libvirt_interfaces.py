"""A libvirt domain's identity and network interfaces, from its XML.

Reads what nova writes: ``<name>`` (``instance-0000002a``), ``<uuid>``, nova's
``<metadata><nova:instance>`` (display name, owner) and each ``<interface>`` with
its ``<mac address>``, ``<target dev>`` (the ``tapXXXXXXXX-XX`` device) and source
bridge. Accepts a live status file too (``/run/libvirt/qemu/*.xml``: ``<domstatus>``).

>>> d = parse_domain_xml('''<domain type="kvm"><name>instance-00000023</name>
...   <uuid>5c0a8d5e-3c1b-4f0e-9b9a-2a9c1e7b0d23</uuid><devices>
...   <interface type="bridge"><mac address="FA:16:3E:24:E7:22"/><source bridge="br100"/>
...   <target dev="tap3f2a9c1e-7b"/></interface></devices></domain>''', "x.xml")
>>> d.name, d.nics[0].mac, d.nics[0].target, d.nics[0].bridge
('instance-00000023', 'fa:16:3e:24:e7:22', 'tap3f2a9c1e-7b', 'br100')
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from engine.errors import CloudtalesError

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/"  # followed by a version: 1.0, 1.1...


@dataclass(frozen=True)
class DomainNic:
    mac: str
    target: str | None  # the host-side device (tap..., vnetN); None when libvirt picks it
    bridge: str | None  # source bridge, or the source network's name
    type: str
    model: str | None = None


@dataclass(frozen=True)
class DomainInfo:
    name: str
    uuid: str | None
    nics: tuple[DomainNic, ...]
    display_name: str | None = None  # nova:name, what the user called the instance
    owner_user: str | None = None
    owner_project: str | None = None
    source: str = ""

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.name})" if self.display_name else self.name


def _nova(elem: ET.Element, tag: str) -> ET.Element | None:
    for child in elem.iter():
        if child.tag.startswith("{" + NOVA_NS) and child.tag.endswith("}" + tag):
            return child
    return None


def parse_domain_xml(text: str, source: str = "domain XML") -> DomainInfo:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CloudtalesError(f"{source}: not valid XML ({exc})") from None
    dom = root if root.tag == "domain" else root.find("domain")
    if dom is None:
        raise CloudtalesError(f"{source}: no <domain> element (root is <{root.tag}>)")
    name = (dom.findtext("name") or "").strip()
    if not name:
        raise CloudtalesError(f"{source}: <domain> has no <name>")
    nics = []
    for iface in dom.iterfind("devices/interface"):
        mac_el = iface.find("mac")
        mac = (mac_el.get("address") if mac_el is not None else None) or ""
        if not mac:
            continue  # libvirt generates one at start; nova always sets it
        src = iface.find("source")
        target = iface.find("target")
        model = iface.find("model")
        nics.append(
            DomainNic(
                mac=mac.lower(),
                target=target.get("dev") if target is not None else None,
                bridge=(src.get("bridge") or src.get("network")) if src is not None else None,
                type=iface.get("type", ""),
                model=model.get("type") if model is not None else None,
            )
        )
    meta = dom.find("metadata")
    display = user = project = None
    if meta is not None:
        for tag in ("name", "user", "project"):
            el = _nova(meta, tag)
            value = (el.text or "").strip() if el is not None else ""
            if tag == "name":
                display = value or None
            elif tag == "user":
                user = value or None
            else:
                project = value or None
    return DomainInfo(
        name=name,
        uuid=(dom.findtext("uuid") or "").strip() or None,
        nics=tuple(nics),
        display_name=display,
        owner_user=user,
        owner_project=project,
        source=source,
    )


def split_head_output(text: str) -> list[tuple[str, str]]:
    """``head -v -c N a b`` output -> [(path, content)], on its ``==> path <==`` lines."""
    files: list[tuple[str, str]] = []
    path: str | None = None
    chunk: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if stripped.startswith("==> ") and stripped.endswith(" <=="):
            if path is not None:
                files.append((path, "".join(chunk)))
            path, chunk = stripped[4:-4], []
        elif path is not None:
            chunk.append(line)
    if path is not None:
        files.append((path, "".join(chunk)))
    return files
