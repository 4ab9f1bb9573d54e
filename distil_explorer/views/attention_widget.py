"""`AttentionWidget`: every head of a Trace as thumbnails, or one head in detail.

Python owns the state: it slices the cached `Trace` and sends bytes; the ES
module in `static/attention.js` only draws and reports clicks and hovers.
Importing this module never needs anywidget; constructing the widget does.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.views.encoding import downsample_maps, encode, to_uint8

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


def _check_range(name: str, value: int, stop: int, error=ValueError) -> int:
    if not 0 <= value < stop:
        raise error(f"{name}={value}: out of range; allowed: 0..{stop - 1}")
    return value


def _real_index(real: np.ndarray) -> slice | np.ndarray:
    """`real` (increasing positions) as a slice when it is one run, for views."""
    if real.size and real[-1] - real[0] + 1 == real.size:
        return slice(int(real[0]), int(real[-1]) + 1)
    return real


def _kept(current: int, held: tuple[int, ...]) -> int:
    """`current` if the Trace holds it, else the first index it holds."""
    return current if current in held else held[0]


def _check_held(name: str, value: int, held: list[int]) -> int:
    """`value` if it is among `held` (only 0 while no Trace is shown)."""
    if value in (held or [0]):
        return value
    allowed = f"one of {held}" if held else "0 (no Trace shown yet)"
    raise _TraitValueError(f"{name}={value}: not in this Trace; allowed: {allowed}")


def _sequence_tokens(trace: Trace, index: int, real: np.ndarray) -> list[str]:
    if trace.tokens is not None:
        return [trace.tokens[index][i] for i in real]
    return [str(trace.token_ids[index, i]) for i in real]


def _thumbnails(trace: Trace, index: int, real: np.ndarray, size: int) -> np.ndarray:
    """uint8 (layers held, heads held, t, t), each map scaled to its own maximum."""
    # One layer at a time, and a view where the real tokens are one run (the
    # usual case): a copy of every unpadded map at T=512 is ~75 MB and costs
    # more than the downsampling itself.
    keep = _real_index(real)
    layers = [
        downsample_maps(held[index][:, keep, :][..., keep], size)
        for held in trace.attentions
    ]
    return to_uint8(np.stack(layers), axes=(-2, -1))


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
        """Attention of one sequence of a Trace: all heads at a glance, or one head.

        `mode="model"` draws every layer x head as a small map; clicking one
        opens it in `mode="head"`, which draws queries (left) and keys (right)
        joined by lines as opaque as the weight (`draw_style="lines"`,
        BertViz style) or a heatmap (`draw_style="heatmap"`). Hovering a token
        highlights
        what it attends to and what attends to it; clicking it sets
        `selected_token`. Padding tokens are dropped. Changing `layer`,
        `head` or `index` slices the cached Trace again; no model runs.

        Args:
            **kwargs: initial trait values (`mode`, `draw_style`, ...).

        Examples:
        ```python
        trace = distil_explorer.capture(backbone, inputs)
        widget = AttentionWidget.from_trace(trace, index=0, layer=2, head=5)
        widget  # display it in a notebook
        widget.layer = 3  # the view follows
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
            "thumbnail_size, each map scaled so its maximum is 255.",
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
        index = traitlets.Int(
            0, help="int, default 0. Sequence of the Trace's batch shown."
        ).tag(sync=True)
        layer = traitlets.Int(
            0, help="int, default 0. Model layer shown in head mode, one of `layers`."
        ).tag(sync=True)
        head = traitlets.Int(
            0, help="int, default 0. Model head shown in head mode, one of `heads`."
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
            help="str, default 'head'. 'model': all heads; 'head': one head.",
        ).tag(sync=True)
        # Not `style`: that name is ipywidgets' DOMWidget.style, and shadowing
        # it breaks the widget inside a Box in JupyterLab.
        draw_style = traitlets.Enum(
            ("lines", "heatmap"),
            "lines",
            help="str, default 'lines'. How head mode draws: 'lines' or 'heatmap'.",
        ).tag(sync=True)
        hovered = traitlets.Int(
            -1, help="int, default -1. Token under the pointer (set by JS), -1: none."
        ).tag(sync=True)
        selected_token = traitlets.Int(
            -1, help="int, default -1. Token last clicked (set by JS), -1: none."
        ).tag(sync=True)
        render_ms = traitlets.Float(
            0.0, help="float, default 0.0. Milliseconds the last draw took (JS)."
        ).tag(sync=True)
        thumbnail_size = traitlets.Int(
            64, help="int, default 64. Largest side of a model-mode thumbnail."
        )

        def __init__(self, **kwargs: Any) -> None:
            self._trace = None
            self._real = np.zeros(0, dtype=np.int64)
            self._loading = False
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
            ```
            """
            trace.attention_position(
                trace.attention_layers[0] if layer is None else layer,
                trace.attention_heads[0] if head is None else head,
            )
            widget = cls(**kwargs)
            widget.set_trace(trace, index=index, layer=layer, head=head)
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
            """Show sequence `index` of `trace`; keeps `layer`/`head` where valid.

            Examples:
            ```python
            widget.set_trace(other_trace, index=1)
            ```
            """
            _check_range("index", index, trace.attentions.shape[1])
            layer = (
                _kept(self.layer, trace.attention_layers) if layer is None else layer
            )
            head = _kept(self.head, trace.attention_heads) if head is None else head
            trace.attention_position(layer, head)  # names what it holds
            self._trace = trace
            self._loading = True
            try:
                with self.hold_sync():
                    self.num_layers, self.num_heads = trace.num_layers, trace.num_heads
                    self.layers = list(trace.attention_layers)
                    self.heads = list(trace.attention_heads)
                    self.layer, self.head, self.index = layer, head, index
                    self._load_sequence()
            finally:
                self._loading = False

        def head_array(self) -> np.ndarray:
            """float32 (n, n) attention of (`layer`, `head`), padding dropped."""
            if self._trace is None:
                return np.zeros((0, 0), dtype=np.float32)
            attn = self._trace.attention(self.layer, self.head, self.index)
            keep = _real_index(self._real)
            return attn[keep, :][:, keep]

        def _load_sequence(self) -> None:
            trace, index = self._trace, self.index
            self._real = np.flatnonzero(trace.padding_mask[index])
            thumbs = _thumbnails(trace, index, self._real, self.thumbnail_size)
            self.hovered = self.selected_token = -1
            self.tokens = _sequence_tokens(trace, index, self._real)
            self.maps_shape = list(thumbs.shape)
            self.maps = thumbs.tobytes()
            self.head_map = encode(self.head_array())["data"]

        @traitlets.observe("layer", "head")
        def _on_head(self, change) -> None:
            if not self._loading and self._trace is not None:
                self.head_map = encode(self.head_array())["data"]

        @traitlets.observe("index", "thumbnail_size")
        def _on_index(self, change) -> None:
            if not self._loading and self._trace is not None:
                with self.hold_sync():
                    self._load_sequence()

        @traitlets.validate("layer")
        def _valid_layer(self, proposal) -> int:
            return _check_held("layer", proposal.value, self.layers)

        @traitlets.validate("head")
        def _valid_head(self, proposal) -> int:
            return _check_held("head", proposal.value, self.heads)

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

        @traitlets.validate("hovered", "selected_token")
        def _valid_token(self, proposal) -> int:
            value = proposal.value
            if not -1 <= value < len(self.tokens):
                raise _TraitValueError(
                    f"{proposal.trait.name}={value}: out of range; "
                    f"allowed: -1 (none) or 0..{len(self.tokens) - 1}"
                )
            return value
