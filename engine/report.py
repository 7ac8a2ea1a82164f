"""The Markdown postmortem, written from a journal alone, told like one of the tales.

It reads in the order the tales do: the symptom, what was checked and why (with the
operator's notes where they were made), the evidence, the root cause, the fix, the
lesson; then the full timeline, notes included, for whoever needs the minutes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.journal import Event, read_events
from engine.playbook.graph import PlaybookGraph
from engine.playbook.model import Diagnosis
from engine.walker import Step, Walker

NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _hms(ts: float) -> str:
    return _clock(ts)[11:19]


def _fmt(value: object) -> str:
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value) + "`"
    return f"`{value}`"


def _oneline(text: str) -> str:
    return " ".join(text.split())


def duration(seconds: float) -> str:
    """A human duration.

    >>> duration(4.2), duration(133), duration(7322)
    ('4.2 s', '2 min 13 s', '2 h 2 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _count(n: int, noun: str) -> str:
    word = NUMBERS[n] if n < len(NUMBERS) else str(n)
    return f"{word} {noun}{'' if n == 1 else 's'}"


@dataclass
class _StepTrace:
    """What the journal says about one step beyond the walker's state."""

    hosts: list[str] = field(default_factory=list)
    seconds: float | None = None
    notes: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class _Trace:
    steps: list[_StepTrace] = field(default_factory=list)
    closing_notes: list[tuple[float, str]] = field(default_factory=list)
    remedies: dict[str, list[str]] = field(default_factory=dict)
    # the hosts and commands a dry run showed, with this incident's facts filled in
    planned: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    reached_ts: float | None = None
    live_lines: int = 0


def _trace(graph: PlaybookGraph, events: Sequence[Event]) -> _Trace:
    """Replay the events to tie notes, hosts and timings to the steps that survived."""
    walker = Walker(graph)
    trace = _Trace()
    started: dict[str, tuple[float, list[str]]] = {}
    pending: list[_StepTrace] = []  # index = step index in the walker's state
    for ev in events:
        d = ev.data
        if ev.type == "check_started":
            started[str(d.get("node"))] = (ev.ts, [str(h) for h in d.get("hosts", [])])
        elif ev.type == "live":
            trace.live_lines += sum(len(s.get("lines", [])) for s in d.get("sources", {}).values())
        elif ev.type in ("remedy_dry_run", "remedy_run"):
            rem = str(d.get("remedy"))
            if ev.type == "remedy_dry_run":
                what = f"shown as a dry run at {_hms(ev.ts)}"
                if d.get("commands"):  # journals before plans were recorded have none
                    trace.planned[rem] = (
                        [str(h) for h in d.get("hosts", [])],
                        [str(c) for c in d["commands"]],
                    )
            else:
                what = f"run at {_hms(ev.ts)} after confirmation: " + (
                    "it succeeded" if d.get("ok") else "it stopped at a failure"
                )
            trace.remedies.setdefault(rem, []).append(what)
        before = len(walker.state.steps)
        walker.apply(ev)
        after = len(walker.state.steps)
        if after < before:  # back: the undone step is worked on again; its notes stay
            del pending[after + 1 :]
            if after < len(pending):
                pending[after].hosts, pending[after].seconds = [], None
        for i in range(before, after):
            st = walker.state.steps[i]
            t0, hosts = started.get(st.node, (None, []))
            secs = ev.ts - t0 if t0 is not None and st.how in ("ran", "failed") else None
            while len(pending) <= i:
                pending.append(_StepTrace())
            pending[i].hosts, pending[i].seconds = hosts, secs
        if ev.type == "note":
            note = (ev.ts, str(d.get("text", "")))
            if walker.done:
                trace.closing_notes.append(note)
            else:  # it belongs to the step being worked on: the next one
                idx = len(walker.state.steps)
                while len(pending) <= idx:
                    pending.append(_StepTrace())
                pending[idx].notes.append(note)
        if walker.done and trace.reached_ts is None:
            trace.reached_ts = ev.ts
        elif not walker.done:
            trace.reached_ts = None
    trace.steps = pending
    return trace


def _why(graph: PlaybookGraph, steps: Sequence[Step], n: int) -> str:
    why = _oneline(graph.check(steps[n].node).why)
    if n == 0:
        return why
    prev = steps[n - 1]
    if prev.how == "ran":
        because = f"{prev.node} found `{prev.outcome}`"
    elif prev.how == "answered":
        because = f"the operator said {prev.node} is `{prev.outcome}`"
    else:
        because = f"{prev.node} was {prev.how}"
    return f"{because}. {why}"


def _opening(graph: PlaybookGraph, walker: Walker, events: Sequence[Event], tr: _Trace) -> str:
    sym = graph.symptom(walker.state.symptom)
    session = events[0]
    checks = [s for s in walker.state.steps if s.how in ("ran", "failed")]
    answered = [s for s in walker.state.steps if s.how == "answered"]
    skipped = [s for s in walker.state.steps if s.how == "skipped"]
    start = dt.datetime.fromtimestamp(session.ts, tz=dt.UTC)
    who = "A drill" if session.data.get("drill") else "An operator"
    if session.data.get("offline"):
        who += f" (offline, from {_count(len(session.data.get('sosreports') or []), 'sosreport')})"
    text = (
        f"{who} started on {start:%Y-%m-%d} at {start:%H:%M} UTC from the symptom *{sym.title}*. "
    )
    parts = [_count(len(checks), "check")]
    if answered:
        parts.append(f"{_count(len(answered), 'answer')} the operator already knew")
    if skipped:
        parts.append(f"{_count(len(skipped), 'skipped check')}")
    verdict = walker.verdict
    if verdict is None:
        return text + f"{', '.join(parts).capitalize()} so far; no root cause yet."
    took = f" in {duration(tr.reached_ts - session.ts)}" if tr.reached_ts else ""
    if verdict.diagnosis is None:
        return text + f"{', '.join(parts).capitalize()} ended{took} **inconclusive**."
    ending = "the root cause" if verdict.diagnosis.conclusive else "a dead end of this tale"
    return text + f"{', '.join(parts).capitalize()} led{took} to {ending}: **{verdict.title}**."


def _header(graph: PlaybookGraph, walker: Walker, events: Sequence[Event]) -> list[str]:
    sym = graph.symptom(walker.state.symptom)
    session = events[0]
    title, url = graph.source_link(sym.id)
    out = [f"- **Started:** {_clock(session.ts)}", f"- **Symptom:** {sym.title} (`{sym.id}`)"]
    if len(events) > 1:
        out.append(f"- **Last event:** {_clock(events[-1].ts)}")
    if session.data.get("offline"):  # walked from sosreports: no host was contacted
        reports = ", ".join(f"`{p}`" for p in session.data.get("sosreports") or []) or "none"
        hosts = ", ".join(f"{h} ({d})" for h, d in (session.data.get("sos_hosts") or {}).items())
        out.append(f"- **Offline:** from sosreports {reports}; no host was contacted")
        if hosts:
            out.append(f"- **Hosts from reports:** {hosts}")
    elif session.data.get("inventory"):
        out.append(f"- **Inventory:** `{session.data['inventory']}`")
    if session.data.get("drill"):
        state = "healthy" if session.data.get("healthy") else "faulty"
        mode = f", {session.data['lab_mode']}" if session.data.get("lab_mode") else ""
        out.append(f"- **Drill:** `{session.data['drill']}` ({state} lab{mode})")
    v = walker.verdict
    if v is None:
        out.append("- **Diagnosis:** none yet")
    elif v.diagnosis is None:
        out.append(f"- **Diagnosis:** inconclusive (`{v.line()}`)")
    else:
        out.append(f"- **Diagnosis:** {v.title} (`{v.diagnosis.id}`)")
    out.append(f"- **Tale:** [{title}]({url})")
    return out


def _checked(graph: PlaybookGraph, walker: Walker, tr: _Trace) -> list[str]:
    steps = walker.state.steps
    out = ["## What was checked, and why", ""]
    if not steps:
        out += ["Nothing yet.", ""]
    for n, st in enumerate(steps):
        chk = graph.check(st.node)
        info = tr.steps[n] if n < len(tr.steps) else _StepTrace()
        out += [f"### {n + 1}. {chk.title}", "", f"*Why:* {_why(graph, steps, n)}", ""]
        for ts, note in info.notes:
            out += [f"> **Note** ({_hms(ts)}): {note}", ""]
        if st.how in ("ran", "failed"):
            where = ", ".join(info.hosts) or ", ".join(chk.hosts) or "-"
            took = f", {duration(info.seconds)}" if info.seconds is not None else ""
            out += [f"*How:* `{chk.type}` on {where}{took}", ""]
        result = st.outcome or st.how
        out += [f"*Found:* `{result}`: {st.summary}" if st.summary else f"*Found:* `{result}`", ""]
        for e in st.evidence:
            out += [f"**{e.title}**" + (f" ({e.host})" if e.host else ""), "", "```", e.text]
            out += ["```", ""]
    nxt = tr.steps[len(steps)] if len(tr.steps) > len(steps) else None
    if nxt is not None and nxt.notes and not walker.done and walker.state.current:
        out += [f"### Next: {graph.check(walker.state.current).title}", ""]
        out += [f"> **Note** ({_hms(ts)}): {note}" for ts, note in nxt.notes] + [""]
    return out


def _conclusion(graph: PlaybookGraph, walker: Walker, dia: Diagnosis, tr: _Trace) -> list[str]:
    out = ["## The evidence", ""]
    got = dict(walker.evidence())
    verdict = walker.verdict
    assert verdict is not None
    ops = verdict.operator_facts
    names = [*verdict.backed_by, *(k for k in dia.evidence if k not in verdict.backed_by)]
    out += [
        (f"- `{k}`: {_fmt(got[k])}" + (" *(the operator's)*" if k in ops else ""))
        if k in got
        else f"- `{k}`: not gathered"
        for k in names
    ]
    heading = "## Root cause" if dia.conclusive else "## Root cause (not conclusive)"
    out += ["", heading, "", f"**{verdict.title}**", "", _oneline(verdict.explanation), ""]
    for ts, note in tr.closing_notes:
        out += [f"> **Note** ({_hms(ts)}): {note}", ""]
    if dia.remedies:
        out += ["## Fix", ""]
        for rid in dia.remedies:
            rem = graph.remedies[rid]
            out += [f"**{rem.title}**", "", _oneline(rem.description), ""]
            hosts, commands = tr.planned.get(rid, (rem.hosts, rem.commands))
            if commands:
                where = ", ".join(hosts)
                out += [f"On {where}:" if where else "Commands:", "", "```sh", *commands]
                out += ["```", ""]
            done = tr.remedies.get(rid)
            out += [f"*During the incident:* {'; '.join(done)}." if done else "*Not run.*", ""]
    if dia.lesson:
        out += ["## Lesson", "", _oneline(dia.lesson), ""]
    if dia.links:
        out += ["## Links", ""] + [f"- [{link.title}]({link.url})" for link in dia.links] + [""]
    return out


def _timeline(graph: PlaybookGraph, events: Sequence[Event], walker: Walker) -> list[str]:
    sym_title = graph.symptom(walker.state.symptom).title
    out = ["## Timeline", ""]
    for ev in events:
        d: dict[str, Any] = ev.data
        line = {
            "session": f"investigation started: {sym_title}",
            "resumed": "investigation resumed from the journal",
            "check_started": f"started **{d.get('node')}** on {', '.join(d.get('hosts', []))}",
            "check_result": f"**{d.get('node')}** → `{d.get('outcome')}`: {d.get('summary', '')}",
            "check_failed": f"**{d.get('node')}** failed: {d.get('error', '')}",
            "check_cancelled": f"**{d.get('node')}** cancelled by the operator",
            "skip": f"skipped **{d.get('node')}**",
            "back": "stepped back",
            "fact": (
                f"fact `{d.get('name')}` = {_fmt(d.get('value'))} ({d.get('source', 'operator')})"
            ),
            "note": f"**note:** {d.get('text', '')}",
            "pane_opened": f"live pane on {d.get('host')}: `{d.get('command')}`",
            "hint": f"hint asked at **{d.get('node')}**",
            "fault_injected": "the drill's fault started (surprise)",
            "remedy_dry_run": f"remedy **{d.get('remedy')}** shown as a dry run",
            "remedy_run": f"remedy **{d.get('remedy')}** run after confirmation",
        }.get(ev.type)
        if line:
            out.append(f"- `{_hms(ev.ts)}` {line}")
    out.append("")
    return out


def render_report(graph: PlaybookGraph, events: list[Event]) -> str:
    walker = Walker.resume(graph, events)
    events = events[next(i for i, e in enumerate(events) if e.type == "session") :]
    tr = _trace(graph, events)
    sym = graph.symptom(walker.state.symptom)
    out = [f"# Incident report: {sym.title}", "", _opening(graph, walker, events, tr), ""]
    out += _header(graph, walker, events) + [""]
    out += ["## The symptom", "", _oneline(sym.description) or sym.title, ""]
    out += _checked(graph, walker, tr)
    dia = walker.diagnosis
    verdict = walker.verdict
    if dia is not None:
        out += _conclusion(graph, walker, dia, tr)
    elif verdict is not None:
        out += ["## Inconclusive", "", f"`{verdict.line()}`", ""]
        out += [f"- {line}" for line in verdict.by_hand()]
        out += [f"- needs {u.line()}" for u in verdict.unmet] + [""]
    else:
        out += ["## Root cause", "", "Not found yet: the investigation stopped here.", ""]
    out += _timeline(graph, events, walker)
    if walker.state.notes:
        out += ["## Notes", ""]
        out += [f"- `{_hms(ts)}` {t}" for ts, t in walker.state.notes] + [""]
    if tr.live_lines:
        out += [f"*{tr.live_lines} live pane lines were journalled for followers.*", ""]
    return "\n".join(out)


def write_report(graph: PlaybookGraph, journal: str | Path, out: str | Path | None = None) -> str:
    text = render_report(graph, list(read_events(journal)))
    if out is not None:
        Path(out).write_text(text)
    return text
