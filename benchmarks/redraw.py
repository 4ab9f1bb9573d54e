"""Server-side cost of the explorer's interactions, base config at T=128.

    python benchmarks/redraw.py

Targets (issue 5): a redraw after changing layer or head < 50 ms; building
the widget app < 1 s. Uses a Trace of the base uncased shape (6 layers x 12
heads, hidden 768) with random softmax attention, so no model is needed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from distil_explorer import Trace  # noqa: E402


def base_trace(length: int = 128, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(6, 1, 12, length, length)).astype("float32")
    attentions = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return Trace(
        hidden_states=rng.normal(size=(7, 1, length, 768)).astype("float32"),
        attentions=attentions,
        token_ids=rng.integers(1000, 2000, (1, length)),
        padding_mask=np.ones((1, length), "int32"),
        config={"num_layers": 6, "num_heads": 12, "hidden_dim": 768},
        backend="torch",
        device="cpu",
        tokens=[[f"tok{i}" for i in range(length)]],
    )


def median_ms(action, repeats: int = 20) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    start = time.perf_counter()
    from distil_explorer.views.explorer import TABS, Explorer

    imported = time.perf_counter()
    app = Explorer()
    built = time.perf_counter()
    trace = base_trace()
    panel = app.attention_panel
    show = median_ms(
        lambda i: panel.show(trace, (1000,), can_mask=True, can_restore=False),
        repeats=3,
    )
    layer = median_ms(lambda i: setattr(panel.canvas, "layer", i % 6))
    head = median_ms(lambda i: setattr(panel.canvas, "head", i % 12))
    style = median_ms(
        lambda i: setattr(panel.canvas, "draw_style", ("lines", "heatmap")[i % 2])
    )
    metric = median_ms(
        lambda i: setattr(panel.metric, "value", list(panel.metric.options)[i % 5])
    )
    # The Hidden states figures are drawn only while their tab is on screen.
    app.tabs.selected_index = TABS.index("Hidden states")
    hidden = median_ms(lambda i: app.hidden_panel.show(trace), repeats=1)
    pca = median_ms(lambda i: setattr(app.hidden_panel.layer, "value", 1 + i % 6), 5)
    print("explorer, server side, base config (6 x 12 heads), T=128")
    print(f"  import the app module        {1e3 * (imported - start):8.0f} ms (once)")
    print(
        f"  build Explorer()             {1e3 * (built - imported):8.1f} ms"
        "  target < 1000"
    )
    print(f"  show a new Trace (attention) {show:8.1f} ms")
    print(f"  change layer                 {layer:8.2f} ms  target < 50")
    print(f"  change head                  {head:8.2f} ms  target < 50")
    print(f"  lines <-> heatmap            {style:8.2f} ms")
    print(f"  change summary metric        {metric:8.2f} ms")
    print(f"  show a new Trace (hidden tab) {hidden:8.0f} ms (matplotlib, 3 figures)")
    print(f"  PCA layer slider (matplotlib){pca:8.1f} ms")
    print(
        f"  canvas payload: maps {len(panel.canvas.maps) / 1e6:.2f} MB uint8, "
        f"thumbnails {len(panel.canvas.small) / 1e3:.0f} kB uint8 (sent once per Trace)"
    )


if __name__ == "__main__":
    main()
