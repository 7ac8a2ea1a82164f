"""Sources on a compute host for "nova shows a compute service down".

``nova_compute_processes``: the nova-compute processes running on the host (pid, seconds
since start, command line), read with ``ps``; an empty answer means none runs. The log
itself is ``nova_compute_log_tail`` (``engine/sources/nova.py``).
"""

from __future__ import annotations

from engine.sources.registry import register
from engine.sources.spec import Source

# Only processes in this host's network namespace: hosts that share one kernel (containers,
# a lab's namespaces) see each other's pids. A pid whose namespace cannot be read (not
# root) is kept: better a process too many than a false "not running".
# [n]ova-compute: the pattern does not match this command line itself; no process is an
# answer (empty), not an error.
PROCESSES = (
    "me=$(readlink /proc/$$/ns/net); "
    "for p in $(pgrep -f '[n]ova-compute' | head -n 50); do "
    'ns=$(readlink "/proc/$p/ns/net" 2>/dev/null); '
    '{ [ -z "$ns" ] || [ "$ns" = "$me" ]; } && ps -o pid=,etimes=,args= -p "$p"; '
    "done; true"
)

register(
    Source(
        "nova_compute_processes",
        "nova-compute processes in the host's network namespace (pid, seconds, command line)",
        live=lambda _p: PROCESSES,
        parser="engine.parsers.os_api.parse_processes",
        offline=False,  # read live until sos' ps listing is mapped (it has no elapsed secs)
        sos_note="a sosreport's ps auxwww holds them in another layout: not mapped yet",
    )
)
