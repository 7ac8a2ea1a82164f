"""Nova sources: configuration, logs, the instances directory, the database."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from engine.parsers.find_sizes import find_sizes_command
from engine.parsers.nova_api_log import tail_command
from engine.sources.registry import register
from engine.sources.spec import AbsPath, Source, SourceParams

EXTRAS = "sos_commands/sos_extras/cloudtales/"
MAX_CONF_BYTES = 1 << 20
PUPPET_GEN = "var/lib/config-data/puppet-generated/nova*"  # containerized (TripleO)
CONTAINER_LOGS = "var/log/containers/nova/nova-*.log*"
LAB_LOGS = "run/cloudtales/labs/*/root/*/var/log/nova/nova-*.log"  # a lab's RUN_DIR/root/HOST


class ConfParams(SourceParams):
    path: AbsPath = "/etc/nova/nova.conf"


class LogTailParams(SourceParams):
    path: AbsPath = "/var/log/nova/nova-compute.log"
    max_bytes: int = 1 << 20


class InstancesParams(SourceParams):
    root: AbsPath = "/var/lib/nova/instances"


class SizesParams(InstancesParams):
    max_files: int = 5000


DOMAIN_MARK = "__CT_DOMAIN__"
TAIL_MARK = "__CT_TAIL__"
MAX_REGISTRY_BYTES = 1 << 16
REGISTRY = "compute_nodes"


class PeekParams(SourceParams):
    path: AbsPath
    tail_bytes: int = 65536


def peek_command(path: str, tail_bytes: int) -> str:
    """The domain ids from libvirt.xml (bounded) and the last ``tail_bytes`` of the log."""
    xml = shlex.quote(str(PurePosixPath(path).parent / "libvirt.xml"))
    return (
        f"echo {DOMAIN_MARK}; head -c 65536 {xml} 2>/dev/null "
        f"| grep -o -e '<name>[^<]*</name>' -e '<uuid>[^<]*</uuid>' | head -n 2; "
        f"echo {TAIL_MARK}; tail -c {int(tail_bytes)} {shlex.quote(path)}"
    )


def _registry(p: InstancesParams) -> str:
    registry = shlex.quote(f"{p.root.rstrip('/')}/{REGISTRY}")
    return f"date +%s; head -c {MAX_REGISTRY_BYTES} -- {registry} 2>/dev/null || true"


register(
    Source(
        "console_log_peek",
        "An instance's domain name/uuid (libvirt.xml) and the tail of its console.log",
        live=lambda p: peek_command(p.path, p.tail_bytes),
        params=PeekParams,
        sos=("var/lib/nova/instances/*/console.log", "var/lib/nova/instances/*/libvirt.xml"),
        sos_note="only where sos_extras copied the instances directory",
        parser="engine.checks.console_logs.parse_peek",
    )
)
register(
    Source(
        "image_cache_registry",
        "The clock, then the instances directory's compute_nodes registry",
        live=_registry,
        params=InstancesParams,
        offline=False,
        sos_note="the check compares the registry's times with the host's clock now",
        parser="engine.parsers.mounts.parse_storage_users",
    )
)


class LogGrepParams(SourceParams):
    path: AbsPath = "/var/log/nova/nova-compute.log"
    patterns: tuple[str, ...]  # fixed strings, each shell-quoted
    max_matches: int = 1000


def grep_command(patterns: tuple[str, ...] | list[str], log: str, max_matches: int) -> str:
    each = " ".join(f"-e {shlex.quote(p)}" for p in patterns)
    return f"grep -F -h -m {max_matches} {each} -- {shlex.quote(log)}"


register(
    Source(
        "nova_log_grep",
        "Lines of a nova log holding any of some fixed strings (grep -F, bounded)",
        live=lambda p: grep_command(p.patterns, p.path, p.max_matches),
        params=LogGrepParams,
        sos=("var/log/nova/nova-compute.log*", CONTAINER_LOGS, LAB_LOGS),
        parser="engine.checks.imagecache (parse_removal_line)",
    )
)


class DbCountsParams(SourceParams):
    database: str = "nova"


register(
    Source(
        "nova_conf",
        "nova.conf, bounded to 1 MiB",
        live=lambda p: f"head -c {MAX_CONF_BYTES} {shlex.quote(p.path)}",
        params=ConfParams,
        sos=("etc/nova/nova.conf", PUPPET_GEN + "/etc/nova/nova.conf"),
        parser="engine.parsers.nova_conf.parse_nova_conf",
    )
)
register(
    Source(
        "nova_compute_log_tail",
        "The tail of a nova log",
        live=lambda p: f"tail -c {int(p.max_bytes)} {shlex.quote(p.path)}",
        params=LogTailParams,
        sos=("var/log/nova/nova-*.log*", CONTAINER_LOGS, LAB_LOGS),
        parser="engine.parsers.nova_api_log.parse_api_log",
    )
)
register(
    Source(
        "nova_api_access_lines",
        "nova-api.log's size, then its access lines within max_bytes of its end",
        live=lambda p: tail_command(p.path, p.max_bytes),
        params=LogTailParams,
        sos=("var/log/nova/nova-api.log*", CONTAINER_LOGS, LAB_LOGS),
        parser="engine.parsers.nova_api_log.split_tail",
    )
)
register(
    Source(
        "instances_listing",
        "ls -lR of the instances directory",
        live=lambda p: f"ls -lR --time-style=full-iso {shlex.quote(p.root)}",
        params=InstancesParams,
        sos=(EXTRAS + "cloudtales-instances-listing",),
        parser="engine.checks.instances_shared",
    )
)
register(
    Source(
        "console_log_sizes",
        "Sizes of every console.log under the instances directory",
        live=lambda p: find_sizes_command(p.root, "console.log", max_files=p.max_files),
        params=SizesParams,
        sos=(EXTRAS + "cloudtales-console-sizes",),
        parser="engine.parsers.find_sizes",
    )
)
register(
    Source(
        "nova_db_counts",
        "Row counts in nova's database (SQL over a tunnel, not a shell command)",
        live=lambda p: f"mysql {shlex.quote(p.database)} -e 'SELECT COUNT(*) ...'",
        params=DbCountsParams,
        offline=False,
        sos_note="an SQL count asks the running database: sos' mysql plugin holds no counts",
        parser="engine.checks.nova_db",
    )
)
