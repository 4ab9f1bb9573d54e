"""`AttentionWidget`: every head of a Trace as thumbnails, or a layer's heads in detail.

The widget sends the Trace's data once (views/payload.py) and the choices as
traits; the one canvas module (static/scene.js + static/canvas.js, the same
the HTML report runs) derives every view from them, so a head switch, a head
toggle or a token pin redraws without the kernel. The choices are a
`ViewState` (views/view_state.py): every change, from Python or from the
browser, goes through `view_state.changed`, and a new Trace through
`reconcile`. A refused front-end change is rolled back in the browser and
said in one sentence (`notice`), never raised. Importing this module never
needs anywidget; constructing the widget does.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.views.attention_traits import (
    FRONT_END_TRAITS,
    INSTALL,
    STATE_TRAITS,
    anywidget,
)
from distil_explorer.views.canvas_arrays import head_array, view_label
from distil_explorer.views.contract import STATIC, module_source
from distil_explorer.views.payload import EMPTY, shown_of, trace_number, trace_payload
from distil_explorer.views.view_state import (
    ViewState,
    changed,
    checked_choice,
    reconcile,
)
from distil_explorer.views.weighting import MIXING, mixings_of

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

# Front-end messages too frequent to clear a notice with.
_QUIET = frozenset({"hovered", "render_ms"})


def _trait_value(state: ViewState, name: str) -> Any:
    if name == "visible_heads":
        return list(state.visible())
    value = getattr(state, name)
    return list(value) if isinstance(value, tuple) else value


if anywidget is None:

    class AttentionWidget:
        """Stand-in that says what to install (anywidget is not installed)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(INSTALL)

        @classmethod
        def from_trace(cls, *args: Any, **kwargs: Any) -> AttentionWidget:
            raise ImportError(INSTALL)

