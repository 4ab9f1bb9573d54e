"""Long sequences: capture time and memory, and what goes to the browser.

    python benchmarks/long_sequence.py

Base uncased config (random weights), B=1, T=128 and T=512. Each length runs in
a fresh process so peak memory (ru_maxrss) is its own; the payload is what the
attention canvas sends: uint8 thumbnails for the model view (<= 64 x 64 per
map) and one float32 head, against sending every map as float32 or JSON.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

LENGTHS = (128, 512)


def measure(length: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import numpy as np

    import distil_explorer as de
    from distil_explorer.views.attention_widget import AttentionWidget

    backbone = de.DistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", load_weights=False
    )
    inputs = {
        "token_ids": np.arange(1000, 1000 + length, dtype="int32")[None],
        "padding_mask": np.ones((1, length), "int32"),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    de.capture(backbone, inputs)  # warm-up
    start = time.perf_counter()
    trace = de.capture(backbone, inputs)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    widget = AttentionWidget.from_trace(trace)
    widget_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    widget.layer, widget.head = 5, 11
    switch_ms = (time.perf_counter() - start) * 1e3
    return {
        "length": length,
        "capture_s": seconds,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - before) / 1024,
        "attention_mb": trace.attentions.nbytes / 1e6,
        "thumbnails_mb": len(widget.maps) / 1e6,
        "head_kb": len(widget.head_map) / 1e3,
        "float32_mb": trace.attentions.nbytes / 1e6,
        "json_mb": len(json.dumps(trace.attentions[:, 0].round(6).tolist())) / 1e6,
        "widget_ms": widget_ms,
        "switch_ms": switch_ms,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    print("base uncased, B=1, torch CPU; each length in its own process")
    print(
        f"{'T':>5} {'capture':>9} {'peak RSS':>9} {'attention':>10} "
        f"{'to browser':>11} {'as float32':>11} {'as JSON':>9} "
        f"{'widget':>8} {'switch':>8}"
    )
    for length in LENGTHS:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(length)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        sent = r["thumbnails_mb"] + r["head_kb"] / 1e3
        print(
            f"{r['length']:>5} {r['capture_s']:>8.2f}s {r['peak_mb']:>7.0f}MB "
            f"{r['attention_mb']:>8.1f}MB {sent:>9.2f}MB {r['float32_mb']:>9.1f}MB "
            f"{r['json_mb']:>7.1f}MB {r['widget_ms']:>6.0f}ms {r['switch_ms']:>6.1f}ms"
        )


if __name__ == "__main__":
    main()
