"""Metadata-path detectors: the instance's probe, the proxy's listener, the logs, the secret.

Pure functions over parsed command output -> CheckResult. The shared secret itself is
never shown: only whether both sides hold the same one, and a short fingerprint.
"""

from __future__ import annotations

import configparser
import hashlib
import re
from dataclasses import dataclass

from engine.errors import CloudtalesError
from engine.results import CheckResult, Evidence, FactValue

PROBE_OUTCOMES = ("no_route", "refused", "timeout", "forbidden", "server_error", "ok")
LISTENER_OUTCOMES = ("not_listening", "no_metadata_path", "listening")
LOG_OUTCOMES = ("signature_rejected", "backend_errors", "no_errors")
SECRET_OUTCOMES = ("secrets_differ", "secret_unset", "secrets_match")

NOVA_SIGNATURE = "X-Instance-ID-Signature:"
NOVA_MISMATCH = "does not match the expected value"
AGENT_FORBIDDEN = "The remote metadata server responded with Forbidden"
MAX_SHOWN_LINES = 5


@dataclass(frozen=True)
class Probe:
    route: str  # `ip route get` output, or what it said
    tcp: str  # what a bare connect to port 80 said ("" connected, or old recordings)
    http_status: int  # 0: no HTTP answer
    curl_exit: int


def parse_probe(text: str, where: str) -> Probe:
    route, tcp, status, code = "", "", None, None
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "route":
            route = rest.split("\\")[0].replace(" uid 0", "").strip()
        elif key == "tcp":
            tcp = rest.strip().removeprefix("bash: connect: ").removeprefix("bash: line 1: ")
        elif key == "http" and rest.strip().isdigit():
            status = int(rest.strip())
        elif key == "curl_exit" and rest.strip().lstrip("-").isdigit():
            code = int(rest.strip())
    if code is None:
        raise CloudtalesError(f"{where}: no curl exit status in the probe's output (curl missing?)")
    return Probe(route, tcp, status or 0, code)


def judge_probe(host: str, probe: Probe) -> CheckResult:
    facts: dict[str, FactValue] = {
        "route": probe.route,
        "http_status": probe.http_status,
        "curl_exit": probe.curl_exit,
        "tcp": probe.tcp,
    }
    routed = " via " in probe.route or " dev " in probe.route
    if not routed or "unreachable" in probe.route:
        outcome, said = "no_route", f"no route to 169.254.169.254 ({probe.route or 'nothing'})"
    elif "unreachable" in probe.tcp.lower() or "no route" in probe.tcp.lower():
        outcome, said = "no_route", f"{probe.tcp} (a hop has no route to 169.254.169.254)"
    elif probe.curl_exit == 7:
        outcome, said = "refused", "connection refused"
    elif probe.curl_exit == 28:
        outcome, said = "timeout", "no answer within the probe's time"
    elif probe.http_status == 403:
        outcome, said = "forbidden", "HTTP 403 Forbidden"
    elif probe.http_status >= 500 or probe.curl_exit != 0 or probe.http_status == 0:
        outcome, said = "server_error", f"HTTP {probe.http_status}, curl exit {probe.curl_exit}"
    else:
        outcome, said = "ok", f"HTTP {probe.http_status}"
    summary = f"{host}: GET http://169.254.169.254/: {said}; route: {probe.route or 'none'}"
    evidence = (Evidence("metadata probe from the instance", summary, host),)
    return CheckResult(outcome, summary, {**facts, "said": said}, evidence)


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    process: str


def parse_listeners(text: str) -> list[Listener]:
    """``ss -Hltnp`` lines: State Recv-Q Send-Q Local:Port Peer:Port Process."""
    found = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5 or ":" not in cols[3]:
            continue
        address, _, port = cols[3].rpartition(":")
        if not port.isdigit():
            continue
        proc = re.search(r'users:\(\("([^"]+)"', line)
        found.append(Listener(address, int(port), proc.group(1) if proc else "?"))
    return found


def redirect_rules(iptables_save: str, port: int) -> list[str]:
    """The nat rules that send 169.254.169.254 to ``port`` (the L3 agent's redirect)."""
    return [
        ln.strip()
        for ln in iptables_save.splitlines()
        if "169.254.169.254" in ln and f"--to-ports {port}" in ln
    ]


