"""A faithful emulation of neutron's metadata agent and nova's metadata API (the lab's).

Until the real nova metadata API of the control-plane issue exists, this module plays
the two processes behind the real haproxy metadata proxy, as they behave upstream:

``agent``  neutron-metadata-agent: an HTTP server on a unix socket
           (``/var/lib/neutron/metadata_proxy`` upstream; here a path of the lab's).
           haproxy in the router namespace forwards each instance request there with
           ``X-Forwarded-For`` (the instance address) and ``X-Neutron-Router-ID``. The
           agent looks the port up (router + address -> instance and project), adds
           ``X-Instance-ID``, ``X-Tenant-ID`` and ``X-Instance-ID-Signature`` =
           HMAC-SHA256(metadata_proxy_shared_secret, instance id), hex, and relays the
           request to nova. A 403 from nova becomes neutron's own warning line and a
           403 to the instance.
``api``    nova-api-metadata: recomputes the HMAC with nova.conf's
           ``[neutron] metadata_proxy_shared_secret``; a mismatch logs nova's warning
           ("X-Instance-ID-Signature: ... does not match the expected value") and
           answers 403; otherwise it serves the instance's metadata (instance-id,
           hostname, public-keys, meta_data.json).

Both read their real configuration files (metadata_agent.ini, nova.conf) and write
oslo.log-style lines. Standard library only. Run: ``python -m
labs.metadata.nova_metadata_emulator agent|api --conf FILE --ports FILE --log FILE``.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import hmac
import http.client
import json
import os
import socket
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def log_line(log: Path, level: str, logger: str, text: str) -> None:
    """One oslo.log-style line: ``2026-12-04 14:30:01.123 PID LEVEL LOGGER [-] TEXT``."""
    now = time.time()
    stamp = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    )
    with log.open("a") as out:
        out.write(f"{stamp} {os.getpid()} {level} {logger} [-] {text}\n")


def sign(secret: str, instance_id: str) -> str:
    """What both neutron and nova compute: HMAC-SHA256 of the instance id, hex."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def read_conf(path: Path) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(path)
    return conf


