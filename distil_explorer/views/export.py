"""Export what a view shows: PNG or SVG figures, or the whole HTML report."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from distil_explorer.trace import Trace

VIEWS = ("head", "model", "hidden states", "pca", "parameters")
FORMATS = (".png", ".svg", ".html")


def view_figure(
    trace: Trace | None,
    view: str,
    layer: int = 0,
    head: int = 0,
    rows=None,
    index: int = 0,
):
    """The matplotlib Figure for one of the explorer's views."""
    from distil_explorer.views import plots

    if view not in VIEWS:
        raise ValueError(f"view={view!r}: allowed: {', '.join(VIEWS)}")
    if view == "parameters":
        if rows is None:
            raise ValueError(
                "rows: needed for the parameters view; allowed: "
                "parameter_table(backbone)"
            )
        return plots.plot_parameters(rows)
    if trace is None:
        raise ValueError(f"trace: needed for the {view} view; allowed: run first")
    if view == "head":
        return plots.plot_head(trace, layer, head, index=index)
    if view == "model":
        return plots.plot_model_view(trace, index=index)
    if view == "hidden states":
        return plots.plot_hidden_states(trace, index=index)
    return plots.plot_pca(trace, layer, index=index, shared_basis=True)


def export_view(
    path: str | os.PathLike,
    trace: Trace | None,
    view: str = "head",
    layer: int = 0,
    head: int = 0,
    rows=None,
    index: int = 0,
) -> Path:
    """Write a view as .png or .svg, or the whole Trace as an .html report.

    The file appears complete or not at all (written under a temporary name
    and renamed).

    Examples:
    ```python
    export_view("head_2_5.svg", trace, "head", layer=2, head=5)
    export_view("all.html", trace, rows=parameter_table(backbone))
    ```
    """
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(
            f"path={str(path)!r}: allowed: a name ending in " + ", ".join(FORMATS)
        )
    if path.suffix == ".html":
        from distil_explorer.views.report import report

        if trace is None:
            raise ValueError("trace: the report needs a Trace; allowed: run first")
        return report(trace, path, index=index, rows=rows)
    figure = view_figure(trace, view, layer, head, rows, index)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        figure.savefig(tmp, format=path.suffix[1:], bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
