"""The ``cloudtales`` command. Only the UI subcommands import textual (lazily)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.errors import CloudtalesError

EPILOG = """\
quick start (no cloud needed, as root):
  cloudtales drill double-vlan              build the Double VLAN lab, investigate it in the TUI
  cloudtales drill double-vlan --autopilot  the same, headless: prints the path and the diagnosis

against your cloud:
  cloudtales investigate -i inventory.yaml                 pick a symptom, walk it in the TUI
  cloudtales investigate -i inv.yaml -s SYMPTOM --autopilot
  cloudtales hosts -i hosts.ini                  reachable? tcpdump, ip, qemu-img, virsh, sudo -n
  cloudtales investigate --resume ~/.local/state/cloudtales/journals/X.jsonl
  cloudtales investigate --sosreport a.tar.xz --sosreport b/ -s SYMPTOM --autopilot   offline

live walkthrough (followers cannot run anything):
  cloudtales investigate -i inv.yaml --journal J   the operator, in one terminal
  cloudtales follow J                              a follower, in another terminal
  cloudtales serve J --port 8000                   followers in a browser (or --serve 8000)

training:
  cloudtales drill --list                          drills, what each needs, can this machine run it
  cloudtales drill double-vlan [--blind] [--surprise]   timed, scored; history of attempts

after the incident:
  cloudtales report JOURNAL -o postmortem.md
  cloudtales analyze capture.pcap --mtu 1500      findings for a capture someone sent you
  cloudtales analyze --point controller=c.pcap --point instance=i.pcap   the same packets at both

headless endings (--autopilot), the last line and the exit status:
  diagnosis: ID                         exit 0: a diagnosis whose required evidence was observed
  inconclusive: CHECK@HOST (REASON), ...  exit 3: what could not be checked, and where; the
                                        lines before it say what to run there by hand
a check that could not run (host unreachable, stream lost, command or var missing, timeout)
is an error, never a negative finding: no diagnosis stands on it.

