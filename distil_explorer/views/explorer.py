"""The explorer app: build, run and look inside a backbone, in one widget.

The Explorer is the one controller: its buttons call a `Session` (which does
the work, with no widget), and it hands the values that come back to the
panels, which only draw. Every time the backbone or the Trace changes, each
panel is given the new value in one pass (`_show`), and each clamps or resets
what depends on it before drawing. Every callback runs through `_guard`: an
exception shows as one sentence in the error area, details folded, and the
app keeps working; a busy flag keeps long work from being started twice.
"""

from __future__ import annotations

import contextlib
from typing import Any

import ipywidgets as w

from distil_explorer.config import OFFLINE_PRESET
from distil_explorer.session import BuildRequest, Session
from distil_explorer.session.inputs import count_tokens
from distil_explorer.session.mixing import mixing_offer
from distil_explorer.views.attention_panel import AttentionPanel, effect_html
from distil_explorer.views.attribution_panel import AttributionPanel
from distil_explorer.views.build_panel import BuildPanel
from distil_explorer.views.causal_actions import CausalActions
from distil_explorer.views.compare_panel import ComparePanel
from distil_explorer.views.corpus_panel import CorpusPanel
from distil_explorer.views.export_actions import ExportActions
from distil_explorer.views.export_bar import ExportBar
from distil_explorer.views.feedback import ErrorArea, ErrorAreas, Progress
from distil_explorer.views.hidden_panel import HiddenPanel
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.params_panel import ParamsPanel
from distil_explorer.views.payload import shown_of, trace_number
from distil_explorer.views.registry import TABS
from distil_explorer.views.run_panel import RunPanel, backend_choices, device_choices
from distil_explorer.views.status_line import build_note, built_line, ran_line
from distil_explorer.views.view_state import ViewState, reconcile

DEFAULT_TEXT = "The cat sat on the mat because it was tired."


