"""The canvas widget's synced traits: the choices (a `ViewState`'s canvas part)
and the Trace payload (views/payload.py), named as static/contract.json says.

Only declarations live here; `attention_widget.py` keeps them consistent
(through `view_state.changed` and `reconcile`) and fills the payload.
Importing this module never needs anywidget.
"""

from __future__ import annotations

from typing import Any

from distil_explorer.views.contract import CONTRACT
from distil_explorer.views.view_state import (
    AGGREGATES,
    COMBINES,
    DRAW_STYLES,
    MODES,
    SIDES,
    WEIGHTINGS,
)

# The traits canvas.js sets; a front end sending any other is refused.
FRONT_END_TRAITS = frozenset(CONTRACT["front_end_traits"])
# The traits that are ViewState fields.
STATE_TRAITS = tuple(CONTRACT["state_traits"])
INSTALL = (
    "AttentionWidget needs the anywidget package: pip install anywidget "
    "ipywidgets (or pip install 'distil-explorer[lab]'), then restart the kernel."
)

try:
    import anywidget
    import traitlets
except ImportError:  # the widget is optional; Trace and analysis are not
    anywidget = None


def _bytes(help: str) -> Any:
    return traitlets.Bytes(b"", help=help).tag(sync=True)


def _ints(help: str) -> Any:
    return traitlets.List(traitlets.Int(), [], help=help).tag(sync=True)


if anywidget is not None:

    class CanvasTraits(anywidget.AnyWidget):
        """The synced traits of `AttentionWidget` (see its docstring)."""

        # --- the Trace payload: set by Python once per Trace (read-only) ---
        tokens = traitlets.List(
            traitlets.Unicode(),
            help="list[str], default []. Tokens of sequence `index`, padding "
            "dropped (read-only).",
        ).tag(sync=True)
        layers = _ints(
            "list[int], default []. The model layers the Trace holds maps of "
            "(`Trace.attention_layers`) (read-only)."
        )
        heads = _ints(
            "list[int], default []. The heads it holds (`Trace.attention_heads`) "
            "(read-only)."
        )
        payload_info = traitlets.Dict(
            help="dict, default {}. n (tokens), maps_layers (the layers `maps` "
            "holds), small_side, weighting and index of the payload (read-only)."
        ).tag(sync=True)
        maps = _bytes(
            "bytes, default b''. uint8 (len(maps_layers), heads, n, n), each map "
            "scaled to its largest value `maps_scale` (read-only)."
        )
        maps_scale = _bytes("bytes, default b''. float32 (maps, ) maxima of `maps`.")
        small = _bytes(
            "bytes, default b''. uint8 (layers, heads, t, t) maps downsampled to "
            "t <= 64, for the model view (read-only)."
        )
        small_scale = _bytes("bytes, default b''. float32 maxima of `small`.")
        layer_mean = _bytes(
            "bytes, default b''. uint8 (heads, n, n): each head's mean over "
            "layers, sent when `maps` holds one layer only (n > 256) (read-only)."
        )
        layer_mean_scale = _bytes("bytes, default b''. float32 maxima of it.")
        rollout = _bytes(
            "bytes, default b''. uint8 (len(maps_layers), n, n): with a "
            "context-mixing weighting, its rollout through each layer sent "
            "(read-only)."
        )
        rollout_scale = _bytes("bytes, default b''. float32 maxima of `rollout`.")
        num_layers = traitlets.Int(
            0, help="int, default 0. Layers of the model that ran (read-only)."
        ).tag(sync=True)
        num_heads = traitlets.Int(
            0, help="int, default 0. Heads per layer of that model (read-only)."
        ).tag(sync=True)
        has_norms = traitlets.Bool(
            False,
            help="bool, default False. The Trace holds attention_norms "
            "(capture(..., norms=True)) (read-only).",
        ).tag(sync=True)
        mixing_methods = traitlets.List(
            traitlets.Unicode(),
            help="list[str], default []. The context-mixing weightings this "
            "Trace can be drawn with ('value_zeroing', 'alti'): held, or "
            "computed on demand by the explorer (read-only).",
        ).tag(sync=True)
        mixing_note = traitlets.Unicode(
            "",
            help="str, default ''. Why the other mixing weightings are off "
            "(read-only).",
        ).tag(sync=True)

        # --- the choices: a ViewState's canvas part ---
        index = traitlets.Int(
            0, help="int, default 0. Sequence of the Trace's batch shown."
        ).tag(sync=True)
        mode = traitlets.Enum(
            MODES, "head", help="str, default 'head'. 'model': all heads; 'head'."
        ).tag(sync=True)
        # Not `style`: that name is ipywidgets' DOMWidget.style.
        draw_style = traitlets.Enum(
            DRAW_STYLES,
            "lines",
            help="str, default 'lines'. How head mode draws: 'lines' or 'heatmap'.",
        ).tag(sync=True)
        layer = traitlets.Int(
            0, help="int, default 0. Model layer shown, one of `layers`."
        ).tag(sync=True)
        head = traitlets.Int(
            0,
            help="int, default 0. The focused head, one of `heads` and always "
            "in `visible_heads`: the heatmap draws it, the lines draw it on top.",
        ).tag(sync=True)
        visible_heads = _ints(
            "list[int], default [] (every head once a Trace is shown). Heads "
            "overlaid in the lines view and averaged by the mean aggregates; "
            "sorted, always holds `head`."
        )
        aggregate = traitlets.Enum(
            AGGREGATES,
            "head",
            help="str, default 'head'. 'head': each visible head; 'mean_heads': "
            "their mean in `layer`; 'mean_layers': their mean over every layer. "
            "With a mixing weighting: 'head' is the layer's map, 'rollout' the "
            "layers multiplied through `layer`.",
        ).tag(sync=True)
        weighting = traitlets.Enum(
            WEIGHTINGS,
            "weights",
            help="str, default 'weights'. 'weights' (softmax attention), "
            "'norms' (`Trace.attention_norms`, only while `has_norms`), or "
            "'value_zeroing' / 'alti' (context mixing, one map per layer, "
            "only those in `mixing_methods`).",
        ).tag(sync=True)
        selected_token = traitlets.Int(
            -1,
            help="int, default -1. The last pinned token, -1: none; always in "
            "`selected_tokens` unless -1.",
        ).tag(sync=True)
        selected_tokens = _ints(
            "list[int], default []. Every pinned token (shift-click adds or "
            "removes one), sorted; their rows or columns are combined."
        )
        selected_side = traitlets.Enum(
            SIDES,
            "query",
            help="str, default 'query'. Where the pins were clicked: 'query' "
            "(left: their rows) or 'key' (right: their columns).",
        ).tag(sync=True)
        combine = traitlets.Enum(
            COMBINES,
            "sum",
            help="str, default 'sum'. How several pins combine: 'sum' or 'mean'.",
        ).tag(sync=True)
        thumbnail_percentile = traitlets.Float(
            95.0,
            help="float, default 95.0. Model-view thumbnails: each map scaled "
            "so this percentile of its values is full colour; 100: its maximum.",
        ).tag(sync=True)

        # --- from the front end ---
        hovered = traitlets.Int(
            -1, help="int, default -1. Token under the pointer (set by JS), -1: none."
        ).tag(sync=True)
        render_ms = traitlets.Float(
            0.0, help="float, default 0.0. Milliseconds the last draw took (JS)."
        ).tag(sync=True)
        notice = traitlets.Unicode(
            "",
            help="str, default ''. The last front-end change refused, in one "
            "sentence ('' after the next accepted one).",
        ).tag(sync=True)
