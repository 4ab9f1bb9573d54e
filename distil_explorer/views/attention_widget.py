"""`AttentionWidget`: every head of a Trace as thumbnails, or a layer's heads in detail.

Python owns the state: it slices the cached `Trace` and sends bytes; the ES
module in `static/attention.js` only draws, and sets the traits a person
changes with its own bar (view, drawing, layer, head picker, aggregate,
token pins). Every trait a front end can set is validated here: a bad value
is rolled back in the browser and said in one sentence (`notice`), never
raised as a traceback. Importing this module never needs anywidget;
constructing the widget does.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.views import canvas_state as payload
from distil_explorer.views.canvas_state import (  # noqa: F401 (public here too)
    AGGREGATES,
    ALL_HEADS_BYTES,
    contrast_uint8,
)
from distil_explorer.views.weighting import LABELS, WEIGHTINGS, weighted

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

try:
    import anywidget
    import traitlets
except ImportError:  # the widget is optional; Trace and analysis are not
    anywidget = None

_STATIC = pathlib.Path(__file__).parent / "static"
_INSTALL = (
    "AttentionWidget needs the anywidget package: pip install anywidget "
    "ipywidgets (or pip install 'distil-explorer[lab]'), then restart the kernel."
)
# The traits attention.js sets; a front end sending any other is rolled back.
FRONT_END_TRAITS = frozenset(
    {
        "layer",
        "head",
        "mode",
        "draw_style",
        "weighting",
        "visible_heads",
        "aggregate",
        "selected_token",
        "selected_tokens",
        "selected_side",
        "combine",
        "hovered",
        "render_ms",
    }
)
# Changes that may need new bytes or a clamp of another choice.
_STATE = (
    "layer",
    "head",
    "index",
    "mode",
    "weighting",
    "aggregate",
    "visible_heads",
    "selected_token",
    "selected_tokens",
    "thumbnail_size",
    "thumbnail_percentile",
)
# from_trace's keyword arguments that name heads or tokens of the Trace.
_AFTER_TRACE = ("visible_heads", "selected_tokens", "selected_token", "hovered")
# Front-end messages too frequent to clear a notice with.
_QUIET = frozenset({"hovered", "render_ms"})


def _check_range(name: str, value: int, stop: int, error=ValueError) -> int:
    if not 0 <= value < stop:
        raise error(f"{name}={value}: out of range; allowed: 0..{stop - 1}")
    return value


def _kept(current: int, held: tuple[int, ...]) -> int:
    """`current` if the Trace holds it, else the first index it holds."""
    return current if current in held else held[0]


def _nearest(value: int, among: list[int]) -> int:
    """The member of `among` (non-empty) closest to `value`, the lower on a tie."""
    return min(among, key=lambda h: (abs(h - value), h))


def _heads_text(heads: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5' (runs joined), as attention.js writes it."""
    runs: list[list[int]] = []
    for h in heads:
        if runs and h == runs[-1][-1] + 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}\u2013{r[-1]}" for r in runs)


