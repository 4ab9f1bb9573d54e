"""`report`: one self-contained HTML file of a Trace, no network needed to open it.

Static figures are embedded as PNG; the interactive attention canvas is the
same ES module the notebook widget uses, inlined with a small stand-in for
the widget model (static/standalone.js). The canvas starts from the payload
the widget would sync (`canvas_state`, the same numpy functions) and the page
cuts every later one (another head, layer, overlay, mean) out of the embedded
maps: no widget library is imported, and no kernel is needed to click around.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np

from distil_explorer.checks import checked_index
from distil_explorer.trace import Trace
from distil_explorer.views.canvas_state import (
    canvas_state,
    quantized_maps,
    real_index,
    real_positions,
    sequence_payload,
)
from distil_explorer.views.figures import figure_png
from distil_explorer.views.weighting import checked_weighting, weighted

_STATIC = Path(__file__).parent / "static"
# The canvas_state values that are bytes: base64 in the page, DataViews in JS.
_BYTES = ("maps", "head_map", "head_maps", "head_maps_scale", "view_map")
# Choices a notebook widget starts with and the page does not take as arguments.
_DEFAULTS = {
    "draw_style": "lines",
    "hovered": -1,
    "selected_token": -1,
    "selected_tokens": [],
    "selected_side": "query",
    "combine": "sum",
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _canvas_state(
    trace: Trace, index: int, layer, head, visible_heads, aggregate, weighting
) -> dict:
    """What the page's canvas starts from: the widget's payload (canvas_state,
    bytes as base64) plus every map of the sequence for the page to cut from
    (and, with norms, every norm-weighted map: `_norms_state`)."""
    state = {**_DEFAULTS}
    values = canvas_state(
        trace,
        index=index,
        layer=layer,
        head=head,
        visible_heads=visible_heads,
        aggregate=aggregate,
    )
    for name, value in values.items():
        state[name] = _b64(value) if name in _BYTES else value
    real = real_positions(trace, index)
    keep = real_index(real)
    maps = trace.attentions[:, index][:, :, keep, :][..., keep]
    state.update(_embedded_maps(maps))
    state["all_shape"] = list(maps.shape[:3])  # (layers, heads, n)
    if trace.attention_norms is not None:
        state["norms"] = _norms_state(trace, index, state["thumbnail_percentile"])
    # The page starts on the weights and switches itself, as on a click.
    state["weighting"] = weighting
    if state["all_scale"] is not None:
        # Long inputs: all_maps already holds these very bytes (quantized_maps),
        # which the page slices out as it opens; embedding them again would
        # add 4 MB of base64 to a base model's report at T=512.
        state.update(head_maps="", head_maps_scale="", head_maps_heads=[])
        state["head_maps_layer"] = -1
    return state


def _norms_state(trace: Trace, index: int, percentile: float) -> dict:
    """The norm-weighted thumbnails and maps, embedded as the weights are;
    uint16 in units of their largest value (`all_unit`), since they are not
    in 0..1."""
    norms = weighted(trace, "norms")
    real = real_positions(trace, index)
    keep = real_index(real)
    maps = norms.attentions[:, index][:, :, keep, :][..., keep]
    thumbs = sequence_payload(norms, index, real, 64, percentile)["maps"]
    unit = float(maps.max()) if maps.size and maps.max() > 0 else 1.0
    if maps.size > UINT16_VALUES:  # uint8 with each map's own maximum
        return {"maps": _b64(thumbs), **_embedded_maps(maps), "all_unit": 1.0}
    return {"maps": _b64(thumbs), **_embedded_maps(maps / unit), "all_unit": unit}


# Beyond this many values (about 8 MB as uint16), maps are embedded as uint8.
UINT16_VALUES = 4_000_000


def _embedded_maps(maps: np.ndarray) -> dict:
    """Every map for the page: uint16 (step 1/65535) while they are few, else
    uint8 scaled to each map's maximum (step max/255), half the size: a base
    model's 72 maps at T=512 are 50 MB of base64 as uint16. The uint8 bytes
    are the widget's `head_maps` of each layer (`quantized_maps`)."""
    if maps.size <= UINT16_VALUES:
        values = np.round(maps * 65535).astype("<u2")
        return {"all_maps": _b64(values.tobytes()), "all_scale": None}
    values, top = quantized_maps(maps)  # top: (layers, heads)
    return {"all_maps": _b64(values.tobytes()), "all_scale": top.ravel().tolist()}


