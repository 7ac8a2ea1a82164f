"""Sources on a compute host for "nova shows a compute service down".

``nova_compute_processes``: the nova-compute processes running on the host (pid, seconds
since start, command line), read with ``ps``; an empty answer means none runs. The log
itself is ``nova_compute_log_tail`` (``engine/sources/nova.py``).
"""

from __future__ import annotations

from engine.sources.registry import register
from engine.sources.spec import Source

# [n]ova-compute: grep does not list itself; `|| true`: no process is an answer, not an error
PROCESSES = "ps -eo pid=,etimes=,args= | grep -E '[n]ova-compute' | head -n 50 || true"

register(
    Source(
        "nova_compute_processes",
        "nova-compute processes on the host (pid, seconds running, command line)",
        live=lambda _p: PROCESSES,
        parser="engine.parsers.os_api.parse_processes",
        sos_note="a sosreport's ps auxwww holds them in another layout: not mapped yet",
    )
)
