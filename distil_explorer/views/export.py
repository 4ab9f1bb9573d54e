"""Export what a view shows: PNG or SVG figures, or the whole HTML report."""

from __future__ import annotations

import os
from pathlib import Path

from distil_explorer._internal.atomic_write import checked_path, write_file
from distil_explorer.trace import Trace
from distil_explorer.views.registry import CANVAS_VIEWS, FILE_NAMES, VIEWS
from distil_explorer.views.weighting import MIXING, checked_weighting

FORMATS = (".png", ".svg", ".html")


def default_name(view: str, suffix: str = ".png") -> str:
    """The file name a view is exported to by default.

    Examples:
    ```python
    default_name("head")  # 'head_view.png'
    ```
    """
    return FILE_NAMES[view] + suffix


def state_figure(trace: Trace, view: str, state, mixing=None):
    """The head view or model view drawn from `state` as the canvas draws it.

    A context-mixing weighting needs its `ContextMixing` among `mixing`.

    Examples:
    ```python
    state_figure(trace, "head", widget.view_state).savefig("head_view.png")
    state_figure(trace, "model", state, mixing=widget.mixing)
    ```
    """
    from distil_explorer.views.payload import decoded, shown_of, trace_payload
    from distil_explorer.views.scene import scene_of
    from distil_explorer.views.scene_plots import plot_scene
    from distil_explorer.views.view_state import reconcile
    from distil_explorer.views.weighting import mixings_of

    checked_weighting(state.weighting, trace, mixing)
    held = tuple(mixings_of(mixing, trace))
    shown = shown_of(trace, state.index, state.shown.trace, mixing=held)
    state = reconcile(state, shown).replace(mode="model" if view == "model" else "head")
    payload = trace_payload(
        trace, state.index, state.weighting, state.layer, mixing=mixing
    )
    return plot_scene(scene_of(state, decoded(payload)))


# Views drawn from a value other than the Trace: its argument, why it is
# needed, how to get one.
_UNTRACED = {
    "parameters": (
        "rows",
        "needed for the parameters view",
        "parameter_table(backbone)",
    ),
    "attribution": (
        "attribution",
        "none yet",
        "press Attribute in the Attribution tab, or pass "
        "distil_explorer.attribute(...)'s result",
    ),
    "corpus": (
        "corpus",
        "needed for the corpus view",
        "press Compute in the Corpus tab first",
    ),
    "predictions by layer": (
        "lens",
        "none yet for the predictions by layer view",
        "build a masked-LM preset and Run, or pass "
        "distil_explorer.layer_predictions(...)'s result",
    ),
}


def _untraced_figure(view: str, index: int, given: dict):
    """The figure of a view in `_UNTRACED`, from its value in `given`."""
    name, why, how = _UNTRACED[view]
    value = given[name]
    if value is None:
        raise ValueError(f"{name}: {why}; allowed: {how}")
    if view == "parameters":
        from distil_explorer.views.plots import plot_parameters

        return plot_parameters(value)
    if view == "attribution":
        from distil_explorer.views.attribution_plots import plot_attribution

        return plot_attribution(value, index)
    if view == "corpus":
        from distil_explorer.views.corpus_plots import plot_corpus_statistics

        return plot_corpus_statistics(value)
    from distil_explorer.views.lens_plots import plot_layer_predictions

    return plot_layer_predictions(value, index)


def view_figure(
    trace: Trace | None,
    view: str,
    layer: int | None = None,
    head: int | None = None,
    rows=None,
    index: int = 0,
    *,
    other: Trace | None = None,
    query: int | None = None,
    key: int | None = None,
    labels: tuple[str | None, str | None] = (None, None),
    style: str = "heatmap",
    weighting: str = "weights",
    attribution=None,
    corpus=None,
    state=None,
    patching=None,
    importance=None,
    mixing=None,
    aggregate: str = "head",
    lens=None,
):
    """The matplotlib Figure for one of the explorer's views.

    `layer` is the attention layer for "head", "query/key", "rollout" and
    "compare", and the hidden-state index for "pca"; None is the first layer
    and head the Trace holds (the last layer for "pca" and "rollout").
    "query/key" needs `query` and `key` (token positions); "compare" needs
    `other` (B, with `trace` as A) and takes `labels` for the two. "head"
    draws `style` "heatmap" or "lines", as the canvas does; "head" and
    "model" draw `weighting` "weights", "norms" (`Trace.attention_norms`), or
    "value_zeroing" / "alti" from `mixing` (`context_mixing(...)` of the
    Trace's inputs, or several): one map per layer, `aggregate="rollout"`
    for its rollout through `layer`, "mean_layers" for the mean.
    "attribution" draws `attribution` (an `Attribution`) and "corpus" draws
    `corpus` (a `CorpusStatistics`) and "predictions by layer" draws `lens`
    (a `LayerPredictions`, `layer_predictions`); none needs a Trace.
    "patching" draws `patching` (a `Patching`), "heads" `importance` (a
    `HeadImportance` or head_importance's (L, H) array) with the heads
    `trace` ran without crossed out. With `state`
    (a `ViewState`, e.g. the explorer's), "head" and "model" are drawn as the
    canvas shows them: its heads and colours, pins, weighting, aggregate,
    lines or heatmap (`state_figure`).
    """
    from distil_explorer.views import hidden_plots, plots

    if view not in VIEWS:
        raise ValueError(f"view={view!r}: allowed: {', '.join(VIEWS)}")
    if view in _UNTRACED:
        given = {"rows": rows, "attribution": attribution, "corpus": corpus}
        return _untraced_figure(view, index, given | {"lens": lens})
    if view in ("patching", "heads"):
        return _causal_figure(view, trace, patching, importance)
    if trace is None:
        raise ValueError(f"trace: needed for the {view} view; allowed: run first")
    if layer is None:
        defaults = {"pca": trace.num_layers, "rollout": trace.num_layers - 1}
        layer = defaults.get(view, trace.attention_layers[0])
    head = trace.attention_heads[0] if head is None else head
    if view in CANVAS_VIEWS and state is not None:
        return state_figure(trace, view, state, mixing)
    if view in CANVAS_VIEWS and checked_weighting(weighting, trace, mixing) in MIXING:
        from distil_explorer.views.report import opening_state

        state = opening_state(
            trace, index, layer, aggregate=aggregate, weighting=weighting, mixing=mixing
        )
        state = state.replace(draw_style=style if style == "lines" else "heatmap")
        return state_figure(trace, view, state, mixing)
    if view == "head":
        if style not in ("heatmap", "lines"):
            raise ValueError(f"style={style!r}: allowed: heatmap, lines")
        if style == "lines":
            return plots.plot_head_lines(
                trace, layer, head, index=index, weighting=weighting
            )
        return plots.plot_head(trace, layer, head, index=index, weighting=weighting)
    if view == "model":
        return plots.plot_model_view(trace, index=index, weighting=weighting)
    if view == "query/key":
        if query is None or key is None:
            raise ValueError(
                "query, key: needed for the query/key view; allowed: token "
                "positions (click a token in the head view)"
            )
        return plots.plot_query_key(trace, layer, head, query, key, index=index)
    if view == "hidden states":
        return hidden_plots.plot_hidden_states(trace, index=index)
    if view == "rollout":
        return hidden_plots.plot_rollout(trace, index=index, layer=layer)
    if view == "compare":
        from distil_explorer.views.compare_plots import plot_difference

        if other is None:
            raise ValueError(
                "other: needed for the compare view; allowed: a second Trace "
                "of the same input (B)"
            )
        a_label, b_label = labels
        return plot_difference(
            trace, other, layer, head, index, a_label=a_label, b_label=b_label
        )
    return hidden_plots.plot_pca(trace, layer, index=index, shared_basis=True)