def _figures(trace: Trace, index: int, rows) -> list[tuple[str, str]]:
    from distil_explorer.views import plots

    figures = [("Every layer and head", plots.plot_model_view(trace, index))]
    if trace.attention_norms is not None:
        figure = plots.plot_model_view(trace, index, weighting="norms")
        figures.append(("Every layer and head, norm-weighted", figure))
    figures += [
        ("Hidden states across layers", plots.plot_hidden_states(trace, index)),
        (
            "Token states, last layer (PCA)",
            plots.plot_pca(trace, trace.num_layers, index),
        ),
    ]
    if rows is not None:
        figures.append(("Parameters", plots.plot_parameters(rows)))
    return [(title, _b64(figure_png(figure))) for title, figure in figures]


def _script(state: dict) -> str:
    sources = {
        "attention": (_STATIC / "attention.js").read_text(),
        "standalone": (_STATIC / "standalone.js").read_text(),
    }
    # "</" inside a <script> would end it early.
    data = json.dumps({"state": state, "sources": sources}).replace("</", "<\\/")
    return f"""<script type="module">
const data = {data};
const load = (source) => import(
  URL.createObjectURL(new Blob([source], {{ type: "text/javascript" }})));
const attention = await load(data.sources.attention);
const standalone = await load(data.sources.standalone);
const el = document.getElementById("attention");
attention.default.render({{ model: standalone.createModel(data.state), el }});
</script>"""


def report(
    trace: Trace,
    path: str | os.PathLike,
    index: int = 0,
    rows=None,
    title: str = "distil-explorer report",
    layer: int | None = None,
    head: int | None = None,
    visible_heads: list[int] | None = None,
    aggregate: str = "head",
    weighting: str = "weights",
    attribution=None,
) -> Path:
    """Write one self-contained HTML file showing `trace` (sequence `index`).

    Every map the Trace holds is embedded, so any head can be opened in the
    page: as uint16 while they are few, as uint8 per map beyond
    `UINT16_VALUES` values (a base model's 72 maps at T=512: 28 MB, written
    in ~6 s). `trace.select(layers=..., heads=...)` makes a smaller report.

    Args:
        trace: the Trace to show.
        path: where to write; must end in .html. Written atomically.
        index: which sequence of the batch.
        rows: optionally `parameter_table(backbone)`, for the parameter chart.
        title: the page title.
        layer, head: the head the page opens on (model indices); None for
            the first the Trace holds.
        visible_heads: the heads overlaid (and averaged) at first; None: all.
        aggregate: what the page opens on: "head", "mean_heads" or
            "mean_layers", as `AttentionWidget.aggregate`.
        weighting: "weights" or "norms": what the page opens on. A Trace
            with `attention_norms` embeds them too (about twice the size)
            and its "Norm-weighted" button switches the canvas to them.
        attribution: optionally an `Attribution` (`distil_explorer.attribute`):
            its coloured tokens and bar chart (its sequence `index`).

    Examples:
    ```python
    report(trace, "out.html", rows=parameter_table(backbone))
    ```
    """
    path = Path(path)
    if path.suffix != ".html":
        raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .html")
    index = checked_index("index", index, trace.token_ids.shape[0])
    weighting = checked_weighting(weighting, trace)
    state = _canvas_state(
        trace, index, layer, head, visible_heads, aggregate, weighting
    )
    figures = "".join(
        f"<h2>{html.escape(t)}</h2>"
        f"<img alt='{html.escape(t)}' src='data:image/png;base64,{b}'>"
        for t, b in _figures(trace, index, rows)
    )
    if attribution is not None:
        from distil_explorer.views.attribution_plots import (
            attribution_html,
            plot_attribution,
        )

        chart = _b64(figure_png(plot_attribution(attribution, index)))
        figures += (
            "<h2>Token attribution</h2>"
            f"{attribution_html(attribution, index)}"
            f"<img alt='Token attribution' src='data:image/png;base64,{chart}'>"
        )
    css = (_STATIC / "attention.css").read_text()
    where = f"ran on {html.escape(trace.backend)} / {html.escape(trace.device)}"
    config = ", ".join(f"{k}={v}" for k, v in trace.config.items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{css}
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
img {{ max-width: 100%; }}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(config)}; {where}.</p>
<h2>Attention (hover a token; "All heads" for the grid)</h2>
<div id="attention"></div>
{figures}
{_script(state)}
</body></html>
"""
    from distil_explorer._internal.atomic_write import write_file

    return write_file(path, page)
