"""The view registry: one table of every view a person can export.

Each view names the tabs that show it, the file it is exported to and
whether it is the canvas (drawn from the `ViewState`'s scene, so the file
shows what the screen shows). The export picker (`export_bar.TAB_VIEWS`),
`export.VIEWS`, the default file names and `export_view` read this table;
adding a view is one row here plus its drawing in `export.view_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass

# The explorer's tabs, in order.
TABS = (
    "Build",
    "Run",
    "Attention",
    "Hidden states",
    "Parameters",
    "Compare",
    "Attribution",
    "Causal",
    "Corpus",
)


@dataclass(frozen=True)
class View:
    """One exportable view.

    Args:
        name: str. What `export_view(..., view=name)` takes.
        tabs: tuple of str. The explorer tabs that show it (the export
            picker offers it there, the first listed view first).
        file: str. The file name it is exported to, without suffix.
        canvas: bool. Drawn from the canvas's scene (the view state).

    Examples:
    ```python
    View("head", ("Run", "Attention"), "head_view", canvas=True)
    ```
    """

    name: str
    tabs: tuple[str, ...]
    file: str
    canvas: bool = False


REGISTRY = (
    View("head", ("Run", "Attention"), "head_view", canvas=True),
    View("model", ("Run", "Attention"), "model_view", canvas=True),
    View("query/key", ("Attention",), "query_key"),
    View("predictions by layer", ("Attention",), "predictions_by_layer"),
    View("hidden states", ("Hidden states",), "hidden_states"),
    View("pca", ("Hidden states",), "pca"),
    View("rollout", ("Hidden states",), "rollout"),
    View("parameters", ("Build", "Parameters"), "parameters"),
    View("compare", ("Compare",), "compare"),
    View("attribution", ("Attribution",), "attribution"),
    View("patching", ("Causal",), "patching"),
    View("heads", ("Causal",), "head_importance"),
    View("corpus", ("Corpus",), "corpus"),
)
VIEWS = tuple(view.name for view in REGISTRY)
FILE_NAMES = {view.name: view.file for view in REGISTRY}
CANVAS_VIEWS = tuple(view.name for view in REGISTRY if view.canvas)


def tab_views(tab: str) -> tuple[str, ...]:
    """The views `tab` shows, in the registry's order.

    Examples:
    ```python
    tab_views("Attention")  # ('head', 'model', 'query/key', 'predictions by layer')
    ```
    """
    return tuple(view.name for view in REGISTRY if tab in view.tabs)
