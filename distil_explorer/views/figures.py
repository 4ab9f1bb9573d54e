"""Turn a matplotlib Figure into PNG bytes for an `ipywidgets.Image`."""

from __future__ import annotations

import io


def figure_png(figure, dpi: int = 100) -> bytes:
    """PNG bytes of `figure`; the figure is closed afterwards.

    Examples:
    ```python
    image.value = figure_png(plot_head(trace, 0, 0))
    ```
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    figure.clear()
    return buffer.getvalue()