def judge_listener(
    host: str, port: int, listeners: list[Listener], redirects: list[str]
) -> CheckResult:
    on_port = [x for x in listeners if x.port == port]
    redirect = redirects[0] if redirects else ""
    if on_port:
        who = ", ".join(f"{x.process} on {x.address}:{x.port}" for x in on_port)
        outcome, summary = "listening", f"{host}: {who}"
    elif redirect:
        outcome, summary = "not_listening", f"{host}: nothing listens on port {port}"
    else:  # no redirect either: this namespace is not on the metadata path at all
        outcome, summary = "no_metadata_path", f"{host}: nothing listens on port {port}"
    summary += f"; redirect {'169.254.169.254:80 -> ' + str(port) if redirect else 'absent'}"
    evidence = [Evidence(f"TCP listeners on {host} (ss -ltnp)", summary, host)]
    if redirect:
        evidence.append(Evidence("the metadata redirect (iptables -t nat)", redirect, host))
    facts: dict[str, FactValue] = {
        "port": port,
        "listener": on_port[0].process if on_port else "",
        "redirect": redirect,
        "listeners": [f"{x.address}:{x.port} {x.process}" for x in listeners][:20],
    }
    return CheckResult(outcome, summary, facts, tuple(evidence))


def scan_logs(host: str, logs: dict[str, str]) -> CheckResult:
    """``logs``: label (proxy, agent, nova) -> the tail of that log."""
    rejected = [
        ln
        for ln in logs.get("nova", "").splitlines()
        if NOVA_SIGNATURE in ln and NOVA_MISMATCH in ln
    ]
    forbidden = [ln for ln in logs.get("agent", "").splitlines() if AGENT_FORBIDDEN in ln]
    errors = [
        ln
        for label in ("agent", "nova")
        for ln in logs.get(label, "").splitlines()
        if " ERROR " in ln or "status: 5" in ln
    ]
    proxied = [ln for ln in logs.get("proxy", "").splitlines() if '"GET ' in ln]
    proxy_403 = [ln for ln in proxied if re.search(r"\s403\s", ln)]
    facts = {
        "signature_rejected": len(rejected),
        "agent_forbidden": len(forbidden),
        "backend_errors": len(errors),
        "proxy_requests": len(proxied),
        "proxy_403": len(proxy_403),
    }
    evidence = []
    for title, lines in (
        ("nova-api-metadata: signature rejected", rejected),
        ("neutron-metadata-agent: Forbidden from nova", forbidden),
        ("haproxy metadata proxy: requests answered 403", proxy_403),
        ("metadata agent / nova: errors", errors),
    ):
        if lines:
            evidence.append(
                Evidence(f"{title} ({len(lines)})", "\n".join(lines[-MAX_SHOWN_LINES:]), host)
            )
    if rejected:
        outcome = "signature_rejected"
        summary = (
            f"{host}: nova rejected {len(rejected)} signed request(s) "
            f"(X-Instance-ID-Signature does not match); agent logged Forbidden {len(forbidden)}x"
        )
    elif errors:
        outcome, summary = (
            "backend_errors",
            f"{host}: {len(errors)} error line(s) in the agent/nova logs",
        )
    else:
        outcome = "no_errors"
        summary = (
            f"{host}: no signature or backend errors ({len(proxied)} request(s) through the proxy)"
        )
    return CheckResult(outcome, summary, facts, tuple(evidence))


def parse_ini(text: str, where: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        conf.read_string(text)
    except configparser.Error as exc:
        raise CloudtalesError(f"{where}: not an ini file: {str(exc).splitlines()[0]}") from None
    return conf


def fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def judge_secrets(
    host: str, agent: configparser.ConfigParser, nova: configparser.ConfigParser
) -> CheckResult:
    a = agent.get("DEFAULT", "metadata_proxy_shared_secret", fallback="")
    n = nova.get("neutron", "metadata_proxy_shared_secret", fallback="")
    facts = {
        "agent_secret": fingerprint(a) if a else "unset",
        "nova_secret": fingerprint(n) if n else "unset",
    }
    where = (
        f"metadata_agent.ini [DEFAULT] {facts['agent_secret']}, "
        f"nova.conf [neutron] {facts['nova_secret']}"
    )
    if not a or not n:
        outcome, summary = "secret_unset", f"{host}: metadata_proxy_shared_secret unset ({where})"
    elif a != n:
        outcome, summary = "secrets_differ", f"{host}: the shared secrets differ ({where})"
    else:
        outcome, summary = "secrets_match", f"{host}: the shared secrets match ({where})"
    return CheckResult(
        outcome,
        summary,
        facts,
        (Evidence("metadata_proxy_shared_secret (fingerprints)", where, host),),
    )
