"""`report`: one self-contained HTML file of a Trace, no network needed to open it.

Static figures are embedded as PNG; the interactive attention canvas is the
one canvas module the notebook widget runs (static/scene.js + canvas.js,
`contract.module_source`), given a stand-in for the widget model
(`localModel` in canvas.js) that holds the view state and the Trace payload
(views/payload.py, every layer, each weighting the Trace holds, and each
context mixing given, so its weighting buttons work offline). The page
opens on the `ViewState` it is given, the one on screen when it was
exported, and derives every later view (another head, layer, overlay, mean,
pin) in the page: no widget library is imported, no kernel is needed.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

from distil_explorer.checks import checked_index
from distil_explorer.trace import Trace
from distil_explorer.views.contract import STATIC, module_source
from distil_explorer.views.figures import figure_png
from distil_explorer.views.html_text import json_for_script
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.payload import BYTE_FIELDS, shown_of, trace_payload
from distil_explorer.views.view_state import ViewState, changed, reconcile
from distil_explorer.views.weighting import checked_weighting, mixings_of

# Why a mixing weighting the report does not carry is off in the page.
NOT_CARRIED = (
    "not computed when this report was written: choose it in the explorer "
    "before exporting, or pass mixing=context_mixing(...) to report()"
)

_STATIC = STATIC


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def page_state(state: ViewState) -> dict:
    """The canvas traits of `state`, as the page's model holds them."""
    values = dataclasses.asdict(state)
    shown = values.pop("shown")
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    values["visible_heads"] = list(state.visible())
    values["has_norms"] = shown["has_norms"]
    values["mixing_methods"] = list(shown["mixing"])
    values["mixing_note"] = shown["mixing_note"]
    values.update(hovered=-1, notice="", render_ms=0.0)
    return values


def page_payloads(trace: Trace, index: int, mixing=None) -> dict:
    """Each weighting's payload (the context mixing given too), every layer,
    bytes as base64."""
    weightings = ["weights"] + ["norms"] * (trace.attention_norms is not None)
    weightings += list(mixings_of(mixing, trace))
    out = {}
    for weighting in weightings:
        payload = trace_payload(trace, index, weighting, all_layers=True, mixing=mixing)
        for name in BYTE_FIELDS:
            payload[name] = _b64(payload[name])
        out[weighting] = payload
    return out


def _shown(trace: Trace, index: int, number: int, mixing):
    held = tuple(mixings_of(mixing, trace))
    return shown_of(trace, index, number, mixing=held, mixing_note=NOT_CARRIED)


def _figures(trace: Trace, index: int, rows) -> list[tuple[str, str]]:
    from distil_explorer.views import hidden_plots, plots

    figures = [("Every layer and head", plots.plot_model_view(trace, index))]
    if trace.attention_norms is not None:
        figure = plots.plot_model_view(trace, index, weighting="norms")
        figures.append(("Every layer and head, norm-weighted", figure))
    figures += [
        ("Hidden states across layers", hidden_plots.plot_hidden_states(trace, index)),
        (
            "Token states, last layer (PCA)",
            hidden_plots.plot_pca(trace, trace.num_layers, index),
        ),
    ]
    if rows is not None:
        figures.append(("Parameters", plots.plot_parameters(rows)))
    return [(title, _b64(figure_png(figure))) for title, figure in figures]


def _causal_sections(trace: Trace, patching, importance) -> str:
    """The report's Activation patching and Head importance sections."""
    from distil_explorer.views import causal_plots as plots

    out = ""
    if patching is not None:
        png = _b64(figure_png(plots.plot_patching(patching)))
        out += (
            f"<h2>Activation patching</h2>{plots.patching_html(patching)}"
            f"<img alt='Activation patching' src='data:image/png;base64,{png}'>"
        )
    if importance is not None:
        ablated = trace.ablated_heads
        png = _b64(figure_png(plots.plot_head_importance(importance, ablated)))
        out += (
            f"<h2>Head importance</h2>{plots.importance_html(importance, ablated)}"
            f"<img alt='Head importance' src='data:image/png;base64,{png}'>"
        )
    return out


def _script(state: dict, payloads: dict) -> str:
    # Tokens and texts come from files people share: no "<", ">" or "&" may
    # reach the parser ("</script>" ends the script, "<!--<script>" swallows
    # the page), and U+2028/9 are escaped too (json_for_script).
    data = json_for_script(
        {"state": state, "payloads": payloads, "bytes": list(BYTE_FIELDS)}
    )
    source = json_for_script(module_source())
    return f"""<script type="module">
const data = {data};
const source = {source};
const canvas = await import(
  URL.createObjectURL(new Blob([source], {{ type: "text/javascript" }})));
const view = (b64) => {{
  const text = atob(b64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return new DataView(out.buffer);
}};
for (const payload of Object.values(data.payloads)) {{
  for (const name of data.bytes) payload[name] = view(payload[name]);
}}
const model = canvas.localModel(data.state, data.payloads);
window.distilModel = model;
canvas.default.render({{ model, el: document.getElementById("attention") }});
</script>"""