if anywidget is None:

    class AttentionWidget:
        """Stand-in that says what to install (anywidget is not installed)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(_INSTALL)

        @classmethod
        def from_trace(cls, *args: Any, **kwargs: Any) -> AttentionWidget:
            raise ImportError(_INSTALL)

else:

    class _TraitValueError(traitlets.TraitError, ValueError):
        """A ValueError that traitlets rolls back: it undoes only TraitErrors.

        A front-end message setting `layer` and `head` together is applied
        all or nothing.
        """

    class AttentionWidget(anywidget.AnyWidget):
        """Attention of one sequence of a Trace: all heads at a glance, or a layer's.

        `mode="model"` draws every layer x head as a small map, each scaled to
        its own `thumbnail_percentile`; clicking one opens it in `mode="head"`.
        The head view draws queries (left) and keys (right) joined by lines
        (`draw_style="lines"`, every head in `visible_heads` overlaid in its
        own colour, opacity and width scaled to the largest weight drawn) or
        the focused `head` as a heatmap (`draw_style="heatmap"`).
        `aggregate="mean_heads"` draws the mean of `visible_heads` of
        `layer`, `"mean_layers"` the mean over every layer held of those
        heads. Hovering or clicking a token in the left column shows where it
        looks (its row), in the right column who looks at it (its column); a
        click pins it (`selected_token`), shift-click selects several
        (`selected_tokens`), whose rows or columns are summed or averaged
        (`combine`). Padding tokens are dropped. Changing a choice slices the
        cached Trace again; no model runs. `weighting="norms"` (the bar's
        "Norm-weighted", for a Trace captured with `norms=True`) draws
        `Trace.attention_norms` instead of the weights in every mode, each map
        scaled to its own maximum as the weights are.

        Args:
            **kwargs: initial trait values (`mode`, `draw_style`, ...).

        Examples:
        ```python
        trace = distil_explorer.capture(backbone, inputs)
        widget = AttentionWidget.from_trace(trace, index=0, layer=2, head=5)
        widget  # display it in a notebook
        widget.layer = 3  # the view follows
        widget.visible_heads = [0, 5]  # two heads overlaid
        widget.weighting = "norms"  # with capture(..., norms=True)
        widget.observe(lambda c: print(c.new), "selected_token")
        ```
        """

        _esm = _STATIC / "attention.js"
        _css = _STATIC / "attention.css"

        tokens = traitlets.List(
            traitlets.Unicode(),
            help="list[str], default []. Tokens of sequence `index`, padding dropped.",
        ).tag(sync=True)
        maps = traitlets.Bytes(
            b"",
            help="bytes, default b''. uint8 (L, heads, t, t) thumbnails, t <= "
            "thumbnail_size, each map scaled so its thumbnail_percentile-th "
            "value is 255 (contrast_uint8).",
        ).tag(sync=True)
        maps_shape = traitlets.List(
            traitlets.Int(),
            [0, 0, 0, 0],
            help="list[int], default [0, 0, 0, 0]. Shape of `maps`.",
        ).tag(sync=True)
        head_map = traitlets.Bytes(
            b"",
            help="bytes, default b''. float32 little-endian (n, n) attention of "
            "(`layer`, `head`), n = len(tokens); rows are queries, exact values.",
        ).tag(sync=True)
        head_map_of = traitlets.List(
            traitlets.Int(),
            [],
            help="list[int], default []. [layer, head] that `head_map` holds "
            "(read-only; the front end reads exact weights from it when it "
            "matches what it shows).",
        ).tag(sync=True)
        head_maps = traitlets.Bytes(
            b"",
            help="bytes, default b''. uint8 (len(head_maps_heads), n, n) maps "
            "of layer `head_maps_layer`, each scaled so its maximum is 255; "
            "empty in model mode (read-only).",
        ).tag(sync=True)
        head_maps_heads = traitlets.List(
            traitlets.Int(),
            [],
            help="list[int], default []. The heads `head_maps` holds, in order: "
            "every head while they fit in ALL_HEADS_BYTES, else at least the "
            "visible ones (read-only).",
        ).tag(sync=True)
        head_maps_scale = traitlets.Bytes(
            b"",
            help="bytes, default b''. float32 (len(heads),) maximum of each map "
            "of `head_maps`: value = byte * scale / 255 (read-only).",
        ).tag(sync=True)
        head_maps_layer = traitlets.Int(
            -1,
            help="int, default -1. The layer `head_maps` holds, -1: none (read-only).",
        ).tag(sync=True)
        view_map = traitlets.Bytes(
            b"",
            help="bytes, default b''. float32 (n, n) mean map drawn when "
            "`aggregate` is not 'head' (read-only).",
        ).tag(sync=True)
        view_map_of = traitlets.Unicode(
            "",
            help="str, default ''. What `view_map` averages: "
            "'mean_heads:<layer>:<heads>' or 'mean_layers:<heads>', heads "
            "comma-separated; '' when none (read-only).",
        ).tag(sync=True)
        index = traitlets.Int(
            0, help="int, default 0. Sequence of the Trace's batch shown."
        ).tag(sync=True)
        layer = traitlets.Int(
            0, help="int, default 0. Model layer shown in head mode, one of `layers`."
        ).tag(sync=True)
        head = traitlets.Int(
            0,
            help="int, default 0. The focused head, one of `heads` and always "
            "in `visible_heads`: the heatmap, the query/key view and export "
            "use it.",
        ).tag(sync=True)
        visible_heads = traitlets.List(
            traitlets.Int(),
            [],
            help="list[int], default [] (all heads once a Trace is shown). Heads "
            "of `heads` overlaid in the lines view and averaged by the mean "
            "aggregates; non-empty, sorted, always holds `head`.",
        ).tag(sync=True)
        aggregate = traitlets.Enum(
            AGGREGATES,
            "head",
            help="str, default 'head'. 'head': each visible head as it is; "
            "'mean_heads': the mean of `visible_heads` of `layer`; "
            "'mean_layers': the mean over every layer held of `visible_heads`.",
        ).tag(sync=True)
        num_layers = traitlets.Int(
            0, help="int, default 0. Layers of the model that ran (read-only)."
        ).tag(sync=True)
        num_heads = traitlets.Int(
            0, help="int, default 0. Heads per layer of that model (read-only)."
        ).tag(sync=True)
        layers = traitlets.List(
            traitlets.Int(),
            help="list[int], default []. The model layers the Trace holds maps "
            "for (`Trace.attention_layers`), one thumbnail row each (read-only).",
        ).tag(sync=True)
        heads = traitlets.List(
            traitlets.Int(),
            help="list[int], default []. The heads it holds "
            "(`Trace.attention_heads`), one thumbnail column each (read-only).",
        ).tag(sync=True)
        mode = traitlets.Enum(
            ("head", "model"),
            "head",
            help="str, default 'head'. 'model': all heads; 'head': one layer.",
        ).tag(sync=True)
        # Not `style`: that name is ipywidgets' DOMWidget.style, and shadowing
        # it breaks the widget inside a Box in JupyterLab.
        draw_style = traitlets.Enum(
            ("lines", "heatmap"),
            "lines",
            help="str, default 'lines'. How head mode draws: 'lines' or 'heatmap'.",
        ).tag(sync=True)
        weighting = traitlets.Enum(
            WEIGHTINGS,
            "weights",
            help="str, default 'weights'. What every map shows: 'weights' (the "
            "softmax attention) or 'norms' (`Trace.attention_norms`, "
            "alpha * ||f(x)||, Kobayashi et al. 2020), each map scaled to its "
            "own maximum as the weights are; 'norms' only while `has_norms`. A "
            "Trace without norms resets it to 'weights'.",
        ).tag(sync=True)
        has_norms = traitlets.Bool(
            False,
            help="bool, default False. Whether the Trace shown holds "
            "attention_norms (capture(..., norms=True)) (read-only).",
        ).tag(sync=True)
        hovered = traitlets.Int(
            -1, help="int, default -1. Token under the pointer (set by JS), -1: none."
        ).tag(sync=True)
        selected_token = traitlets.Int(
            -1,
            help="int, default -1. The pinned token (the last one clicked; JS "
            "or Python), -1: none. Always in `selected_tokens` unless -1.",
        ).tag(sync=True)
        selected_tokens = traitlets.List(
            traitlets.Int(),
            [],
            help="list[int], default []. Every selected token (shift-click adds "
            "or removes one), sorted; their rows or columns are combined.",
        ).tag(sync=True)
        selected_side = traitlets.Enum(
            ("query", "key"),
            "query",
            help="str, default 'query'. Which column the pins were clicked in: "
            "'query' (left: where the tokens look, their rows) or 'key' "
            "(right: who looks at them, their columns).",
        ).tag(sync=True)
        combine = traitlets.Enum(
            ("sum", "mean"),
            "sum",
            help="str, default 'sum'. How several selected tokens' rows or "
            "columns are combined: 'sum' or 'mean'.",
        ).tag(sync=True)
        notice = traitlets.Unicode(
            "",
            help="str, default ''. The last front-end change refused, in one "
            "sentence ('' after the next accepted one); shown in the status line.",
        ).tag(sync=True)
        render_ms = traitlets.Float(
            0.0, help="float, default 0.0. Milliseconds the last draw took (JS)."
        ).tag(sync=True)
        thumbnail_percentile = traitlets.Float(
            95.0,
            help="float, default 95.0. Model-view thumbnails: each map scaled "
            "so this percentile of its values is full colour (above saturates); "
            "100: each map's maximum.",
        ).tag(sync=True)
        thumbnail_size = traitlets.Int(
            64, help="int, default 64. Largest side of a model-mode thumbnail."
        )

        def __init__(self, **kwargs: Any) -> None:
            self._trace = None
            self._shown_trace = (None, None)  # (weighting, Trace of those maps)
            self._real = np.zeros(0, dtype=np.int64)
            self._generation = 0  # one per set_trace: cache keys include it
            self._keys: dict[str, Any] = {}
            super().__init__(**kwargs)

        @classmethod
        def from_trace(
            cls,
            trace: Trace,
            index: int = 0,
            layer: int | None = None,
            head: int | None = None,
            **kwargs: Any,
        ) -> AttentionWidget:
            """A widget showing sequence `index` of `trace` at (`layer`, `head`).

            `layer` and `head` are model indices among those the Trace holds;
            None picks the first held.

            Examples:
            ```python
            AttentionWidget.from_trace(trace, layer=1, head=0, draw_style="heatmap")
            AttentionWidget.from_trace(trace, visible_heads=[0, 3], selected_token=2)
            ```
            """
            trace.attention_position(
                trace.attention_layers[0] if layer is None else layer,
                trace.attention_heads[0] if head is None else head,
            )
            # Choices among the Trace's heads and tokens: once it is shown.
            later = {k: kwargs.pop(k) for k in _AFTER_TRACE if k in kwargs}
            widget = cls(**kwargs)
            widget.set_trace(trace, index=index, layer=layer, head=head)
            with widget.hold_sync(), widget.hold_trait_notifications():
                for name, value in later.items():
                    setattr(widget, name, value)
            return widget

        @property
        def trace(self) -> Trace | None:
            """The Trace shown, or None."""
            return self._trace

        def set_trace(
            self,
            trace: Trace,
            index: int = 0,
            layer: int | None = None,
            head: int | None = None,
        ) -> None:
            """Show sequence `index` of `trace`, every choice made valid in one step.

            `layer` and `head` (model indices) are checked when given; else
            the shown ones are kept where the Trace holds them, and the first
            held taken otherwise. Visible heads it does not hold are dropped
            (all heads if none is left); pins are kept when the new sequence
            has as many tokens, else cleared. Observers and the browser see
            the new state only once it is whole. A Trace without norms
            shows the weights (`weighting` back to 'weights').

            Examples:
            ```python
            widget.set_trace(other_trace, index=1)
            ```
            """
            _check_range("index", index, trace.attentions.shape[1])
            layers, heads = list(trace.attention_layers), list(trace.attention_heads)
            layer = _kept(self.layer, layers) if layer is None else layer
            head = _kept(self.head, heads) if head is None else head
            trace.attention_position(layer, head)  # names what it holds
            visible = [h for h in self.visible_heads if h in heads] or heads
            with self.hold_sync(), self.hold_trait_notifications():
                self._trace = trace
                self._shown_trace = (None, None)
                self.has_norms = trace.attention_norms is not None
                if not self.has_norms:
                    self.weighting = "weights"
                self._generation += 1
                self.num_layers, self.num_heads = trace.num_layers, trace.num_heads
                self.layers, self.heads = layers, heads
                self.layer, self.head, self.index = layer, head, index
                self.visible_heads = sorted({*visible, head})
                self._sync()

        def head_array(self) -> np.ndarray:
            """float32 (n, n) attention of (`layer`, `head`), padding dropped."""
            if self._trace is None:
                return np.zeros((0, 0), dtype=np.float32)
            return payload.head_array(
                self._shown(), self.layer, self.head, self.index, self._real
            )

        def view_array(self) -> np.ndarray:
            """float32 (n, n): what the heatmap shows (the focused head, or the
            mean `aggregate` names), padding dropped."""
            if self._trace is None or self.aggregate == "head":
                return self.head_array()
            return self._mean_map()

        def view_label(self) -> str:
            """What `view_array` is, in words (the canvas's title says the same).

            Examples:
            ```python
            widget.view_label()  # 'layer 2, head 5', 'mean over heads 0-11 of layer 2'
            # with weighting='norms': 'layer 2, head 5 (norm-weighted)'
            ```
            """
            heads = _heads_text(self.visible_heads)
            if self.aggregate == "mean_heads":
                label = f"mean over heads {heads} of layer {self.layer}"
            elif self.aggregate == "mean_layers":
                layers = _heads_text(self.layers)
                count = len(self.layers) * len(self.visible_heads)
                label = f"mean over layers {layers} \u00d7 heads {heads} ({count} maps)"
            else:
                label = f"layer {self.layer}, head {self.head}"
            if self.weighting == "norms":
                label += f" ({LABELS['norms']})"
            return label

        def _shown(self) -> Trace:
            """The Trace whose `attentions` are the maps `weighting` names."""
            if self._shown_trace[0] != self.weighting:
                self._shown_trace = (
                    self.weighting,
                    weighted(self._trace, self.weighting),
                )
            return self._shown_trace[1]

        # --- front-end messages ---

        def set_state(self, sync_data: dict) -> None:
            """A front-end message: applied all or nothing, a refusal rolled back.

            Only `FRONT_END_TRAITS` may be set from the browser. A refused
            message sends Python's values back (the browser redraws them) and
            says why in `notice`; nothing is raised.
            """
            names = [name for name in sync_data if name in self.keys]
            own = AttentionWidget.class_own_traits(sync=True)
            foreign = [n for n in names if n in own and n not in FRONT_END_TRAITS]
            if foreign:
                return self._refuse(names, f"{', '.join(foreign)}: set by Python only")
            try:
                super().set_state(sync_data)
            except traitlets.TraitError as error:
                return self._refuse(names, str(error))
            if self.notice and not set(names) <= _QUIET:
                self.notice = ""

        def _refuse(self, names: list[str], why: str) -> None:
            self.notice = f"Ignored {why}."
            if names and self.comm is not None:
                self.send_state(key=names)

        # --- derived state: canvas_state computes every byte sent ---

        def _sync(self) -> None:
            """Recompute what is stale (each part keyed by what it depends on)."""
            if self._trace is None:
                return
            keys = self._keys
            sequence = (
                self._generation,
                self.index,
                self.thumbnail_size,
                self.thumbnail_percentile,
                self.weighting,
            )
            if keys.get("sequence") != sequence:
                self._load_sequence()
                keys.clear()
                keys["sequence"] = sequence
            one = (self.layer, self.head)
            if keys.get("head_map") != one:
                self._assign(
                    payload.head_map_payload(
                        self._shown(), self.layer, self.head, self.index, self._real
                    )
                )
                keys["head_map"] = one
            sent = keys.get("head_maps")  # (layer, heads sent)
            if self.mode == "head" and (
                sent is None
                or sent[0] != self.layer
                or not set(self.visible_heads) <= set(sent[1])
            ):
                self._load_layer(self._heads_to_send())
                keys["head_maps"] = (self.layer, tuple(self.head_maps_heads))
            view = self._view_key() if self.mode == "head" else ""
            if view and keys.get("view_map") != view:
                self._assign(
                    payload.view_payload(
                        self._shown(),
                        self.index,
                        self._real,
                        self.aggregate,
                        self.layer,
                        self.visible_heads,
                    )
                )
                keys["view_map"] = view

        def _assign(self, values: dict[str, Any]) -> None:
            for name, value in values.items():
                setattr(self, name, value)

        def _load_sequence(self) -> None:
            trace, index = self._shown(), self.index
            self._real = payload.real_positions(trace, index)
            sequence = payload.sequence_payload(
                trace,
                index,
                self._real,
                self.thumbnail_size,
                self.thumbnail_percentile,
            )
            if len(sequence["tokens"]) != len(self.tokens):  # positions moved
                self.selected_token, self.selected_tokens = -1, []
            self.hovered = -1
            self._assign(sequence)
            self.head_maps, self.head_maps_scale, self.head_maps_layer = b"", b"", -1
            self.head_maps_heads = []
            self.view_map, self.view_map_of = b"", ""

        def _heads_to_send(self) -> list[int]:
            # ALL_HEADS_BYTES read here at call time: tests lower it.
            return payload.heads_to_send(
                self.heads, self.visible_heads, len(self.tokens), ALL_HEADS_BYTES
            )

        def _load_layer(self, heads: list[int]) -> None:
            maps = payload.layer_maps(
                self._shown(), self.layer, self.index, self._real, heads
            )
            self._assign(payload.layer_payload(maps, self.layer, heads))

        def _view_key(self) -> str:
            return payload.view_key(self.aggregate, self.layer, self.visible_heads)

        def _mean_map(self) -> np.ndarray:
            """float32 (n, n) mean of the maps `aggregate` names."""
            return payload.mean_map(
                self._shown(),
                self.index,
                self._real,
                self.aggregate,
                self.layer,
                self.visible_heads,
            )

        @traitlets.observe(*_STATE)
        def _on_state(self, change) -> None:
            if self._trace is None:
                return
            with self.hold_sync(), self.hold_trait_notifications():
                self._clamp(change.name)
                self._sync()

        def _clamp(self, name: str) -> None:
            """Keep the choices consistent after `name` changed alone."""
            visible = self.visible_heads
            if name == "visible_heads" and self.head not in visible and visible:
                self.head = _nearest(self.head, visible)
            elif name == "head" and self.head not in visible:
                self.visible_heads = sorted({*visible, self.head})
            chosen, pins = self.selected_token, self.selected_tokens
            if name == "selected_token" and chosen not in pins:
                self.selected_tokens = [] if chosen < 0 else [chosen]
            elif name == "selected_tokens" and chosen not in pins:
                self.selected_token = pins[-1] if pins else -1

        # --- validation: every value a front end (or Python) can set ---

        @traitlets.validate("layer")
        def _valid_layer(self, proposal) -> int:
            return self._check_held("layer", proposal.value, self.layers)

        @traitlets.validate("head")
        def _valid_head(self, proposal) -> int:
            return self._check_held("head", proposal.value, self.heads)

        @staticmethod
        def _check_held(name: str, value: int, held: list[int]) -> int:
            """`value` if it is among `held` (only 0 while no Trace is shown)."""
            if value in (held or [0]):
                return value
            allowed = f"one of {held}" if held else "0 (no Trace shown yet)"
            raise _TraitValueError(
                f"{name}={value}: not in this Trace; allowed: {allowed}"
            )

        @traitlets.validate("weighting")
        def _valid_weighting(self, proposal) -> str:
            if proposal.value == "norms" and not self.has_norms:
                raise _TraitValueError(
                    "weighting='norms': this Trace has no attention_norms; "
                    "allowed: 'weights', or a Trace captured with norms=True"
                )
            return proposal.value

        @traitlets.validate("visible_heads")
        def _valid_visible_heads(self, proposal) -> list[int]:
            value, held = list(proposal.value), self.heads
            if (not held and not value) or (
                value and len(set(value)) == len(value) and set(value) <= set(held)
            ):
                return sorted(value)
            raise _TraitValueError(
                f"visible_heads={value}: allowed: a non-empty list of distinct "
                f"heads among {held}"
            )

        @traitlets.validate("index")
        def _valid_index(self, proposal) -> int:
            batch = 1 if self._trace is None else self._trace.attentions.shape[1]
            return _check_range("index", proposal.value, batch, _TraitValueError)

        @traitlets.validate("thumbnail_size")
        def _valid_thumbnail_size(self, proposal) -> int:
            if proposal.value < 1:
                raise _TraitValueError(
                    f"thumbnail_size={proposal.value}: allowed: an int >= 1"
                )
            return proposal.value

        @traitlets.validate("thumbnail_percentile")
        def _valid_percentile(self, proposal) -> float:
            if not 50.0 <= proposal.value <= 100.0:
                raise _TraitValueError(
                    f"thumbnail_percentile={proposal.value}: allowed: 50..100"
                )
            return proposal.value

        @traitlets.validate("hovered", "selected_token")
        def _valid_token(self, proposal) -> int:
            value = proposal.value
            if not -1 <= value < len(self.tokens):
                raise _TraitValueError(
                    f"{proposal.trait.name}={value}: out of range; "
                    f"allowed: -1 (none) or 0..{len(self.tokens) - 1}"
                )
            return value

        @traitlets.validate("selected_tokens")
        def _valid_tokens(self, proposal) -> list[int]:
            value, n = list(proposal.value), len(self.tokens)
            if len(set(value)) == len(value) and all(0 <= t < n for t in value):
                return sorted(value)
            raise _TraitValueError(
                f"selected_tokens={value}: allowed: distinct tokens among 0..{n - 1}"
            )
