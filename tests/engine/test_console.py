"""Down the Rabbit Hole: parsers, detectors and check types on real-shaped and malformed input.

The rabbitmqctl texts are what Debian's rabbitmq-server 3.10.8 printed on this machine;
the nova-api log is what the lab writes (labs/rabbit_hole/console_flood.py).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from engine.checks.base import CheckContext, LiveLine
from engine.checks.registry import get_check_type
from engine.detectors.console import (
    ConsoleLog,
    ConsoleTail,
    judge_console_logs,
    judge_console_requests,
    judge_queues,
    summarize_tail,
)
from engine.errors import CloudtalesError
from engine.parsers.api_access_log import parse_api_log
from engine.parsers.find_sizes import find_sizes_command, human_bytes, parse_find_sizes
from engine.parsers.rabbitmqctl import (
    list_queues_command,
    node_down,
    parse_list_queues,
    split_command_output,
)
from engine.remote.inventory import Inventory
from engine.remote.replay import Recording, ReplayRunner
from engine.results import FactValue
from labs.rabbit_hole import console_flood

BROKEN = console_flood.BROKEN
GIB_5_5 = 5905580032
INSTANCES = "/var/lib/nova/instances"
BIG = f"{INSTANCES}/{BROKEN.uuid}/console.log"
FIND_CC12 = (
    f"7314 16 {INSTANCES}/c5a1e7f3-2b9d-4a6c-9f8e-1d3b7c5a0e09/console.log\n"
    f"{GIB_5_5} 16400 {BIG}\n"
    f"7314 16 {INSTANCES}/3f8b2d6e-9a1c-4b7f-8e2d-6c4a9f1b0e01/console.log\n"
)
LIST_QUEUES = (
    "name\tmessages\tmessage_bytes\n"
    "compute.cc11\t2\t954\n"
    "conductor\t0\t0\n"
    "compute.cc12\t40\t19080\n"
    "reply_5f2d8c1e9a7b4e3f8d6c0b1a2e4f7c9d\t24\t103596144\n"
    "compute\t0\t0\n"
)
NODE_DOWN = (
    "Error: unable to perform an operation on node 'rabbit@vm'. Please see diagnostics "
    "information and suggestions below.\n\nMost common reasons for this are:\n\n"
    " * Target node is not running\n"
)
HAVANA_LINES = [
    "2013-11-05 14:02:03.412 2481 INFO nova.api.openstack.wsgi [req-aaaa0000-1111-2222-3333-"
    f"444455556666 u t] POST http://c:8774/v2/t/servers/{BROKEN.uuid}/action",
    "2013-11-05 14:02:03.413 2481 DEBUG nova.api.openstack.wsgi [req-aaaa0000-1111-2222-3333-"
    '444455556666 u t] Action: \'action\', body: {"os-getConsoleOutput": {"length": null}} '
    "_process_stack /usr/lib/python2.7/dist-packages/nova/api/openstack/wsgi.py:935",
    "2013-11-05 14:03:41.234 2481 INFO nova.osapi_compute.wsgi.server [req-aaaa0000-1111-2222-"
    f'3333-444455556666 u t] 10.0.0.1 "POST /v2/t/servers/{BROKEN.uuid}/action HTTP/1.1" '
    "status: 200 len: 5905584121 time: 97.8213451",
]


def inventory(*hosts: str, **host_vars: object) -> Inventory:
    return Inventory.model_validate(
        {
            "hosts": {
                h: {"address": "192.0.2.1", "roles": ["compute"], "vars": host_vars} for h in hosts
            }
        }
    )


def number(value: FactValue) -> float:
    assert isinstance(value, int | float)
    return float(value)


def context(runner: ReplayRunner, inv: Inventory, lines: list[LiveLine]) -> CheckContext:
    return CheckContext(runner, inv, list(inv.hosts.values()), {}, 30.0, lines.append)


# ---------------------------------------------------------------- find -printf


def test_find_sizes_parse_sparse_and_human() -> None:
    files = parse_find_sizes(FIND_CC12, "cc12:find")
    assert [f.size for f in files] == [7314, GIB_5_5, 7314]
    assert files[1].allocated == 16400 * 512
    assert files[1].sparse
    assert not files[0].sparse
    assert human_bytes(GIB_5_5) == "5.5 GiB"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KiB"


def test_find_sizes_path_with_spaces_and_malformed_line() -> None:
    assert parse_find_sizes("10 8 /a b/console.log\n", "x")[0].path == "/a b/console.log"
    with pytest.raises(CloudtalesError, match=r"^cc12:find:2: expected '<size> <blocks> <path>'"):
        parse_find_sizes("10 8 /a/console.log\nten 8 /b/console.log\n", "cc12:find")


def test_find_command_is_bounded_and_quoted() -> None:
    cmd = find_sizes_command("/var/lib/nova/my instances", "console.log", max_files=50)
    assert "find '/var/lib/nova/my instances' -maxdepth 2 -name console.log -type f" in cmd
    assert "-printf '%s %b %p\\n'" in cmd
    assert "| head -n 50" in cmd


# ---------------------------------------------------------------- rabbitmqctl


def test_list_queues_real_output_and_old_formats() -> None:
    queues = parse_list_queues(LIST_QUEUES, "ctl")
    assert [(q.name, q.messages, q.message_bytes) for q in queues][3] == (
        "reply_5f2d8c1e9a7b4e3f8d6c0b1a2e4f7c9d",
        24,
        103596144,
    )
    assert queues[3].bytes_per_message == pytest.approx(4316506)
    old = parse_list_queues("Listing queues ...\nscheduler\t3\n...done.\n", "ctl")
    assert (old[0].name, old[0].messages, old[0].message_bytes) == ("scheduler", 3, None)
    assert parse_list_queues("name\tmessages\tmessage_bytes\n", "ctl") == []


def test_list_queues_malformed_rows_name_the_line() -> None:
    with pytest.raises(CloudtalesError, match=r"^ctl:2: queue 'q': counts are not integers"):
        parse_list_queues("a\t1\t2\nq\tmany\t2\n", "ctl")
    with pytest.raises(CloudtalesError, match=r"^ctl:1: expected 'name<TAB>messages"):
        parse_list_queues("just a sentence\n", "ctl")


def test_rabbitmqctl_command_output_split() -> None:
    cmd = list_queues_command("rabbitmqctl", "/", 1000)
    assert "rabbitmqctl -q list_queues -p / name messages message_bytes" in cmd
    assert cmd.endswith("| tail -c 1000")
    assert not split_command_output("__CT_NO_RABBITMQCTL__\n", 1000).installed
    down = split_command_output(NODE_DOWN + "__CT_RC=69\n", 10_000)
    assert (down.installed, down.exit_status) == (True, 69)
    assert node_down(down.text)
    ok = split_command_output(LIST_QUEUES + "__CT_RC=0\n", 10_000)
    assert (ok.exit_status, ok.truncated) == (0, False)
    assert len(parse_list_queues(ok.text, "ctl")) == 5
    cut = "ssages\tmessage_bytes\ncompute\t0\t0\n__CT_RC=0\n"  # tail -c cut the header
    out = split_command_output(cut, len(cut))
    assert out.truncated
    assert [q.name for q in parse_list_queues(out.text, "ctl")] == ["compute"]


# ---------------------------------------------------------------- nova-api log


def test_api_log_correlates_debug_body_with_access_line() -> None:
    log = parse_api_log("\n".join(HAVANA_LINES) + "\n", "ctl:nova-api.log")
    (req,) = log.requests
    assert (req.kind, req.instance, req.status) == ("console", BROKEN.uuid, 200)
    assert req.length == 5905584121
    assert req.seconds == pytest.approx(97.8213451)
    assert req.req_id == "req-aaaa0000-1111-2222-3333-444455556666"
    assert log.debug_bodies == 1
    assert log.window_seconds == pytest.approx(97.822)


def test_api_log_without_debug_and_old_eventlet_format() -> None:
    text = (
        f"2012-05-04 10:21:35 INFO nova.api [req-1 u t] 10.0.0.5 - - [04/May/2012 10:21:35] "
        f'"POST /v1.1/t/servers/{BROKEN.uuid}/action HTTP/1.1" 200 5800123 2.104521\n'
        f"2012-05-04 10:21:36 INFO nova.api [req-2 u t] 10.0.0.5 - - [04/May/2012 10:21:36] "
        f'"POST /v1.1/t/servers/{BROKEN.uuid}/action HTTP/1.1" 202 0 0.3\n'
        '2012-05-04 10:21:37 INFO nova.api [req-3 u t] 10.0.0.5 "POST /v1.1/t/servers HTTP/1.1" '
        "202 1214 31.5\n"
        "Traceback (most recent call last):\n"
    )
    kinds = [r.kind for r in parse_api_log(text, "x").requests]
    assert kinds == ["console?", "action", "boot"]


def test_api_log_truncated_first_line_and_garbage() -> None:
    cut = 'ion HTTP/1.1" status: 200 len: 9 time: 1.0\n' + "\n".join(HAVANA_LINES)
    assert len(parse_api_log(cut, "x", truncated=True).requests) == 1
    with pytest.raises(CloudtalesError, match=r"^ctl:/var/log/nova/nova-api.log: no nova-api"):
        parse_api_log("\x00\x01 not a log\n", "ctl:/var/log/nova/nova-api.log")
    assert parse_api_log("", "x").requests == ()
    with pytest.raises(CloudtalesError, match=r"^x:1: bad timestamp '2013-13-45 99:00:00'"):
        parse_api_log("2013-13-45 99:00:00 INFO a [-] b\n", "x")


def test_lab_api_log_floods_only_when_faulty() -> None:
    now = datetime(2013, 11, 5, 14, 0, 0)
    faulty = parse_api_log(console_flood.nova_api_log(now, healthy=False), "f")
    out = judge_console_requests([faulty], per_minute=6, min_requests=10)
    assert out.outcome == "console_flood"
    assert out.facts["top_instance"] == BROKEN.uuid
    assert number(out.facts["top_instance_per_minute"]) > 12  # a refresh every 2-4 s
    assert number(out.facts["boot_median_seconds"]) > 20
    healthy = parse_api_log(console_flood.nova_api_log(now, healthy=True), "h")
    calm = judge_console_requests([healthy], per_minute=6, min_requests=10)
    assert calm.outcome == "console_normal"
    assert number(calm.facts["boot_median_seconds"]) < 2
    none = judge_console_requests([parse_api_log("", "e")], per_minute=6, min_requests=10)
    assert none.outcome == "no_console_requests"


# ---------------------------------------------------------------- console.log detector


def test_tail_summary_finds_the_repeating_failure() -> None:
    spew = console_flood.failure_spew(64 * 1024)
    summary = summarize_tail(ConsoleTail(None, None, spew))
    assert summary.top_line in {f.strip() for f in console_flood._SPEW}
    assert summary.top_count > len(summary.lines) // 5
    assert summary.avg_line_bytes is not None
    assert 55 < summary.avg_line_bytes < 75
    assert summarize_tail(ConsoleTail(None, None, "\x00" * 100)).lines == ()


def test_judge_console_logs_names_instance_file_and_size() -> None:
    logs = [
        ConsoleLog("cc12", f.path, f.size, f.allocated) for f in parse_find_sizes(FIND_CC12, "x")
    ]
    tail = ConsoleTail("instance-00000e05", BROKEN.uuid, console_flood.failure_spew(65536))
    out = judge_console_logs(logs, 100 << 20, {("cc12", BIG): tail}, ["cc12:" + INSTANCES])
    assert out.outcome == "huge_log"
    assert out.facts["biggest_path"] == BIG
    assert out.facts["biggest_bytes"] == GIB_5_5
    assert out.facts["instance"] == BROKEN.uuid
    assert out.facts["instance_name"] == "instance-00000e05"
    assert 80_000_000 < number(out.facts["estimated_lines"]) < 110_000_000
    assert "5.5 GiB" in out.summary
    assert "instance-00000e05" in out.summary
    assert "sparse" in out.evidence[0].text
    normal = judge_console_logs(logs[:1], 100 << 20, {}, ["cc12:" + INSTANCES])
    assert normal.outcome == "normal"
    assert judge_console_logs([], 1, {}, ["cc11:/x"]).summary == "no console.log under cc11:/x"


def test_old_layout_takes_the_uuid_from_libvirt_xml() -> None:
    log = ConsoleLog("cc12", f"{INSTANCES}/instance-00000e05/console.log", GIB_5_5, 4096)
    tail = ConsoleTail("instance-00000e05", BROKEN.uuid, "x\nboom\n")
    out = judge_console_logs([log], 1 << 20, {("cc12", log.path): tail}, [])
    assert out.facts["instance"] == BROKEN.uuid


# ---------------------------------------------------------------- queue detector


def test_judge_queues() -> None:
    queues = parse_list_queues(LIST_QUEUES, "ctl")
    big = judge_queues("controller", queues, 1 << 20, 1000)
    assert big.outcome == "large_messages"
    assert big.facts["biggest_queue"] == "reply_5f2d8c1e9a7b4e3f8d6c0b1a2e4f7c9d"
    assert "24 messages, 98.8 MiB (4.1 MiB each)" in big.summary
    assert judge_queues("controller", queues, 1 << 30, 10).outcome == "backlog"
    assert judge_queues("controller", queues, 1 << 30, 1000).outcome == "normal"
    assert judge_queues("controller", [], 1, 1).outcome == "normal"


# ---------------------------------------------------------------- check types (replayed)


async def test_console_log_sizes_check_peeks_only_at_the_huge_log() -> None:
    peek = (
        "__CT_DOMAIN__\n<uuid>" + BROKEN.uuid + "</uuid>\n<name>instance-00000e05</name>\n"
        "__CT_TAIL__\n" + console_flood.failure_spew(65536)
    )
    runner = ReplayRunner(
        [
            Recording("cc11", r"^if \[ -d ", stdout=f"7314 16 {INSTANCES}/a/console.log\n"),
            Recording("cc12", r"^if \[ -d ", stdout=FIND_CC12),
            Recording(
                "cc12",
                r"^echo __CT_DOMAIN__; head -c 65536 .*libvirt\.xml.*tail -c 65536 ",
                stdout=peek,
            ),
        ]
    )
    lines: list[LiveLine] = []
    ctype = get_check_type("console_log_sizes")
    result = await ctype.run(context(runner, inventory("cc11", "cc12"), lines), ctype.params())
    assert result.outcome == "huge_log"
    assert result.facts["instance_name"] == "instance-00000e05"
    assert len(runner.calls) == 3  # two finds, one bounded peek; no file read whole
    assert all("cat " not in c.command and "wc " not in c.command for c in runner.calls)
    assert [ln.anomaly for ln in lines if ln.source == "cc12:find"][0] == "over 100.0 MiB"


async def test_console_log_sizes_uses_the_host_var_and_reports_a_missing_dir() -> None:
    runner = ReplayRunner([Recording("*", r"^if \[ -d ", stdout="__CT_NO_SUCH_DIR__\n")])
    ctype = get_check_type("console_log_sizes")
    inv = inventory("cc11", instances_path="/srv/nova/instances")
    with pytest.raises(CloudtalesError, match=r"^host cc11: no directory /srv/nova/instances"):
        await ctype.run(context(runner, inv, []), ctype.params())
    assert "'/srv/nova/instances'" not in runner.calls[0].command  # a plain path needs no quotes
    assert "find /srv/nova/instances " in runner.calls[0].command


@pytest.mark.parametrize(
    ("stdout", "outcome"),
    [
        (LIST_QUEUES + "__CT_RC=0\n", "large_messages"),
        ("__CT_NO_RABBITMQCTL__\n", "no_rabbitmq"),
        (NODE_DOWN + "__CT_RC=69\n", "rabbit_down"),
    ],
)
async def test_rabbitmq_queues_check_outcomes(stdout: str, outcome: str) -> None:
    runner = ReplayRunner([Recording("*", "list_queues", stdout=stdout)])
    ctype = get_check_type("rabbitmq_queues")
    result = await ctype.run(context(runner, inventory("controller"), []), ctype.params())
    assert result.outcome == outcome


async def test_rabbitmq_queues_check_other_errors_are_one_line() -> None:
    runner = ReplayRunner([Recording("*", "list_queues", stdout="Error: boom\n__CT_RC=64\n")])
    ctype = get_check_type("rabbitmq_queues")
    with pytest.raises(
        CloudtalesError, match=r"^host controller: rabbitmqctl list_queues exited 64: Error: boom$"
    ):
        await ctype.run(context(runner, inventory("controller"), []), ctype.params())


async def test_console_output_requests_check_reads_a_bounded_tail() -> None:
    text = console_flood.nova_api_log(datetime(2013, 11, 5, 14, 0), healthy=False)
    runner = ReplayRunner([Recording("*", r"^tail -c 4194304 /logs/nova-api\.log$", stdout=text)])
    ctype = get_check_type("console_output_requests")
    lines: list[LiveLine] = []
    inv = inventory("controller", nova_api_log="/logs/nova-api.log")
    result = await ctype.run(context(runner, inv, lines), ctype.params())
    assert result.outcome == "console_flood"
    assert result.facts["top_instance"] == BROKEN.uuid
    assert lines
    assert all(ln.source == "controller:nova-api" for ln in lines)
    missing = ReplayRunner([Recording("*", "tail", exit_status=1, stderr="tail: cannot open")])
    with pytest.raises(
        CloudtalesError, match=r"^host controller: cannot read /var/log/nova/nova-api.log"
    ):
        await ctype.run(context(missing, inventory("controller"), []), ctype.params())


# ---------------------------------------------------------------- the lab's sparse file


def test_sparse_console_log_has_its_size_but_not_its_blocks(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    console_flood.write_sparse_console(path, 1 << 30, "tail text\n")
    st = os.stat(path)
    assert st.st_size == 1 << 30
    assert st.st_blocks * 512 < 1 << 20
    with path.open("rb") as f:
        f.seek(-10, os.SEEK_END)
        assert f.read() == b"tail text\n"