def _causal_figure(view: str, trace: Trace | None, patching, importance):
    from distil_explorer.views import causal_plots

    if view == "patching":
        if patching is None:
            raise ValueError(
                "patching: none yet; allowed: press Patch in the Causal tab, or "
                "pass distil_explorer.patch_activations(...)'s result"
            )
        return causal_plots.plot_patching(patching)
    if importance is None:
        raise ValueError(
            "importance: none yet; allowed: press Head importance in the Causal "
            "tab, or pass distil_explorer.head_importance(...)'s result"
        )
    ablated = () if trace is None else trace.ablated_heads
    return causal_plots.plot_head_importance(importance, ablated)


def export_view(
    path: str | os.PathLike,
    trace: Trace | None,
    view: str = "head",
    layer: int | None = None,
    head: int | None = None,
    rows=None,
    index: int = 0,
    **options,
) -> Path:
    """Write a view as .png or .svg, or the whole Trace as an .html report.

    The file appears complete or not at all (written under a temporary name
    and renamed), with the usual file mode; its folder must exist.

    Args:
        path: str or Path ending in .png, .svg or .html.
        trace: the `Trace` shown (A for "compare"); None only for
            "parameters".
        view: str. One of `VIEWS`; ignored for .html, which writes the
            report of the whole Trace.
        layer, head, rows, index: what the view shows (see `view_figure`).
        **options: `other`, `query`, `key`, `labels`, `style`,
            `weighting`, `mixing`, `aggregate`, `attribution`, `corpus`,
            `state`, `lens`, `patching`, `importance`, as `view_figure` takes
            (the report opens on `state`, or on `weighting`, and takes
            `attribution`, `lens`, `patching` and `importance` too; it carries
            every ContextMixing in `mixing`, so its weighting buttons work
            offline). Figures are written at 2x pixel density.

    Examples:
    ```python
    export_view("head_2_5.svg", trace, "head", layer=2, head=5)
    export_view("rollout.png", trace, "rollout", layer=5)
    export_view("diff.svg", trace_torch, "compare", 0, 2, other=trace_jax)
    export_view("all.html", trace, rows=parameter_table(backbone))
    export_view("head_view.png", trace, "head", state=app.view_state)
    alti = context_mixing(backbone, inputs, method="alti")
    export_view("alti.png", trace, "model", weighting="alti", mixing=alti)
    export_view("rollout_5.svg", trace, "head", 5, weighting="alti", mixing=alti,
                aggregate="rollout")
    export_view("lens.png", trace, "predictions by layer", lens=lens)
    ```
    """
    path = checked_path("path", path)
    if path.suffix not in FORMATS:
        raise ValueError(
            f"path={str(path)!r}: allowed: a name ending in " + ", ".join(FORMATS)
        )
    if path.suffix == ".html":
        from distil_explorer.views.report import report

        if trace is None:
            raise ValueError("trace: the report needs a Trace; allowed: run first")
        weighting = options.get("weighting", "weights")
        return report(
            trace,
            path,
            index=index,
            rows=rows,
            layer=layer,
            head=head,
            weighting=weighting,
            attribution=options.get("attribution"),
            state=options.get("state"),
            patching=options.get("patching"),
            importance=options.get("importance"),
            mixing=options.get("mixing"),
            aggregate=options.get("aggregate", "head"),
            lens=options.get("lens"),
        )
    from distil_explorer.views.scene_plots import EXPORT_DPI

    figure = view_figure(trace, view, layer, head, rows, index, **options)
    return write_file(
        path,
        lambda f: figure.savefig(
            f, format=path.suffix[1:], bbox_inches="tight", dpi=EXPORT_DPI
        ),
    )
