"""The contract between Python, the canvas's JS and the tests: static/contract.json.

Trait names, the payload's byte fields and the layout constants (colours,
font sizes, margins) live in that one file. `module_source()` is the canvas's
one ES module as the widget and the HTML report load it: the contract as a
constant, then static/scene.js (what to draw, pure functions that node runs in
the tests), then static/canvas.js (how to draw it on a <canvas>).

Examples:
```python
from distil_explorer.views.contract import CONTRACT, head_colour
CONTRACT["layout"]["row"]  # 18
head_colour(1)  # '#d62728'
```
"""

from __future__ import annotations

import json
from pathlib import Path

STATIC = Path(__file__).parent / "static"
CONTRACT = json.loads((STATIC / "contract.json").read_text())
LAYOUT = CONTRACT["layout"]
# The module's parts, in the order they are joined.
MODULE_PARTS = ("scene.js", "canvas.js")


def head_colour(head: int) -> str:
    """The colour head `head` is drawn in, everywhere (the palette, cycled).

    Examples:
    ```python
    head_colour(0)  # '#1f77b4'
    ```
    """
    palette = LAYOUT["palette"]
    return palette[head % len(palette)]


def contract_prelude() -> str:
    """`const CONTRACT = {...};`: the contract as the JS reads it."""
    return f"const CONTRACT = {json.dumps(CONTRACT)};\n"


def module_source() -> str:
    """The canvas's ES module: the contract, scene.js and canvas.js, in one text.

    Examples:
    ```python
    "export default" in module_source()  # True
    ```
    """
    parts = [(STATIC / name).read_text() for name in MODULE_PARTS]
    return contract_prelude() + "\n".join(parts)
