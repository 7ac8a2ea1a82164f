"""Metadata detectors on real outputs, recorded from the metadata lab
(tests/rehearsals/metadata-*/sources.yaml and the triage's double-vlan-healthy walk):
the instance's probe, ss -ltnp with iptables-save, the three logs, the two ini files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.detectors.metadata import (
    judge_listener,
    judge_probe,
    judge_secrets,
    parse_ini,
    parse_listeners,
    parse_probe,
    redirect_rules,
    scan_logs,
)
from engine.errors import CloudtalesError

REHEARSALS = Path(__file__).parents[1] / "rehearsals"


def answers(rehearsal: str, source: str, params: str | None = None) -> list[str]:
    doc = yaml.safe_load((REHEARSALS / rehearsal / "sources.yaml").read_text())
    entries = doc["answers"] if isinstance(doc, dict) else doc
    return [
        str(e.get("stdout", ""))
        for e in entries
        if e.get("source") == source and (params is None or e.get("params") == params)
    ]


def probe(rehearsal: str) -> str:
    return judge_probe(
        "instance", parse_probe(answers(rehearsal, "metadata_http_probe")[0], "x")
    ).outcome


def test_probe_outcomes_from_each_recorded_lab() -> None:
    assert probe("metadata-faulty") == "refused"
    assert probe("metadata-secret-mismatch") == "forbidden"
    assert probe("metadata-healthy") == "ok"
    # a lab with no metadata service: the router has no route, which is not a refusal
    assert probe("instance-unreachable-double-vlan-healthy") == "no_route"


def test_probe_route_is_shown_without_ips_cache_suffix() -> None:
    parsed = parse_probe(answers("metadata-faulty", "metadata_http_probe")[0], "x")
    assert parsed.route == "169.254.169.254 via 10.0.0.1 dev eth0 src 10.0.0.5"
    assert parsed.tcp == "Connection refused"
    with pytest.raises(CloudtalesError, match="no curl exit status"):
        parse_probe("route 169.254.169.254 via 10.0.0.1 dev eth0\n", "instance: metadata probe")


def test_listener_tells_a_dead_proxy_behind_the_redirect_from_no_metadata_path() -> None:
    ss = answers("metadata-faulty", "tcp_listeners")[0]
    rules = answers("metadata-faulty", "iptables_rules")[0]
    redirects = redirect_rules(rules, 9697)
    assert len(redirects) == 1
    dead = judge_listener("controller", 9697, parse_listeners(ss), redirects)
    assert dead.outcome == "not_listening"
    assert judge_listener("controller", 9697, parse_listeners(ss), []).outcome == "no_metadata_path"
    haproxy = 'LISTEN 0      1024     0.0.0.0:9697 0.0.0.0:* users:(("haproxy",pid=7,fd=5))\n'
    alive = judge_listener("controller", 9697, parse_listeners(ss + haproxy), redirects)
    assert alive.outcome == "listening"
    assert alive.facts["listener"] == "haproxy"


def test_logs_of_the_secret_mismatch_name_both_sides() -> None:
    tails = answers("metadata-secret-mismatch", "service_log_tail")
    by_label = {}
    for text in tails:
        if "nova.api.metadata.handler" in text or "nova.metadata.wsgi" in text:
            by_label["nova"] = text
        elif "neutron.agent.metadata.agent" in text:
            by_label["agent"] = text
        else:
            by_label["proxy"] = text
    result = scan_logs("controller", by_label)
    assert result.outcome == "signature_rejected"
    assert result.facts["signature_rejected"] >= 1  # type: ignore[operator]
    assert result.facts["agent_forbidden"] == result.facts["signature_rejected"]
    assert scan_logs("controller", {"proxy": "", "agent": "", "nova": ""}).outcome == "no_errors"


def test_secrets_compared_by_fingerprint_never_shown() -> None:
    run = "metadata-secret-mismatch"
    agent_ini = answers(run, "ini_file", "path=/etc/neutron/metadata_agent.ini")[0]
    nova_conf = answers(run, "ini_file", "path=/etc/nova/nova.conf")[0]
    result = judge_secrets("controller", parse_ini(agent_ini, "a"), parse_ini(nova_conf, "n"))
    assert result.outcome == "secrets_differ"
    assert "cloudtales-lab" not in result.summary
    assert str(result.facts["agent_secret"]).startswith("sha256:")
    same = judge_secrets(
        "c", parse_ini(agent_ini, "a"), parse_ini(agent_ini.replace("DEFAULT", "neutron"), "n")
    )
    assert same.outcome == "secrets_match"
    unset = judge_secrets("c", parse_ini("[DEFAULT]\n", "a"), parse_ini(nova_conf, "n"))
    assert unset.outcome == "secret_unset"
    with pytest.raises(CloudtalesError, match="not an ini file"):
        parse_ini("no section here\n", "controller:/etc/nova/nova.conf")