class Explorer(CausalActions, ExportActions, w.VBox):
    """Build a DistilBERT backbone, run it, and see inside, with widgets.

    Args:
        preset: str. The preset selected in the Build tab (the offline preset
            by default).
        text: str. The text in the Run tab.
        run: bool. Build and run right away (otherwise press Build and Run).

    Attributes:
        session: the widget-free `Session` every button acts through.

    Examples:
    ```python
    import distil_explorer as de
    app = de.Explorer(run=True)
    app  # display it
    app.session.trace  # the Trace on screen
    ```
    """

    def __init__(
        self, preset: str = OFFLINE_PRESET, text: str = DEFAULT_TEXT, run: bool = False
    ):
        self.session = Session()
        self.build_panel = BuildPanel()
        if preset in self.build_panel.preset.options:
            self.build_panel.preset.value = preset
        self.run_panel = RunPanel(text, backend_choices(), device_choices)
        self.attention_panel = AttentionPanel()
        self.hidden_panel = HiddenPanel()
        self.params_panel = ParamsPanel()
        self.compare_panel = ComparePanel()
        self.attribution_panel = AttributionPanel()
        self.causal_panel = self._new_causal_panel(text)
        self.corpus_panel = CorpusPanel()
        # Errors of what belongs to no tab; a tab's actions show theirs in it.
        self.banner = ErrorArea()
        self.error = self.banner.widget
        self.export_bar = ExportBar()
        self.status = w.HTML("<b>distil-explorer</b>: build a backbone, then run it.")
        self.tabs = w.Tab(
            children=[
                self.build_panel.widget,
                self.run_panel.widget,
                self.attention_panel.widget,
                self.hidden_panel.widget,
                self.params_panel.widget,
                self.compare_panel.widget,
                self.attribution_panel.widget,
                self.causal_panel.widget,
                self.corpus_panel.widget,
            ],
            titles=TABS,
        )
        self._busy = False
        self._wire()
        super().__init__([self.status, self.error, self.tabs, self.export_bar.widget])
        self._on_tab()
        if run:
            self.build()
            self.run()

    def _wire(self) -> None:
        panel, compare = self.attention_panel, self.compare_panel
        build, run, bar = self.build_panel, self.run_panel, self.export_bar
        attribution, corpus = self.attribution_panel, self.corpus_panel
        # Each button's error shows beside it, in its own tab.
        clicks = {
            build.button: (lambda: self.build(), build.error),
            run.button: (lambda: self.run(), run.error),
            bar.button: (lambda: self.export(bar.name.value.strip()), bar.error),
            panel.mask_button: (lambda: self.intervene("mask"), panel.error),
            panel.remove_button: (lambda: self.intervene("remove"), panel.error),
            panel.restore_button: (lambda: self.restore(), panel.error),
            compare.keep_button: (lambda: self.keep_as_a(), compare.keep_error),
            compare.precision_button: (
                lambda: self.compare_precisions(),
                compare.precision_error,
            ),
            attribution.button: (lambda: self.attribute(), attribution.error),
            corpus.button: (lambda: self.corpus_statistics(), corpus.error),
            bar.report_button: (lambda: self.export(bar.report_path()), bar.error),
        }
        clicks.update(self._causal_clicks())  # Patch, Head importance, Restore all
        # A success line from before would read as the failed action's.
        clear = lambda: setattr(bar.status, "value", "")  # noqa: E731
        errors = ErrorAreas(self.banner, [a for _, a in clicks.values()], clear)
        self._errors, guard = errors, errors.guard
        for button, (action, area) in clicks.items():
            button.on_click(guard(lambda _button, action=action: action(), area))
        corpus.on_head(guard(self.open_corpus_example, corpus.error))
        self.causal_panel.on_head(guard(self.toggle_head, self.causal_panel.error))
        panel.on_mixing(guard(self.context_mixing, panel.error))
        # Looking at another tab is no new action: errors stay where they are.
        on_tab = guard(self._on_tab, fresh=False)
        self.tabs.observe(on_tab, names="selected_index")
        self.attention_panel.canvas.observe(on_tab, names="mode")

    # --- programmatic API (the buttons call the same) ---

    def build(self, request: BuildRequest | None = None) -> None:
        """Build what the Build tab describes (or `request`)."""
        request = request or self.build_panel.request()
        panel = self.build_panel
        with self._working(panel.button):
            self.status.value = f"<b>Building</b> {escaped(request.name)} ..."
            try:
                self.session.build(request, panel.show_progress)
            except BaseException:
                panel.show_status("")
                self.status.value = f"<b>Not built</b>: {escaped(request.name)}."
                raise
        session = self.session
        self.params_panel.show(session.parameter_rows)
        # Statistics of the old model are stale; they need a tokenizer.
        self.corpus_panel.built(session.tokenizer_problem)
        limit = session.backbone.max_sequence_length
        self.run_panel.built(limit, session.tokenizer_problem)
        self.compare_panel.built(session.precision)
        panel.show_status(build_note(session))
        self.status.value = built_line(session)
        self._show(None)

    def run(self, **overrides: Any):
        """Run what the Run tab describes; returns the Trace."""
        request = {**self.run_panel.request(), **overrides}
        panel = self.run_panel
        where = f"{request.get('backend') or 'default'} on {request.get('device')}"
        panel.status.value = ""
        with self._working(panel.button, panel.progress, f"running on {where}"):
            trace = self.session.run(**request)
        self._show(trace)
        tokens = int(trace.padding_mask[0].sum())
        panel.show_run(
            f"{trace.backend} on {trace.device}: {self.session.timings.text()}",
            tokens,
            count_tokens(request["inputs"], self.session.tokenizer),
        )
        self.status.value = ran_line(self.session, trace, tokens)
        # With an A kept, a run of its input is there to be compared with it.
        comparing = self.compare_panel.b is not None
        self.tabs.selected_index = TABS.index("Compare" if comparing else "Attention")
        return trace

    def keep_as_a(self) -> None:
        """Keep the run on screen as A in the Compare tab; later runs are B."""
        session = self.session
        session.keep_as_a()
        self.compare_panel.show(session.comparison(), True, session.compared_classes)

    def compare_precisions(self, precisions=None):
        """Run the input on screen at other precisions (the Compare tab's choice)."""
        compare = self.compare_panel
        chosen = tuple(compare.precisions.value) if precisions is None else precisions
        progress = compare.precision_progress
        with self._working(compare.precision_button, progress, "starting"):
            result = self.session.compare_precisions(chosen, progress=progress.step)
        compare.show_precisions(result)
        return result

    def attribute(self, **overrides: Any):
        """Attribute what the Attribution tab describes; returns the Attribution."""
        panel = self.attribution_panel
        pinned = self.attention_panel.canvas.selected_token  # "original_token"'s
        request = {**panel.request(pinned), **overrides}
        panel.status.value = ""
        with self._working(panel.button, panel.progress, panel.working_text(request)):
            found = self.session.attribute(**request)
        panel.show(found)
        return found

    def corpus_statistics(self, **overrides: Any):
        """Compute what the Corpus tab describes; returns the `CorpusStatistics`."""
        panel = self.corpus_panel
        request = {**panel.request(), **overrides}
        panel.progress.value = 0
        with self._working(panel.button):
            try:
                stats = self.session.corpus_statistics(
                    **request, progress=panel.show_progress
                )
            except BaseException:
                panel.status.value = ""
                raise
        panel.show(stats, self.session.timings.text())
        return stats

    def open_corpus_example(self, layer: int, head: int, statistic: str = "cls"):
        """Run the text where `head` of `layer` scored highest; show that head."""
        stats = self.session.corpus
        if stats is None:
            raise ValueError("corpus: no statistics yet; allowed: press Compute first")
        text = stats.example_text(statistic, layer, head)
        self.run_panel.mode.value = "text"
        self.run_panel.text.value = text
        trace = self.run()
        # That head alone, as a thumbnail click opens it.
        self.attention_panel.canvas.choose(
            layer=layer, head=head, mode="head", visible_heads=[head], aggregate="head"
        )
        self.corpus_panel.show_example(layer, head, statistic, text)
        return trace

    def context_mixing(self, method: str):
        """`method`'s context mixing of the Trace on screen, drawn by the canvas."""
        found = self.session.context_mixing(method)
        self.attention_panel.show_mixing(found)
        return found

    def intervene(self, action: str, position: int | None = None):
        """Mask or remove a token (the one pinned in the head view) and re-run."""
        panel = self.attention_panel
        position = panel.canvas.selected_token if position is None else position
        if position < 0:
            raise ValueError(
                "token: none pinned; allowed: click a token in the head view first"
            )
        shown = self.session.trace
        token = shown.tokens[0][position] if shown.tokens else str(position)
        effect = self.session.intervene(position, action)
        self._show(self.session.trace)
        held = shown.attention_layers, shown.attention_heads
        guesses = self.session.predictions_at(position) if action == "mask" else None
        panel.show_effect(effect_html(effect, token, *held), guesses, token)
        return effect

    def restore(self) -> None:
        """Show the Trace from before the interventions again."""
        self._show(self.session.restore())
        self.attention_panel.show_effect("Restored the original input.")

    @property
    def trace(self):
        """The Trace every panel is showing (None before the first run)."""
        return self.session.trace

    @property
    def view_state(self) -> ViewState:
        """Every choice on screen as one `ViewState` (tab, canvas, Run mode, export).

        Examples:
        ```python
        app.view_state.visible()  # the heads drawn
        de.export_view("head_view.png", app.trace, "head", state=app.view_state)
        ```
        """
        bar, tab = self.export_bar, TABS[self.tabs.selected_index or 0]
        target = self.attribution_panel.target.value
        return self.attention_panel.canvas.view_state.replace(
            tab=tab, run_mode=self.run_panel.mode.value, export_view=bar.view.value
        ).replace(export_name=bar.name.value.strip(), attribution_target=target)

    # --- plumbing ---

    def _show(self, trace) -> None:
        """Hand `trace` (None: nothing run on this backbone yet) to every panel,
        with every choice reconciled with it (`view_state.reconcile`)."""
        session, canvas = self.session, self.attention_panel.canvas
        number = -1 if trace is None else trace_number(trace)
        heads = None if session.backbone is None else session.backbone.num_heads
        tokenizer = session.tokenizer is not None
        offer = mixing_offer(session.backbone, trace)
        targets = session.task_targets
        shown = shown_of(trace, canvas.index, number, tokenizer, heads, *offer, targets)
        state = reconcile(self.view_state, shown)
        self.run_panel.mode.value = state.run_mode
        self.attribution_panel.set_targets(targets, state.attribution_target)
        self.run_panel.show_classes(session.classes)
        if trace is None:
            self.attention_panel.clear(state)
            self.hidden_panel.clear()
        else:
            self.attention_panel.show(
                trace,
                session.special_ids,
                can_mask=tokenizer,
                can_restore=session.baseline is not None,
                state=state,
            )
            self.hidden_panel.show(trace)
        self.attention_panel.lens.show(session.lens)  # None: hidden
        classes = session.compared_classes
        self.compare_panel.show(session.comparison(), trace is not None, classes)
        # An attribution belongs to the Trace it was made for.
        self.attribution_panel.clear()
        self.attribution_panel.set_ready(session.attribution_problem, trace is not None)
        self._show_causal()
        self._on_tab()

    def _on_tab(self, change: Any = None) -> None:
        tab = TABS[self.tabs.selected_index or 0]
        self.export_bar.follow(tab, on_screen=self.attention_panel.canvas.mode)
        # Its figures take seconds at long inputs: drawn when first looked at.
        self.hidden_panel.set_visible(tab == "Hidden states")

    @contextlib.contextmanager
    def _working(self, button: w.Button, progress: Progress | None = None, what=""):
        """Busy (the button off) while the block runs; `progress` says `what`."""
        if self._busy:
            raise RuntimeError("busy: the last action has not finished yet")
        self._busy, button.disabled = True, True
        if progress is not None:
            progress.step(what)
        try:
            yield
        finally:
            self._busy, button.disabled = False, False
            if progress is not None:
                progress.finish()

    def show_error(self, error: BaseException, area: ErrorArea | None = None) -> None:
        """Show `error` as one sentence in `area` (None: the top banner)."""
        (area or self.banner).show(error)

    def errors_shown(self) -> list[str]:
        """The error sentences on screen now, in the banner and in every tab."""
        return self._errors.shown()
