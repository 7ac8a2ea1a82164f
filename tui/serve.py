"""``cloudtales follow`` and ``cloudtales serve``: a second, read-only view of an incident.

``follow JOURNAL`` opens the follow screen in this terminal. ``serve JOURNAL`` runs
textual-serve: every browser connection starts its own ``cloudtales follow JOURNAL``
process, so followers see the panes and the decision path but have nothing that
can run a check (the follow app has no such action, and each browser only talks to
its own follower process). The operator keeps working in their own terminal:

    cloudtales investigate -i inv.yaml --journal /tmp/incident.jsonl   # terminal 1
    cloudtales serve /tmp/incident.jsonl --port 8000                  # terminal 2

or in one go, ``investigate ... --serve 8000`` / ``drill NAME --serve 8000``, which
start ``serve`` in the background (its log beside the journal) and stop it on exit.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import CloudtalesError

READY_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1


def cli_prefix(playbooks: list[str] | None = None) -> list[str]:
    """How to run this cloudtales again (same interpreter, same playbooks)."""
    argv = [sys.executable, "-m", "tui.cli"]
    for pb in playbooks or []:
        argv += ["--playbooks", str(Path(pb).resolve())]
    return argv


def follow_command(journal: str | Path, playbooks: list[str] | None = None) -> str:
    return shlex.join([*cli_prefix(playbooks), "follow", str(Path(journal).resolve())])


def parse_hostport(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``8000`` or ``0.0.0.0:8000``.

    >>> parse_hostport("8000"), parse_hostport("0.0.0.0:9000")
    (('127.0.0.1', 8000), ('0.0.0.0', 9000))
    """
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise CloudtalesError(f"--serve {value!r}: expected PORT or HOST:PORT") from None
    if not 0 < number < 65536:
        raise CloudtalesError(f"--serve {value!r}: {number} is not a port")
    return host or default_host, number


def cmd_follow(args: argparse.Namespace) -> int:
    from engine.playbook.graph import load_valid_graph
    from tui.app import FollowApp, sixteen_colours

    graph = load_valid_graph(args.playbooks)
    FollowApp(graph, args.journal, poll=args.poll, ansi=sixteen_colours()).run()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.drill:
        from tui.session_cli import cmd_drill

        drill_args = argparse.Namespace(
            **{
                **vars(args),
                "name": args.drill,
                "serve": f"{args.host}:{args.port}",
                "list": False,
                "healthy": False,
                "autopilot": False,
                "keep": False,
                "journal": args.journal,
                "record": None,
                "blind": False,
                "surprise": False,
                "surprise_within": 120.0,
            }
        )
        return cmd_drill(drill_args)
    if not args.journal:
        raise CloudtalesError("serve needs a JOURNAL (or --drill NAME)")
    serve(args.journal, args.host, args.port, args.playbooks, getattr(args, "public_url", None))
    return 0


def public_url(host: str, port: int, given: str | None = None) -> str:
    """The URL the page tells browsers to connect back to (its websocket).

    >>> public_url("127.0.0.1", 8000), public_url("::", 80, "http://bastion:8000")
    ('http://127.0.0.1:8000', 'http://bastion:8000')
    """
    if given:
        return given.rstrip("/")
    if host in ("0.0.0.0", "::", ""):  # every interface: name this machine, not 0.0.0.0
        host = socket.getfqdn()
    return f"http://{host}:{port}"


def serve(
    journal: str | Path,
    host: str,
    port: int,
    playbooks: list[str] | None = None,
    url: str | None = None,
) -> None:
    """Serve ``cloudtales follow JOURNAL`` to browsers until interrupted (blocks)."""
    from textual_serve.server import Server

    name = Path(journal).name
    Server(
        follow_command(journal, playbooks),
        host=host,
        port=port,
        title=f"cloudtales: following {name} (read-only)",
        public_url=public_url(host, port, url),
    ).serve()


def _die_with_parent() -> None:
    """(in the child) SIGTERM when the operator's process dies, however it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CloudtalesError(f"cloudtales serve exited (status {proc.returncode})")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise CloudtalesError(f"cloudtales serve is not listening on {host}:{port}")


class BackgroundServer:
    """``cloudtales serve JOURNAL`` as a child process, for ``--serve`` (a context manager)."""

    def __init__(self, journal: Path, hostport: str, playbooks: list[str] | None = None) -> None:
        self.journal = journal
        self.host, self.port = parse_hostport(hostport)
        self.playbooks = playbooks
        self.log = journal.with_name(journal.name + ".serve.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> BackgroundServer:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        argv = [*cli_prefix(self.playbooks), "serve", str(self.journal.resolve())]
        argv += ["--host", self.host, "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # the TUI's terminal keys never reach it
                preexec_fn=_die_with_parent,  # nor does it outlive the operator's process
            )
        try:
            wait_listening(self.host, self.port, self.proc, READY_TIMEOUT)
        except CloudtalesError as exc:
            self.__exit__()
            raise CloudtalesError(f"{exc}; see {self.log}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the followers it started
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
