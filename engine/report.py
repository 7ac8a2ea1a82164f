"""The Markdown postmortem, written from a journal alone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from engine.journal import Event, read_events
from engine.playbook.graph import PlaybookGraph
from engine.walker import Walker


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt(value: object) -> str:
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value) + "`"
    return f"`{value}`"


def render_report(graph: PlaybookGraph, events: list[Event]) -> str:
    walker = Walker.resume(graph, events)
    sym = graph.symptom(walker.state.symptom)
    out: list[str] = []
    title, url = graph.source_link(sym.id)
    out += [f"# Incident report: {sym.title}", ""]
    session = next(e for e in events if e.type == "session")
    started = _clock(session.ts)
    out += [f"- **Started:** {started}", f"- **Symptom:** {sym.title} (`{sym.id}`)"]
    if session.data.get("inventory"):
        out.append(f"- **Inventory:** `{session.data['inventory']}`")
    dia = walker.diagnosis
    out.append(f"- **Diagnosis:** {dia.title} (`{dia.id}`)" if dia else "- **Diagnosis:** none yet")
    out += [f"- **Tale:** [{title}]({url})", ""]

    out += ["## Timeline", ""]
    for ev in events:
        d = ev.data
        line = {
            "session": f"investigation started: {sym.title}",
            "check_started": f"started **{d.get('node')}** on {', '.join(d.get('hosts', []))}",
            "check_result": f"**{d.get('node')}** → `{d.get('outcome')}`: {d.get('summary', '')}",
            "check_failed": f"**{d.get('node')}** failed: {d.get('error', '')}",
            "skip": f"skipped **{d.get('node')}**",
            "back": "stepped back",
            "fact": (
                f"fact `{d.get('name')}` = {_fmt(d.get('value'))} ({d.get('source', 'operator')})"
            ),
            "note": f"note: {d.get('text', '')}",
            "remedy_dry_run": f"remedy **{d.get('remedy')}** shown as a dry run",
            "remedy_run": f"remedy **{d.get('remedy')}** run after confirmation",
        }.get(ev.type)
        if line:
            out.append(f"- `{_clock(ev.ts)[11:19]}` {line}")
    out.append("")

    out += ["## What was checked, and why", ""]
    for n, st in enumerate(walker.state.steps, 1):
        chk = graph.check(st.node)
        out += [
            f"### {n}. {chk.title}",
            "",
            f"*Why:* {' '.join(chk.why.split())}",
            "",
            f"*Result:* `{st.outcome or st.how}`: {st.summary}",
            "",
        ]
        for e in st.evidence:
            out += [
                f"**{e.title}**" + (f" ({e.host})" if e.host else ""),
                "",
                "```",
                e.text,
                "```",
                "",
            ]

    if dia is not None:
        out += ["## Root cause", "", f"**{dia.title}**", "", " ".join(dia.explanation.split()), ""]
        ev_facts = walker.evidence()
        if ev_facts:
            out += ["Evidence:", ""] + [f"- `{k}`: {_fmt(v)}" for k, v in ev_facts] + [""]
        if dia.remedies:
            out += ["## Fix", ""]
            for rid in dia.remedies:
                rem = graph.remedies[rid]
                out += [f"**{rem.title}**", "", " ".join(rem.description.split()), ""]
                if rem.commands:
                    out += ["```sh", *rem.commands, "```", ""]
        if dia.lesson:
            out += ["## Lesson", "", " ".join(dia.lesson.split()), ""]
        for link in dia.links:
            out.append(f"- [{link.title}]({link.url})")
        out.append("")
    if walker.state.notes:
        out += (
            ["## Notes", ""]
            + [f"- `{_clock(ts)[11:19]}` {t}" for ts, t in walker.state.notes]
            + [""]
        )
    return "\n".join(out)


def write_report(graph: PlaybookGraph, journal: str | Path, out: str | Path | None = None) -> str:
    text = render_report(graph, list(read_events(journal)))
    if out is not None:
        Path(out).write_text(text)
    return text
