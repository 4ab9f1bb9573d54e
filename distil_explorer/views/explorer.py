"""The explorer app: build, run and look inside a backbone, in one widget.

Panels only draw; `ExplorerSession` does the work. Changing layer, head or
view reads the cached Trace and never reruns the model. Every callback runs
through `_guard`: an exception shows in the error area and the app keeps
working; a busy flag keeps long work from being started twice.
"""

from __future__ import annotations

import contextlib
import functools
import html
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from distil_explorer.config import OFFLINE_PRESET
from distil_explorer.views.attention_panel import AttentionPanel
from distil_explorer.views.build_panel import BuildPanel, BuildRequest
from distil_explorer.views.compare_panel import ComparePanel
from distil_explorer.views.export_bar import ExportBar
from distil_explorer.views.hidden_panel import HiddenPanel
from distil_explorer.views.params_panel import ParamsPanel
from distil_explorer.views.run_panel import RunPanel
from distil_explorer.views.session import ExplorerSession

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
TABS = ("Build", "Run", "Attention", "Hidden states", "Parameters", "Compare")


class Explorer(w.VBox):
    """Build a DistilBERT backbone, run it, and see inside, with widgets.

    Args:
        preset: str. The preset selected in the Build tab (the offline preset
            by default).
        text: str. The text in the Run tab.
        run: bool. Build and run right away (otherwise press Build and Run).

    Examples:
    ```python
    import distil_explorer as de
    app = de.Explorer(run=True)
    app  # display it
    ```
    """

    def __init__(
        self, preset: str = OFFLINE_PRESET, text: str = DEFAULT_TEXT, run: bool = False
    ):
        self.session = ExplorerSession()
        self.build_panel = BuildPanel()
        if preset in self.build_panel.preset.options:
            self.build_panel.preset.value = preset
        self.run_panel = RunPanel(text)
        self.attention_panel = AttentionPanel()
        self.hidden_panel = HiddenPanel()
        self.params_panel = ParamsPanel()
        self.compare_panel = ComparePanel()
        self._built_name = ""  # what was built, for the Compare tab's labels
        self.error = w.HTML(layout=w.Layout(display="none"))
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
            ]
        )
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self._busy = False
        self.build_panel.button.on_click(self._guard(self._on_build))
        self.run_panel.button.on_click(self._guard(self._on_run))
        self.export_bar.button.on_click(self._guard(self._on_export))
        self.tabs.observe(self._on_tab, names="selected_index")
        self.attention_panel.mode.observe(self._on_tab, names="value")
        panel = self.attention_panel
        panel.mask_button.on_click(self._guard(lambda b: self.intervene("mask")))
        panel.remove_button.on_click(self._guard(lambda b: self.intervene("remove")))
        panel.restore_button.on_click(self._guard(lambda b: self.restore()))
        compare = self.compare_panel
        compare.keep_button.on_click(self._guard(lambda b: self.keep_as_a()))
        for slider in (compare.layer, compare.head):
            slider.observe(self._guard(compare.draw), names="value")
        super().__init__([self.status, self.error, self.tabs, self.export_bar.widget])
        self._on_tab()
        if run:
            self.build()
            self.run()

    # --- programmatic API (the buttons call the same) ---

    def build(self, request: BuildRequest | None = None) -> None:
        """Build what the Build tab describes (or `request`)."""
        request = request or self.build_panel.request()
        bar = self.build_panel.progress

        def progress(step: str, done: int, total: int) -> None:
            bar.max, bar.value = total, done
            self.build_panel.status.value = html.escape(step)

        with self._working(self.build_panel.button):
            self.session.build(request, progress)
        self._built_name = request.preset or "custom config"
        backbone = self.session.backbone
        self.params_panel.show(backbone)
        self.run_panel.button.disabled = False
        self.run_panel.max_length.value = min(128, backbone.max_sequence_length)
        if self.session.tokenizer is None:
            self.run_panel.mode.value = "token ids"
            self.run_panel.text.value = "2 10 11 12 3"
        self.build_panel.status.value = html.escape(self.session.timings.text())
        self.status.value = (
            f"<b>Built</b> {html.escape(request.preset or 'custom config')}: "
            f"{backbone.count_params():,} parameters, {backbone.num_layers} layers "
            f"x {backbone.num_heads} heads."
        )

    def run(self, **overrides: Any):
        """Run what the Run tab describes; returns the Trace."""
        request = {**self.run_panel.request(), **overrides}
        with self._working(self.run_panel.button):
            trace = self.session.run(**request)
        self._show(trace)
        self.compare_panel.show(trace, self._built_name)
        self.run_panel.status.value = html.escape(
            f"{trace.backend} on {trace.device}: {self.session.timings.text()}"
        )
        # With an A kept, a run of its input is there to be compared with it.
        comparing = self.compare_panel.b is not None
        self.tabs.selected_index = TABS.index("Compare" if comparing else "Attention")
        return trace

    def keep_as_a(self) -> None:
        """Keep the last run as A in the Compare tab; later runs are B."""
        self.compare_panel.keep()

    def intervene(self, action: str, position: int | None = None):
        """Mask or remove a token (the one clicked in the head view) and re-run."""
        from distil_explorer.views.attention_panel import effect_html

        panel = self.attention_panel
        position = panel.canvas.selected_token if position is None else position
        if position < 0:
            raise ValueError(
                "token: none selected; allowed: click a token in the head view first"
            )
        shown = self.session.trace
        token = shown.tokens[0][position] if shown.tokens else str(position)
        effect = self.session.intervene(position, action)
        self._show(self.session.trace)
        held = shown.attention_layers, shown.attention_heads
        panel.effect.value = effect_html(effect, token, *held)
        return effect

    def restore(self) -> None:
        """Show the Trace from before the intervention again."""
        self._show(self.session.restore())
        self.attention_panel.effect.value = "Restored the original input."

    def _show(self, trace) -> None:
        tokenizer = self.session.tokenizer
        if tokenizer is not None:
            special = tuple(tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]"))
        else:  # no vocabulary: the ids where [CLS] and [SEP] would stand
            last = int(trace.padding_mask[0].sum()) - 1
            special = tuple({int(trace.token_ids[0, 0]), int(trace.token_ids[0, last])})
        self.attention_panel.show(trace, special)
        self.hidden_panel.show(trace)

    @property
    def trace(self):
        """The Trace every panel is showing (None before the first run)."""
        return self.session.trace

    def export(self, path: str, view: str | None = None):
        """Export a view of the tab on screen (.png/.svg) or everything (.html).

        `view` is one of the export bar's choices for that tab; None takes the
        one picked there.
        """
        from distil_explorer.analysis.params import parameter_table
        from distil_explorer.views.export import export_view

        view = self.export_bar.view.value if view is None else view
        if str(path).endswith(".html"):  # the whole Trace, open on the head shown
            view = "head"
        attention, hidden = self.attention_panel, self.hidden_panel
        trace, options = self.trace, {}
        layer, head = attention.layer.value, attention.head.value
        if view == "query/key":
            options["query"], options["key"] = attention.query_key_pair or (None, None)
        elif view == "pca":
            layer = hidden.layer.value
        elif view == "rollout":
            layer = hidden.rollout_layer.value
        elif view == "compare":
            compare = self.compare_panel
            if compare.b is None:
                raise ValueError(
                    "compare: no A and B yet; allowed: keep a run as A, then run "
                    "the same input again"
                )
            (trace, a_label), (options["other"], b_label) = compare.a, compare.b
            options["labels"] = (a_label, b_label)
            layer, head = compare.layer.value, compare.head.value
        backbone = self.session.backbone
        rows = parameter_table(backbone) if backbone is not None else None
        written = export_view(path, trace, view, layer, head, rows=rows, **options)
        self.export_bar.written(written)
        return written

    # --- plumbing ---

    def _on_export(self, button: Any) -> None:
        self.export(self.export_bar.name.value.strip())

    def _on_tab(self, change: Any = None) -> None:
        tab = TABS[self.tabs.selected_index or 0]
        self.export_bar.follow(tab, on_screen=self.attention_panel.mode.value)
        # Its figures take seconds at long inputs: drawn when first looked at.
        self.hidden_panel.set_visible(tab == "Hidden states")

    def _on_build(self, button: Any) -> None:
        self.build()

    def _on_run(self, button: Any) -> None:
        self.run()

    @contextlib.contextmanager
    def _working(self, button: w.Button):
        if self._busy:
            raise RuntimeError("busy: the last action has not finished yet")
        self._busy, button.disabled = True, True
        try:
            yield
        finally:
            self._busy, button.disabled = False, False

    def _guard(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def guarded(*args: Any) -> None:
            self.error.layout.display = "none"
            try:
                callback(*args)
            except Exception as error:  # shown to the person, the app lives on
                self.show_error(error)

        return guarded

    def show_error(self, error: BaseException) -> None:
        """Show `error` in the error area (its message first, the trace folded)."""
        detail = "".join(traceback.format_exception(error))
        self.error.value = (
            "<div style='border-left:4px solid #b00020;padding:4px 8px;"
            "background:#fdecea'><b>"
            + html.escape(f"{type(error).__name__}: {error}")
            + "</b><details><summary>traceback</summary><pre style='font-size:10px'>"
            + html.escape(detail)
            + "</pre></details></div>"
        )
        self.error.layout.display = None