checks are read-only; remedies are shown as dry runs and run only after confirmation.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cloudtales",
        description="Guided troubleshooting for OpenStack clouds, built from the "
        "'Tales From the Cloud'. Each tale is a playbook: symptoms, read-only "
        "checks, branches and diagnoses.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--playbooks",
        action="append",
        metavar="PATH",
        help="playbook file or directory (default: the shipped playbooks/)",
    )
    read_only = {
        "action": "store_true",
        "help": "hide every remedy action: dry runs are shown, never run (k9s --readonly)",
    }
    p.add_argument("--read-only", **read_only)  # type: ignore[arg-type]
    p.add_argument(
        "--cloud",
        metavar="NAME",
        help="the clouds.yaml cloud the API checks ask, found the standard way "
        "(default: the controller's os_cloud var, else OS_CLOUD)",
    )
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    inv = sub.add_parser(
        "investigate", help="walk a symptom to its root cause (TUI or --autopilot)"
    )
    inv.add_argument(
        "-i",
        "--inventory",
        metavar="FILE",
        help="inventory: cloudtales YAML or Ansible (INI/YAML/dir)",
    )
    inv.add_argument(
        "--sosreport",
        action="append",
        metavar="PATH",
        help="offline: walk from sosreports (a report dir, a dir of them, or a .tar.xz); "
        "repeatable, one host per report; no host is contacted",
    )
    inv.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="HOST=ROLE",
        help="(--sosreport) this host's roles, instead of those read from its report",
    )
    inv.add_argument("-s", "--symptom", help="symptom id (default: pick one in the TUI)")
    inv.add_argument(
        "--server",
        metavar="NAME|UUID",
        help="start from an OpenStack server: its compute host, instance, tap and MAC from "
        "the API (--cloud), the compute mapped to an inventory host",
    )
    inv.add_argument(
        "--autopilot",
        action="store_true",
        help="run every proposed check, headless; ends 'diagnosis: ID' (exit 0) or "
        "'inconclusive: CHECK@HOST (REASON), ...' (exit 3)",
    )
    inv.add_argument("--journal", metavar="FILE", help="where to write the incident journal")
    inv.add_argument(
        "--resume", metavar="JOURNAL", help="continue an investigation from its journal"
    )
    inv.add_argument("--read-only", default=argparse.SUPPRESS, **read_only)  # type: ignore[arg-type]
    inv.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        help="also publish it read-only to browsers (cloudtales serve, in the background)",
    )

    drill = sub.add_parser("drill", help="lab up, investigate, lab down (training; needs root)")
    drill.add_argument(
        "name", nargs="?", help="drill name, e.g. double-vlan (see `cloudtales drill --list`)"
    )
    drill.add_argument(
        "--list", action="store_true", help="each drill, what it needs, and if this machine can"
    )
    drill.add_argument(
        "--blind", action="store_true", help="pick the symptom among all of them; no tale named"
    )
    drill.add_argument(
        "--surprise",
        action="store_true",
        help="instructor: the lab comes up healthy and the fault starts at a random moment",
    )
    drill.add_argument(
        "--surprise-within",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="(--surprise) the fault starts between 10%% and 100%% of this (default 120)",
    )
    drill.add_argument("--read-only", default=argparse.SUPPRESS, **read_only)  # type: ignore[arg-type]
    drill.add_argument(
        "--serve", metavar="[HOST:]PORT", help="also publish the drill read-only to browsers"
    )
    drill.add_argument(
        "--healthy", action="store_true", help="build the corrected lab as a control"
    )
    drill.add_argument(
        "-s",
        "--symptom",
        help="start from this symptom instead of the tale's own (e.g. instance-unreachable)",
    )
    drill.add_argument(
        "--autopilot",
        action="store_true",
        help="walk headless; ends 'diagnosis: ID' (exit 0) or 'inconclusive: ...' (exit 3)",
    )
    drill.add_argument(
        "--fault",
        metavar="NAME",
        help="another fault of the lab (see drill --list), e.g. metadata --fault secret-mismatch",
    )
    drill.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    drill.add_argument("--journal", metavar="FILE", help="where to write the incident journal")
    drill.add_argument(
        "--record",
        metavar="DIR",
        help="(with --autopilot) record every command's output into DIR as a rehearsal test",
    )

    lab = sub.add_parser("lab", help="build or remove a tale's lab in network namespaces (root)")
    lab.add_argument("action", choices=["up", "down", "status", "sosreport"])
    lab.add_argument("name", help="lab name, e.g. double-vlan")
    lab.add_argument("dir", nargs="?", help="(sosreport) write DIR/<lab>-<health>/<host>/")
    lab.add_argument("--healthy", action="store_true", help="(up) build the corrected topology")
    lab.add_argument("--fault", metavar="NAME", help="(up) another fault of the lab")

    lint = sub.add_parser("lint", help="validate playbooks: schema, references, graph")
    lint.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (default: shipped)"
    )

    an = sub.add_parser(
        "analyze", help="findings for a pcap/pcapng capture (tags, oversize, BPDU, DHCP)"
    )
    an.add_argument(
        "file",
        nargs="*",
        help="capture file, or - to read a stream: tcpdump -w - | ... -; several files: "
        "the same packets at several capture points, correlated (labelled by file name)",
    )
    an.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a capture point's file under a label of its own (repeatable)",
    )
    an.add_argument("--mtu", type=int, default=1500, help="MTU of the captured link (default 1500)")
    an.add_argument("--json", action="store_true", help="machine-readable output")

    rep = sub.add_parser("report", help="Markdown postmortem from an incident journal")
    rep.add_argument("journal")
    rep.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    sub.add_parser("symptoms", help="list every symptom and drill the playbooks know")

    hosts = sub.add_parser(
        "hosts", help="check every host: reachable, tools (tcpdump, ip, ...), sudo -n"
    )
    from tui.hosts_cli import add_arguments as add_hosts_arguments

    add_hosts_arguments(hosts)

    reh = sub.add_parser(
        "rehearse", help="replay recorded sessions: expected path and diagnosis (no hosts)"
    )
    reh.add_argument(
        "dirs", nargs="+", metavar="DIR", help="rehearsal directories (or a tree of them)"
    )

    fol = sub.add_parser("follow", help="watch an investigation someone is journalling (read-only)")
    fol.add_argument("journal", metavar="JOURNAL")
    fol.add_argument(
        "--poll", type=float, default=0.25, metavar="SECONDS", help="how often to look (0.25)"
    )

    srv = sub.add_parser(
        "serve", help="publish an investigation to browsers, read-only (textual-serve)"
    )
    srv.add_argument("journal", nargs="?", metavar="JOURNAL", help="the journal to publish")
    srv.add_argument(
        "--drill", metavar="NAME", help="run drill NAME here and publish it (drill --serve)"
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    srv.add_argument(
        "--public-url", metavar="URL", help="how browsers reach it (default: http://HOST:PORT)"
    )
    return p


def _graph(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from engine.playbook.graph import load_valid_graph

    return load_valid_graph(args.playbooks)


def cmd_lint(args: argparse.Namespace) -> int:
    from engine.playbook.files import playbook_files
    from engine.playbook.graph import load_graph

    paths = args.paths or args.playbooks
    files = playbook_files(paths)
    graph, problems = load_graph(paths)
    for prob in problems:
        print(prob)
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    g = graph.g
    print(
        f"ok: {len(files)} playbook(s), {g.number_of_nodes()} nodes, {g.number_of_edges()} edges, "
        f"{len(graph.symptoms())} symptom(s)"
    )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from engine.analyzers.capture_report import print_analysis

    files: list[str] = args.file
    if len(files) + len(args.point) > 1:
        from engine.analyzers.multi_report import points_of, write_multi

        write_multi(points_of(files, args.point), sys.stdout, args.mtu, args.json)
        return 0
    if not files and not args.point:
        raise CloudtalesError("analyze needs a capture FILE (or - for standard input)")
    name, sep, path = ("", "=", files[0]) if files else args.point[0].partition("=")
    if not files and not (name and sep and path):
        raise CloudtalesError(f"--point {args.point[0]}: expected NAME=FILE")
    print_analysis(path, sys.stdout, args.mtu, args.json)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from engine.report import write_report

    text = write_report(_graph(args), args.journal, args.output)
    if args.output:
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def cmd_symptoms(args: argparse.Namespace) -> int:
    graph = _graph(args)
    for sym in sorted(graph.symptoms(), key=lambda s: s.id):
        print(f"{sym.id:<36} {sym.title}")
    drills = [src.playbook for src in graph.sources if src.playbook.drill]
    if drills:
        print("\ndrills:")
        for pb in drills:
            assert pb.drill is not None
            print(f"  {pb.drill.lab:<22} {pb.title} (expects {pb.drill.expect})")
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    import asyncio

    from engine.rehearsal import load_rehearsal, rehearsal_dirs, rehearse

    graph = _graph(args)
    dirs = [d for root in args.dirs for d in rehearsal_dirs(root)]
    if not dirs:
        raise CloudtalesError(f"no rehearsal.yaml under {', '.join(args.dirs)}")
    failed = 0
    for d in dirs:
        spec = load_rehearsal(d)
        result = asyncio.run(rehearse(graph, spec))
        problems = result.mismatches(spec)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {d}: {' -> '.join(result.path)}")
        for line in problems:
            print(f"     {line}")
    print(f"{len(dirs) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_lab(args: argparse.Namespace) -> int:
    from labs.core.base import with_fault
    from labs.core.registry import get_lab

    lab = with_fault(get_lab(args.name), getattr(args, "fault", None))
    if args.action == "sosreport":
        from pathlib import Path

        from labs.sosreport.collect import lab_sosreport

        if not args.dir:
            raise CloudtalesError("lab sosreport needs a DIR: cloudtales lab sosreport NAME DIR")
        say = lambda m: print(f"  {m}", file=sys.stderr)  # noqa: E731
        for result in lab_sosreport(args.name, Path(args.dir), say):
            print(result.line())
    elif args.action == "up":
        info = lab.up(healthy=args.healthy, progress=lambda m: print(f"  {m}", file=sys.stderr))
        print(
            f"lab {info.name} up ({'healthy' if info.healthy else 'faulty'}, mode {info.mode}); "
            f"inventory: {info.inventory_path}"
        )
    elif args.action == "down":
        removed = lab.down()
        print(
            f"lab {args.name} down"
            + (f": removed {', '.join(removed)}" if removed else " (nothing to remove)")
        )
    else:
        st = lab.status()
        state = "running" if st.running else "not running"
        extra = f", mode {st.mode}, {'healthy' if st.healthy else 'faulty'}" if st.running else ""
        print(f"lab {st.name}: {state}{extra}")
        for line in st.details:
            print(f"  {line}")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    from tui.hosts_cli import cmd_hosts as survey

    return survey(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cloud:
        from engine.sources.api_client import use_cloud

        use_cloud(args.cloud)
    try:
        if args.cmd is None:
            args.cmd, args.inventory, args.symptom, args.autopilot = (
                "investigate",
                None,
                None,
                False,
            )
            args.journal = args.resume = None
        handler = {
            "lint": cmd_lint,
            "analyze": cmd_analyze,
            "report": cmd_report,
            "symptoms": cmd_symptoms,
            "lab": cmd_lab,
            "rehearse": cmd_rehearse,
            "hosts": cmd_hosts,
        }.get(args.cmd)
        if handler is not None:
            return handler(args)
        if args.cmd in ("follow", "serve"):
            from tui.serve import cmd_follow, cmd_serve

            return cmd_follow(args) if args.cmd == "follow" else cmd_serve(args)
        from tui.quick_start import cmd_pick_first, picks_first

        if picks_first(args):  # the picker paints before the engine is imported
            return cmd_pick_first(args)
        from tui.session_cli import cmd_drill, cmd_investigate

        return cmd_drill(args) if args.cmd == "drill" else cmd_investigate(args)
    except CloudtalesError as exc:
        print(f"cloudtales: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cloudtales: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
