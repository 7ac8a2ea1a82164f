"""nova-api access lines: the tale's own lines, ranking, detection, malformed input."""

from __future__ import annotations

import doctest

import pytest

import engine.parsers.nova_api_log
from engine.detectors.api_timing import classify_api_timing
from engine.errors import CloudtalesError
from engine.parsers.nova_api_log import (
    parse_api_log,
    parse_line,
    rank_actions,
    split_tail,
    tail_command,
)

# the tale's two lines, as they sit in nova-api.log (one line each; the guide wraps them)
HAVANA = (
    "2014-01-10 09:11:45.072 129745 INFO nova.ec2.wsgi.server "
    "[req-84d16d16-3808-426b-b7af-3b90a11b83b0 0c6e7dba03c24c6a9bce299747499e8a "
    '7052bd6714e7460caeb16242e68124f9] 117.103.103.29 "GET /services/Cloud?AWSAccessKeyId='
    "AKID0123&Action=RunInstances&ClientToken=tok1&ImageId=ami-00000001&"
    'InstanceInitiatedShutdownBehavior=terminate&Signature=SIG987 HTTP/1.1" '
    "status: 200 len: 1109 time: 138.5970151"
)
GRIZZLY = (
    "2014-01-08 11:15:15.704 INFO nova.ec2.wsgi.server "
    "[req-ccac9790-3357-4aa8-84bd-cdaab1aa394e ebbd729575cb404081a45c9ada0849b7 "
    '8175953c209044358ab5e0ec19d52c37] 117.103.103.29 "GET /services/Cloud?AWSAccessKeyId='
    "AKID0123&Action=RunInstances&ClientToken=tok2&ImageId=ami-00000007&"
    'InstanceInitiatedShutdownBehavior=terminate HTTP/1.1" status: 200 len: 931 time: 3.9426181'
)
OSAPI = (
    "2014-01-10 09:12:01.100 129745 INFO nova.osapi_compute.wsgi.server "
    "[req-11111111-2222-3333-4444-555555555555 u p] 10.0.0.5 "
    '"GET /v2/7052bd6714e7460caeb16242e68124f9/servers/c58c2bdf-4b72-4dc9-9586-573d7eecf1ab '
    'HTTP/1.1" status: 404 len: 52 time: 0.0312'
)
NOISE = [
    "2014-01-10 09:09:26.565 129745 INFO nova.ec2.wsgi.server [-] (129745) accepted "
    "('117.103.103.29', 52881)",
    "Traceback (most recent call last):",
    '  File "/usr/lib/python2.6/site-packages/nova/api/ec2/cloud.py", line 1328',
    "2014-01-10 09:12:02 INFO nova.ec2.wsgi.server [-] garbage status: x len: y time: z",
    '2014-01-10 09:12:03.1 INFO nova.ec2.wsgi.server [req-1] 1.2.3.4 "GET / HTTP/1.1" '
    "status: 200 len: 5 time: fast",
]


def test_doctests() -> None:
    assert doctest.testmod(engine.parsers.nova_api_log).failed == 0


def test_the_tales_lines_parse_with_and_without_pid() -> None:
    havana, grizzly = parse_line(HAVANA, 1), parse_line(GRIZZLY, 2)
    assert havana is not None
    assert grizzly is not None
    assert (havana.pid, havana.api, havana.action) == (129745, "ec2", "RunInstances")
    assert (havana.status, havana.length, havana.seconds) == (200, 1109, 138.5970151)
    assert havana.request_id == "req-84d16d16-3808-426b-b7af-3b90a11b83b0"
    assert havana.client == "117.103.103.29"
    assert (grizzly.pid, grizzly.seconds, grizzly.length) == (None, 3.9426181, 931)


def test_ec2_credentials_are_redacted_but_the_action_stays() -> None:
    req = parse_line(HAVANA)
    assert req is not None
    assert "AKID0123" not in req.target
    assert "SIG987" not in req.target
    assert "AWSAccessKeyId=[redacted]" in req.target
    assert "ClientToken=tok1" in req.target
    assert "138.6 s" in req.one_line()


def test_openstack_api_paths_are_named_with_ids_replaced() -> None:
    req = parse_line(OSAPI)
    assert req is not None
    assert (req.api, req.action, req.status) == ("osapi_compute", "GET /v2/{id}/servers/{id}", 404)


def test_noise_is_counted_and_skipped() -> None:
    log = parse_api_log("\n".join([HAVANA, *NOISE, "", GRIZZLY, OSAPI]))
    assert [r.line_no for r in log.requests] == [1, 8, 9]
    assert (log.lines, log.skipped) == (8, 5)


def test_rank_puts_the_slowest_action_first_with_counts_and_medians() -> None:
    log = parse_api_log("\n".join([HAVANA, GRIZZLY, OSAPI]))
    ranked = rank_actions(log.requests)
    assert [s.action for s in ranked] == ["RunInstances", "GET /v2/{id}/servers/{id}"]
    run = ranked[0]
    assert (run.count, run.max_seconds) == (2, 138.5970151)
    assert run.median_seconds == pytest.approx((138.5970151 + 3.9426181) / 2)
    assert run.slowest.timestamp == "2014-01-10 09:11:45.072"
    assert run.one_line().startswith("RunInstances (ec2): 2 request(s)")


def test_havana_log_is_slow_grizzly_log_is_normal() -> None:
    slow = classify_api_timing("controller", "controller:nova-api.log", parse_api_log(HAVANA), 30)
    assert slow.outcome == "slow"
    assert slow.facts["slowest_action"] == "RunInstances"
    assert slow.facts["slowest_seconds"] == 138.6
    assert slow.facts["slow_requests"] == 1
    assert "RunInstances up to 138.6 s" in slow.summary
    assert any("Signature=[redacted]" in e.text for e in slow.evidence)
    normal = classify_api_timing("controller", "c:log", parse_api_log(GRIZZLY), 30)
    assert normal.outcome == "normal"
    assert normal.facts["slowest_seconds"] == 3.9


def test_no_access_lines_is_its_own_outcome() -> None:
    out = classify_api_timing("controller", "c:log", parse_api_log("\n".join(NOISE)), 30, True)
    assert out.outcome == "no_requests"
    assert "the last part of the file" in out.summary
    assert out.facts["requests"] == 0


def test_tail_command_is_bounded_and_quoted() -> None:
    cmd = tail_command("/var/log/nova/nova api.log", 4096)
    assert "tail -c 4096 -- '/var/log/nova/nova api.log'" in cmd
    assert cmd.startswith("stat -L -c %s -- '/var/log/nova/nova api.log' && ")


def test_split_tail_reads_the_size_line_and_rejects_garbage() -> None:
    assert split_tail("c", "/log", "1234\nline one\n") == (1234, "line one\n")
    with pytest.raises(CloudtalesError, match="host c: unexpected output reading /log"):
        split_tail("c", "/log", "not a size\n")