# ------------------------------------------------------------------ neutron's agent


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class AgentHandler(BaseHTTPRequestHandler):
    server_version = "neutron-metadata-agent"
    conf: configparser.ConfigParser
    ports: dict[str, Any]
    log: Path

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: the agent logs its own lines."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        log = self.log
        remote = (self.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        router = self.headers.get("X-Neutron-Router-ID", "")
        port = self.ports.get(f"{router}/{remote}")
        if port is None:
            log_line(
                log,
                "WARNING",
                "neutron.agent.metadata.agent",
                f"Failed to get instance for router {router} and address {remote}",
            )
            self._reply(404, b"404 Not Found\n")
            return
        secret = self.conf.get("DEFAULT", "metadata_proxy_shared_secret", fallback="")
        host = self.conf.get("DEFAULT", "nova_metadata_host", fallback="127.0.0.1")
        nport = self.conf.getint("DEFAULT", "nova_metadata_port", fallback=8775)
        headers = {
            "X-Forwarded-For": remote,
            "X-Instance-ID": port["instance_id"],
            "X-Tenant-ID": port["project_id"],
            "X-Instance-ID-Signature": sign(secret, port["instance_id"]),
        }
        try:
            conn = http.client.HTTPConnection(host, nport, timeout=10)
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
        except OSError as exc:
            log_line(log, "ERROR", "neutron.agent.metadata.agent", f"Unexpected error.: {exc}")
            self._reply(500, b"500 Internal Server Error\n")
            return
        if resp.status == 403:
            log_line(
                log,
                "WARNING",
                "neutron.agent.metadata.agent",
                "The remote metadata server responded with Forbidden. This response "
                "usually occurs when shared secrets do not match.",
            )
        log_line(
            log,
            "INFO",
            "eventlet.wsgi.server",
            f'{remote},<local> "GET {self.path} HTTP/1.1" status: {resp.status} len: {len(body)}',
        )
        self._reply(resp.status, body)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# ------------------------------------------------------------------ nova's metadata API


class NovaHandler(BaseHTTPRequestHandler):
    server_version = "nova-api-metadata"
    conf: configparser.ConfigParser
    instances: dict[str, Any]
    log: Path

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: the API logs its own lines."""

    def do_GET(self) -> None:  # noqa: N802
        log = self.log
        instance_id = self.headers.get("X-Instance-ID", "")
        signature = self.headers.get("X-Instance-ID-Signature", "")
        remote = self.headers.get("X-Forwarded-For", "")
        secret = self.conf.get("neutron", "metadata_proxy_shared_secret", fallback="")
        expected = sign(secret, instance_id)
        if not hmac.compare_digest(expected, signature):
            log_line(
                log,
                "WARNING",
                "nova.api.metadata.handler",
                f"X-Instance-ID-Signature: {signature} does not match the expected "
                f"value: {expected} for id: {instance_id}. Request From: {remote}",
            )
            self._finish(403, b"403 Forbidden\n")
            return
        body = self._document(self.instances.get(instance_id, {}), instance_id)
        if body is None:
            self._finish(404, b"404 Not Found\n")
            return
        self._finish(200, body)

    def _document(self, inst: dict[str, Any], instance_id: str) -> bytes | None:
        path = self.path.split("?")[0].rstrip("/")
        meta = {
            "instance-id": instance_id,
            "hostname": inst.get("hostname", ""),
            "local-ipv4": inst.get("ip", ""),
            "public-keys/0/openssh-key": inst.get("ssh_key", ""),
        }
        if path in ("", "/latest", "/latest/meta-data"):
            return "\n".join(sorted({k.split("/")[0] for k in meta})).encode()
        for key, value in meta.items():
            if path == f"/latest/meta-data/{key}":
                return str(value).encode()  # as nova: no trailing newline
        if path == "/openstack/latest/meta_data.json":
            doc = {
                "uuid": instance_id,
                "hostname": inst.get("hostname", ""),
                "public_keys": {"default": inst.get("ssh_key", "")},
            }
            return json.dumps(doc).encode()
        return None

    def _finish(self, status: int, body: bytes) -> None:
        log_line(
            self.log,
            "INFO",
            "nova.metadata.wsgi.server",
            f"{self.headers.get('X-Forwarded-For', '')},{self.client_address[0]} "
            f'"GET {self.path} HTTP/1.1" status: {status} len: {len(body)}',
        )
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nova_metadata_emulator")
    ap.add_argument("role", choices=["agent", "api"])
    ap.add_argument("--conf", required=True, help="metadata_agent.ini (agent) or nova.conf (api)")
    ap.add_argument("--ports", required=True, help="JSON: the ports and instances of the lab")
    ap.add_argument("--log", required=True)
    ap.add_argument("--socket", help="(agent) the unix socket haproxy forwards to")
    ap.add_argument("--listen", default="127.0.0.1:8775", help="(api) HOST:PORT")
    args = ap.parse_args(argv)
    conf = read_conf(Path(args.conf))
    data = json.loads(Path(args.ports).read_text())
    log = Path(args.log)
    if args.role == "agent":
        handler: type[BaseHTTPRequestHandler] = type(
            "Agent", (AgentHandler,), {"conf": conf, "ports": data["ports"], "log": log}
        )
        sock = Path(args.socket)
        sock.unlink(missing_ok=True)
        server: socketserver.BaseServer = _UnixHTTPServer(str(sock), handler)
        log_line(log, "INFO", "neutron.agent.metadata.agent", f"Metadata agent listening on {sock}")
    else:
        handler = type(
            "Nova", (NovaHandler,), {"conf": conf, "instances": data["instances"], "log": log}
        )
        host, _, port = args.listen.rpartition(":")
        ThreadingHTTPServer.address_family = socket.AF_INET
        server = ThreadingHTTPServer((host, int(port)), handler)
        log_line(log, "INFO", "nova.metadata.wsgi.server", f"metadata listening on {args.listen}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
