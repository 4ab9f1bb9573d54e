"""Point labels that neither overlap nor leave the frame (scatter plots).

`place_labels` lays the figure out once, freezes that layout, then puts each
label at the first of eight spots around its point where it overlaps no
label placed before and stays inside the axes; a label with no such spot is
left out (the caller says how many). Matplotlib has no repel of its own, and
a few dozen labels need no library for it.
"""

from __future__ import annotations

from collections.abc import Sequence

# Offsets (points) around a point: right, above, left, below, then diagonals.
_SPOTS = (
    (4, -4, "left", "center"),
    (0, 5, "center", "bottom"),
    (-4, -4, "right", "center"),
    (0, -6, "center", "top"),
    (4, 4, "left", "bottom"),
    (-4, 4, "right", "bottom"),
    (4, -6, "left", "top"),
    (-4, -6, "right", "top"),
)


def place_labels(
    ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], fontsize=9
) -> int:
    """Label each point (xs[i], ys[i]) of `ax` without overlaps; how many were left out.

    The figure's layout is computed now and frozen, so the labels stay where
    they were checked; call this last, after titles and colour bars.

    Examples:
    ```python
    ax.scatter(x, y)
    hidden = place_labels(ax, x, y, names)
    ```
    """
    figure = ax.get_figure(root=True)
    if not hasattr(figure.canvas, "get_renderer"):  # a Figure made without pyplot
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)
    figure.draw_without_rendering()
    figure.set_layout_engine("none")  # later draws keep these positions
    renderer = figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed, hidden = [], 0
    for x, y, label in zip(xs, ys, labels, strict=True):
        for dx, dy, ha, va in _SPOTS:
            text = ax.annotate(
                label,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
            )
            box = text.get_window_extent(renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            if inside and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            text.remove()
        else:
            hidden += 1
    return hidden