def opening_state(
    trace: Trace,
    index: int = 0,
    layer: int | None = None,
    head: int | None = None,
    visible_heads: list[int] | None = None,
    aggregate: str = "head",
    weighting: str = "weights",
    mixing=None,
) -> ViewState:
    """The `ViewState` a report opens on, from `report`'s keyword arguments.

    `mixing`: the ContextMixing(s) of the Trace's inputs the page carries.

    Examples:
    ```python
    opening_state(trace, layer=1, head=0, visible_heads=[0]).visible()  # (0,)
    opening_state(trace, weighting="alti", mixing=alti, aggregate="rollout")
    ```
    """
    state = reconcile(ViewState(index=index), _shown(trace, index, 1, mixing))
    choices = {"aggregate": aggregate, "weighting": weighting}
    if layer is not None:
        choices["layer"] = layer
    if visible_heads is not None:
        choices["visible_heads"] = tuple(visible_heads)
        if head is None:
            held = state.shown.heads
            head = min(visible_heads, key=lambda h: (abs(h - held[0]), h))
    if head is not None:
        choices["head"] = head
    return changed(state, **choices)


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
    state: ViewState | None = None,
    patching=None,
    importance=None,
    mixing=None,
    lens=None,
) -> Path:
    """Write one self-contained HTML file showing `trace` (sequence `index`).

    Every map the Trace holds is embedded (the widget's payload with every
    layer: uint8 per map with its float32 maximum; a base model's 72 maps
    at T=512 are 19 MB, 25 MB as base64), so any head can be opened in the
    page. `trace.select(layers=..., heads=...)` makes a smaller report.

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
        state: a `ViewState` (the explorer's, or `widget.view_state`): the
            page opens on its view, heads, pins and weighting; it replaces
            `layer`, `head`, `visible_heads`, `aggregate`, `weighting` and
            `index`.
        attribution: optionally an `Attribution` (`distil_explorer.attribute`):
            its coloured tokens and bar chart (its sequence `index`).
        patching: optionally a `Patching` (`distil_explorer.patch_activations`):
            its hidden state x token table and figure.
        importance: optionally head importances (a `HeadImportance`, or
            `distil_explorer.head_importance`'s array): the layer x head
            grid and figure, the heads `trace` ran without crossed out.
        mixing: optionally a `ContextMixing` of the Trace's inputs
            (`distil_explorer.context_mixing`), or several: embedded, and
            offered by the page's "Value zeroing" / "ALTI" buttons; `weighting`
            may then name one.
        lens: optionally a `LayerPredictions` (`layer_predictions`): the
            "Predictions by layer" grid of sequence `index`, as on screen.

    Examples:
    ```python
    report(trace, "out.html", rows=parameter_table(backbone))
    ```
    """
    path = Path(path)
    if path.suffix != ".html":
        raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .html")
    index = checked_index("index", index, trace.token_ids.shape[0])
    weighting = checked_weighting(weighting, trace, mixing)
    if state is None:
        state = opening_state(
            trace, index, layer, head, visible_heads, aggregate, weighting, mixing
        )
    else:
        index = checked_index("index", state.index, trace.token_ids.shape[0])
        state = reconcile(state, _shown(trace, index, state.shown.trace, mixing))
    script = _script(page_state(state), page_payloads(trace, index, mixing))
    figures = "".join(
        f"<h2>{escaped(t)}</h2><img alt='{escaped(t)}' src='data:image/png;base64,{b}'>"
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
    if lens is not None:
        from distil_explorer.views.lens_html import lens_html

        figures += f"<h2>Predictions by layer</h2>{lens_html(lens, index)}"
    figures += _causal_sections(trace, patching, importance)
    css = (_STATIC / "attention.css").read_text()
    where = f"ran on {escaped(trace.backend)} / {escaped(trace.device)}"
    config = ", ".join(f"{k}={v}" for k, v in trace.config.items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escaped(title)}</title>
<style>{css}
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
img {{ max-width: 100%; }}</style>
</head><body>
<h1>{escaped(title)}</h1>
<p>{escaped(config)}; {where}.</p>
<h2>Attention (hover a token; "All heads" for the grid)</h2>
<div id="attention"></div>
{figures}
{script}
</body></html>
"""
    from distil_explorer._internal.atomic_write import write_file

    return write_file(path, page)
