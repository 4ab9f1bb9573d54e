"""Colour rules shared by the views' HTML and figures."""

from __future__ import annotations


def ink_on(background: str, threshold: float = 0.5) -> str:
    """ "black" or "white": the text colour that reads on `background` ('#rrggbb').

    Black where the background's luma (0.299 r + 0.587 g + 0.114 b, 0..1)
    is above `threshold`, else white.

    Examples:
    ```python
    ink_on("#08306b")  # 'white'
    ink_on("#f7fbff")  # 'black'
    ```
    """
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > threshold else "white"