else:
    import traitlets

    from distil_explorer.views.attention_traits import CanvasTraits

    class _TraitValueError(traitlets.TraitError, ValueError):
        """A ValueError that traitlets rolls back (it undoes only TraitErrors)."""

    class AttentionWidget(CanvasTraits):
        """Attention of one sequence of a Trace: all heads at a glance, or a layer's.

        `mode="model"` draws every layer x head as a small map, each scaled to
        its own `thumbnail_percentile`; clicking one opens that head alone in
        `mode="head"`. The head view draws queries (left) and keys (right)
        joined by lines (`draw_style="lines"`, every head in `visible_heads`
        overlaid in its own colour, opacity and width scaled to the largest
        weight drawn; above 64 tokens the strongest lines of each map) or the
        focused `head` as a heatmap. `aggregate="mean_heads"` draws the mean of
        `visible_heads` of `layer`, `"mean_layers"` their mean over every
        layer. Clicking a token pins it (`selected_token`), shift-click
        selects several (`selected_tokens`), whose rows or columns are summed
        or averaged (`combine`). `weighting="norms"` draws
        `Trace.attention_norms` (a Trace captured with `norms=True`);
        `weighting="value_zeroing"` or `"alti"` draws a `ContextMixing` of the
        Trace's inputs (`from_trace(..., mixing=...)`, `set_mixing`): one map
        per layer, `aggregate="rollout"` its rollout.

        Args:
            **kwargs: initial trait values (`mode`, `draw_style`, ...).

        Examples:
        ```python
        trace = distil_explorer.capture(backbone, inputs)
        widget = AttentionWidget.from_trace(trace, index=0, layer=2, head=5)
        widget  # display it in a notebook
        widget.layer = 3  # the view follows
        widget.visible_heads = [0, 5]  # two heads overlaid
        widget.view_state  # every choice, as one ViewState
        ```
        """

        _esm = module_source()
        _css = STATIC / "attention.css"

        def __init__(self, **kwargs: Any) -> None:
            self._trace = None
            self._state = ViewState()
            self._sent: tuple | None = None  # what the payload traits hold
            self._mixing: dict = {}  # method -> ContextMixing of the Trace shown
            self._applying = False
            super().__init__(**kwargs)
            choices = {k: v for k, v in kwargs.items() if k in STATE_TRAITS}
            self._state = self._state.replace(**self._as_state(choices))

        @classmethod
        def from_trace(
            cls,
            trace: Trace,
            index: int = 0,
            layer: int | None = None,
            head: int | None = None,
            mixing: Any = None,
            **kwargs: Any,
        ) -> AttentionWidget:
            """A widget showing sequence `index` of `trace` at (`layer`, `head`).

            Other keyword arguments are choices (`visible_heads`,
            `selected_token`, `draw_style`, ...), checked against the Trace.
            `mixing`: a `ContextMixing` of the Trace's inputs (or several),
            offered as weightings.

            Examples:
            ```python
            AttentionWidget.from_trace(trace, layer=1, head=0, draw_style="heatmap")
            AttentionWidget.from_trace(trace, visible_heads=[0, 3], selected_token=2)
            alti = distil_explorer.context_mixing(backbone, inputs, method="alti")
            AttentionWidget.from_trace(trace, mixing=alti, weighting="alti")
            ```
            """
            later = {k: kwargs.pop(k) for k in STATE_TRAITS if k in kwargs}
            widget = cls(**kwargs)
            widget.set_trace(
                trace, index=index, layer=layer, head=head, mixing=mixing, **later
            )
            return widget

        @property
        def trace(self) -> Trace | None:
            """The Trace shown, or None."""
            return self._trace

        @property
        def view_state(self) -> ViewState:
            """Every choice on this canvas, as one `ViewState`."""
            return self._state

        def set_trace(
            self,
            trace: Trace,
            index: int = 0,
            layer: int | None = None,
            head: int | None = None,
            mixing: Any = None,
            **choices: Any,
        ) -> None:
            """Show sequence `index` of `trace`; every choice reconciled with it.

            `layer`, `head` and `choices` (trait names) are checked when given;
            else `reconcile` keeps what still means the same and resets the rest.
            `mixing`: ContextMixing(s) of the Trace's inputs to offer.

            Examples:
            ```python
            widget.set_trace(other_trace, index=1)
            ```
            """
            batch = trace.token_ids.shape[0]
            if not 0 <= index < batch:
                raise ValueError(
                    f"index={index}: out of range; allowed: 0..{batch - 1}"
                )
            old, number = self._state.shown, trace_number(trace)
            same = trace is self._trace  # another sequence: its mixing stays
            held = {**(self._mixing if same else {}), **mixings_of(mixing, trace)}
            offer = (*old.mixing, *held) if same else tuple(held)
            note = old.mixing_note if same else ""
            shown = shown_of(trace, index, number, old.has_tokenizer, None, offer, note)
            state = reconcile(self._state.replace(index=index), shown)
            given = {"layer": layer, "head": head, **choices}
            given = {k: v for k, v in given.items() if v is not None}
            if given:
                state = changed(state, **self._as_state(given))
            self.show(trace, state, held)

        def show(
            self, trace: Trace | None, state: ViewState, mixing: Any = None
        ) -> None:
            """Show `trace` with `state` (already reconciled with it, as the
            explorer does); None: nothing to draw. `mixing`: the
            ContextMixing(s) of the Trace held so far (more: `set_mixing`)."""
            held = {} if trace is None else mixings_of(mixing, trace)
            with self.hold_sync(), self.hold_trait_notifications():
                self._trace, self._mixing = trace, held
                self._sent = None
                self.mixing_methods = list(state.shown.mixing)
                self.mixing_note = state.shown.mixing_note
                self.num_layers = 0 if trace is None else trace.num_layers
                self.num_heads = 0 if trace is None else trace.num_heads
                self.has_norms = state.shown.has_norms
                self.hovered = -1
                self._apply(state)
                if trace is None:
                    self._assign(EMPTY)

        def choose(self, **changes: Any) -> None:
            """Make choices at once, as a click would (checked, kept consistent).

            Examples:
            ```python
            widget.choose(layer=2, head=5, visible_heads=[5], mode="head")
            ```
            """
            self._apply(changed(self._state, **self._as_state(changes)))

        def set_mixing(self, mixing: Any) -> None:
            """Hold `mixing` (a ContextMixing of the Trace shown, or several)
            and draw it where its weighting is chosen.

            Examples:
            ```python
            widget.set_mixing(distil_explorer.context_mixing(backbone, inputs))
            widget.weighting = "value_zeroing"
            ```
            """
            if self._trace is None:
                raise ValueError("mixing: no Trace shown; allowed: set_trace first")
            self._mixing = {**self._mixing, **mixings_of(mixing, self._trace)}
            shown = self._state.shown
            offered = tuple(m for m in MIXING if m in {*shown.mixing, *self._mixing})
            if offered != shown.mixing:
                shown = dataclasses.replace(shown, mixing=offered)
                self.mixing_methods = list(offered)
            self._apply(self._state.replace(shown=shown))

        @property
        def mixing(self) -> tuple:
            """The ContextMixing(s) of the Trace shown held so far."""
            return tuple(self._mixing.values())

        def missing_mixing(self) -> str | None:
            """The mixing weighting chosen whose maps are not held yet, or None."""
            weighting = self._state.weighting
            if self._trace is None or weighting not in MIXING:
                return None
            return None if weighting in self._mixing else weighting

        def clear(self) -> None:
            """Nothing to draw (a new model, not run yet), no choice about a Trace."""
            self.show(None, reconcile(self._state, shown_of(None)))

        # --- arrays and labels in Python (the static export draws scenes) ---

        def head_array(self) -> np.ndarray:
            """float32 (n, n) of (`layer`, `head`) as weighted, padding dropped."""
            return head_array(self._trace, self._state, self._mixing)

        def view_label(self) -> str:
            """What the head view shows, in words: 'layer 2, head 5', ..."""
            return view_label(self._state)

        # --- every change goes through view_state.changed ---

        def _as_state(self, values: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for name, value in values.items():
                out[name] = tuple(value) if isinstance(value, list) else value
            return out

        def _apply(self, state: ViewState) -> None:
            """Make the traits say `state`, then send the payload it needs."""
            self._state = state
            self._applying = True
            try:
                with self.hold_sync(), self.hold_trait_notifications():
                    for name in STATE_TRAITS:
                        value = _trait_value(state, name)
                        if getattr(self, name) != value:
                            setattr(self, name, value)
                    self._sync()
            finally:
                self._applying = False

        @traitlets.validate(*STATE_TRAITS)
        def _valid_choice(self, proposal) -> Any:
            if self._applying:
                return proposal.value
            name, value = proposal.trait.name, proposal.value
            if isinstance(value, list):
                value = tuple(value)
            try:
                checked = checked_choice(name, value, self._state.shown)
            except ValueError as error:
                raise _TraitValueError(str(error)) from None
            return list(checked) if isinstance(checked, tuple) else checked

        @traitlets.observe(*STATE_TRAITS)
        def _on_choice(self, change) -> None:
            if self._applying:
                return
            if change.name == "index" and self._trace is not None:
                return self.set_trace(self._trace, index=change.new)  # other tokens
            self._apply(
                changed(self._state, **self._as_state({change.name: change.new}))
            )

        @traitlets.validate("hovered")
        def _valid_hovered(self, proposal) -> int:
            if -1 <= proposal.value < len(self.tokens):
                return proposal.value
            raise _TraitValueError(
                f"hovered={proposal.value}: out of range; allowed: -1 (none) or "
                f"0..{len(self.tokens) - 1}"
            )

        def set_state(self, sync_data: dict) -> None:
            """A front-end message: applied all or nothing, a refusal rolled back.

            Only `FRONT_END_TRAITS` may be set from the browser. A refused
            message sends Python's values back (the browser redraws them) and
            says why in `notice`; nothing is raised.
            """
            names = [name for name in sync_data if name in self.keys]
            foreign = [n for n in names if n not in FRONT_END_TRAITS]
            if foreign:
                return self._refuse(names, f"{', '.join(foreign)}: set by Python only")
            choices = {n: sync_data[n] for n in names if n in STATE_TRAITS}
            rest = {n: sync_data[n] for n in names if n not in STATE_TRAITS}
            try:
                state = changed(self._state, **self._as_state(choices))
                if rest:
                    super().set_state(rest)
            except (ValueError, traitlets.TraitError) as error:
                return self._refuse(names, str(error))
            if choices:
                self._apply(state)
            if self.notice and not set(names) <= _QUIET:
                self.notice = ""

        def _refuse(self, names: list[str], why: str) -> None:
            self.notice = f"Ignored {why}."
            if names and self.comm is not None:
                self.send_state(key=names)

        # --- the payload: once per Trace, weighting and sequence ---

        def _sync(self) -> None:
            """Send the payload when what it holds is not what the state needs."""
            if self._trace is None:
                return
            state = self._state
            # A mixing weighting not held yet: the weights until it comes (the
            # canvas says it is on its way, as payload_info's weighting differs).
            weighting = "weights" if self.missing_mixing() else state.weighting
            need = (state.shown.trace, state.index, weighting)
            sent = self._sent
            if sent is None or sent[:3] != need or state.layer not in sent[3]:
                payload = trace_payload(
                    self._trace, *need[1:], layer=state.layer, mixing=self.mixing
                )
                self._assign(payload)
                self._sent = (*need, tuple(payload["payload_info"]["maps_layers"]))

        def _assign(self, values: dict[str, Any]) -> None:
            for name, value in values.items():
                setattr(self, name, value)
