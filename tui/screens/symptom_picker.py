"""Pick the symptom the operator sees: type to filter (fuzzy), enter to start.

The list has the focus, as in k9s: ``/`` (or just typing) filters, ``q`` quits, and
in the filter ``esc`` or ``down`` goes back to the list.

In a blind drill every symptom of every playbook is offered and nothing says which
tale each belongs to: the trainee must recognise the incident from its symptom."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

# the picker reads symptoms through protocols: a validated graph, or the cached index it
# paints from before the graph is loaded (engine/playbook/index.py)
from engine.playbook.index import SymptomLike as Symptom
from engine.playbook.index import SymptomSource
from tui.screens.help import NO_PANE, elsewhere
from tui.widgets.notice_bar import NoticeBar


def score(matcher: Matcher, symptom: Symptom) -> float:
    """Best fuzzy score over the title, the id and each keyword (0 = no match)."""
    candidates = [symptom.title, symptom.id, *symptom.keywords]
    return max(matcher.match(c) for c in candidates)


def rank(symptoms: list[Symptom], query: str) -> list[tuple[float, Symptom]]:
    """Symptoms matching ``query``, best first; all of them by title when it is empty."""
    if not query.strip():
        return [(1.0, s) for s in sorted(symptoms, key=lambda s: s.title)]
    matcher = Matcher(query.strip())
    scored = [(score(matcher, s), s) for s in symptoms]
    return sorted(((sc, s) for sc, s in scored if sc > 0), key=lambda p: (-p[0], p[1].title))


def _prompt(matcher: Matcher | None, symptom: Symptom, blind: bool = False) -> Content:
    title = symptom.title
    shown = matcher.highlight(title) if matcher is not None and "[" not in title else Content(title)
    if blind:  # ids often carry the tale's name
        return shown
    return Content.assemble(shown, "\n", (symptom.id, "dim"))


class SymptomPickerScreen(Screen[str]):
    """Dismisses with the chosen symptom id."""

    HELP_TITLE = "symptom picker"
    HELP_INTRO = "Type (or /) to filter the symptoms; up/down moves, enter starts."

    BINDINGS = [
        Binding("down", "cursor(1)", "Next", show=False),
        Binding("up", "cursor(-1)", "Previous", show=False),
        Binding("enter", "choose", "Start", tooltip="investigate the highlighted symptom"),
        Binding("slash", "filter", "Filter", tooltip="type to filter the symptoms"),
        Binding("escape", "back_or_quit", "Quit", show=False, tooltip="leave the filter; quit"),
        Binding("q", "app.quit", "Quit", tooltip="quit cloudtales"),
    ]
    NOT_HERE = elsewhere("z w", NO_PANE) | elsewhere(
        "t r a s b f n p c d h x", "pick a symptom first (enter starts the walk)"
    )

    def __init__(self, graph: SymptomSource, blind: bool = False) -> None:
        super().__init__()
        self.graph = graph
        self.blind = blind
        self.symptoms = list(graph.symptoms())

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="picker"):
            yield Label("What does the incident look like? Type to filter, enter to start.")
            yield Input(placeholder="ssh freeze, mtu, dhcp, ...", id="filter")
            yield OptionList(id="symptoms")
            yield Static(id="symptom-detail")
        yield NoticeBar()
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.refilter("")
        self.query_one("#symptoms", OptionList).focus()

    def on_key(self, event: events.Key) -> None:
        """Typing on the list starts the filter (``q``, ``?`` and ``/`` stay keys)."""
        if self.focused is self.query_one("#symptoms") and event.is_printable:
            char = event.character or ""
            if char and char not in "q?/":
                event.stop()
                event.prevent_default()
                filt = self.query_one("#filter", Input)
                filt.focus()
                filt.insert_text_at_cursor(char)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_back_or_quit(self) -> None:
        if self.focused is self.query_one("#filter"):
            self.query_one("#symptoms", OptionList).focus()
        else:
            self.app.exit()

    @on(Input.Changed, "#filter")
    def _changed(self, event: Input.Changed) -> None:
        self.refilter(event.value)

    def refilter(self, query: str) -> None:
        matcher = Matcher(query.strip()) if query.strip() else None
        options = self.query_one("#symptoms", OptionList)
        options.clear_options()
        ranked = rank(self.symptoms, query)
        options.add_options([Option(_prompt(matcher, s, self.blind), id=s.id) for _, s in ranked])
        options.border_subtitle = f"{len(ranked)} of {len(self.symptoms)}"
        if ranked:
            options.highlighted = 0
        self._describe(ranked[0][1] if ranked else None)

    def _describe(self, symptom: Symptom | None) -> None:
        detail = self.query_one("#symptom-detail", Static)
        if symptom is None:
            detail.update("no symptom matches; `cloudtales symptoms` lists them all")
            return
        if self.blind:  # which tale it is would give the drill away
            detail.update(Content(symptom.description.strip()))
            return
        tale = self.graph.tale_of(symptom.id)
        detail.update(Content.assemble((f"{tale}: ", "bold"), symptom.description.strip()))

    @on(OptionList.OptionHighlighted, "#symptoms")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self._describe(self.graph.symptom(event.option.id))

    @on(OptionList.OptionSelected, "#symptoms")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)

    @on(Input.Submitted, "#filter")
    def _submitted(self) -> None:
        self.action_choose()

    def action_cursor(self, delta: int) -> None:
        options = self.query_one("#symptoms", OptionList)
        if delta > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_choose(self) -> None:
        options = self.query_one("#symptoms", OptionList)
        if options.highlighted is None:
            self.notify("no symptom matches the filter", severity="warning")
            return
        option_id = options.get_option_at_index(options.highlighted).id
        if option_id is not None:
            self.dismiss(option_id)
