"""Parse a libvirt domain XML (``virDomainGetXMLDesc``): its disks and their backing chains.

Only what the checks need: the domain's name and uuid, nova's metadata (the instance's
display name and the Glance image it was booted from), and each disk's source with the
``<backingStore>`` chain libvirt knows about.

>>> dom = parse_domain_xml('''<domain type="kvm"><name>instance-00000001</name>
... <uuid>0e3a</uuid><devices><disk type="file" device="disk">
... <driver name="qemu" type="qcow2"/><source file="/i/0e3a/disk"/>
... <backingStore type="file"><format type="raw"/><source file="/i/_base/ab"/>
... <backingStore/></backingStore><target dev="vda" bus="virtio"/></disk></devices>
... </domain>''', "compute1")
>>> dom.name, dom.disks[0].target, dom.disks[0].source, dom.disks[0].backing_paths
('instance-00000001', 'vda', '/i/0e3a/disk', ('/i/_base/ab',))
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from engine.errors import CloudtalesError

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/"  # + a version: 1.0, 1.1, 1.2...


@dataclass(frozen=True)
class BackingLayer:
    path: str
    format: str | None


@dataclass(frozen=True)
class Disk:
    device: str  # disk | cdrom | floppy | lun
    kind: str  # file | block | network | volume
    target: str
    source: str | None  # a path, or "protocol:name" for network disks
    format: str | None
    backing: tuple[BackingLayer, ...] = ()

    @property
    def is_file(self) -> bool:
        return self.kind in ("file", "block") and self.source is not None

    @property
    def backing_paths(self) -> tuple[str, ...]:
        return tuple(layer.path for layer in self.backing)


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: str
    disks: tuple[Disk, ...]
    nova_name: str | None = None  # the instance's display name
    image_id: str | None = None  # the Glance image of the root disk

    @property
    def file_disks(self) -> tuple[Disk, ...]:
        return tuple(d for d in self.disks if d.device == "disk" and d.is_file)


def _source(elem: ET.Element | None, kind: str) -> str | None:
    if elem is None:
        return None
    if kind == "network":
        name = elem.get("name")
        return f"{elem.get('protocol', 'network')}:{name}" if name else None
    if kind == "volume":
        pool, vol = elem.get("pool"), elem.get("volume")
        return f"{pool}/{vol}" if pool and vol else None
    return elem.get("file") or elem.get("dev") or None


def _chain(disk: ET.Element) -> tuple[BackingLayer, ...]:
    layers: list[BackingLayer] = []
    store = disk.find("backingStore")
    while store is not None and len(store):  # an empty <backingStore/> ends the chain
        kind = store.get("type", "file")
        path = _source(store.find("source"), kind)
        fmt = store.find("format")
        if path is not None:
            layers.append(BackingLayer(path, fmt.get("type") if fmt is not None else None))
        store = store.find("backingStore")
    return tuple(layers)


def _disk(elem: ET.Element) -> Disk:
    kind = elem.get("type", "file")
    target = elem.find("target")
    driver = elem.find("driver")
    return Disk(
        device=elem.get("device", "disk"),
        kind=kind,
        target=(target.get("dev") or "?") if target is not None else "?",
        source=_source(elem.find("source"), kind),
        format=driver.get("type") if driver is not None else None,
        backing=_chain(elem),
    )


def _nova_metadata(root: ET.Element) -> tuple[str | None, str | None]:
    name = image = None
    metadata = root.find("metadata")
    if metadata is None:
        return None, None
    for elem in metadata.iter():
        tag = elem.tag
        if not (isinstance(tag, str) and tag.startswith("{" + NOVA_NS)):
            continue
        local = tag.rsplit("}", 1)[-1]
        if local == "name" and name is None:
            name = (elem.text or "").strip() or None
        elif local == "root" and elem.get("type", "image") == "image":
            image = elem.get("uuid") or None
    return name, image


def parse_domain_xml(text: str, source: str) -> Domain:
    """One ``<domain>``; malformed XML or a missing ``<name>`` is a one-line error."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise CloudtalesError(f"{source}: domain XML is malformed at line {line}:{col}") from None
    if root.tag != "domain":
        raise CloudtalesError(f"{source}: expected a <domain> element, got <{root.tag}>")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise CloudtalesError(f"{source}: domain XML has no <name>")
    devices = root.find("devices")
    disks = tuple(_disk(d) for d in devices.findall("disk")) if devices is not None else ()
    nova_name, image_id = _nova_metadata(root)
    return Domain(
        name=name,
        uuid=(root.findtext("uuid") or "").strip(),
        disks=disks,
        nova_name=nova_name,
        image_id=image_id,
    )
