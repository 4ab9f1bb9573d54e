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


# Panels draw at twice the pixels they show, so figures stay sharp on HiDPI
# screens and are never stretched to the width of their box.
PANEL_DPI = 200


def png_width(png: bytes) -> int:
    """Width in pixels of PNG bytes (from the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big") if len(png) >= 24 else 0


def image_widget():
    """An `ipywidgets.Image` for `show_png`: natural size, never stretched."""
    import ipywidgets as w

    return w.Image(
        format="png",
        layout=w.Layout(
            display="none", align_self="flex-start", max_width="100%", height="auto"
        ),
    )


def show_png(image, png: bytes) -> None:
    """Show `png` (drawn at `PANEL_DPI`) at its size in CSS pixels; b"" hides it.

    An empty Image would show a broken-image icon, so it is hidden instead.
    """
    image.value = png
    image.layout.display = None if png else "none"
    image.layout.width = f"{png_width(png) * 100 // PANEL_DPI}px" if png else None
