"""Long sequences: capture time and memory, and what goes to the browser.

    python benchmarks/long_sequence.py

Base uncased config (random weights), B=1, T=128 and T=512, three captures:
every map, `layers=[-1]` (the last layer's 12 heads) and `layers=[-1],
heads=[0]` (one map). Each (T, selection) is timed in one fresh process and
its memory measured in another (see `LIVE_RSS`). The reference, measured in
the same process (interleaved with the capture for time), is the plain call
`backbone(inputs)`, which keeps no maps: "ratio" is capture / plain call
time; "peak" is how far resident memory rises during one call (the least of
3), for the capture and, in brackets, for the plain call.
The payload is what the attention canvas sends for the model view: uint8
thumbnails (<= 64 x 64 per map) and one float32 head, against every map as
float32 bytes or as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved_medians  # noqa: E402

LENGTHS = (128, 512)
SELECTIONS = {
    "every map": {},
    "layers=[-1]": {"layers": [-1]},
    "layers=[-1], heads=[0]": {"layers": [-1], "heads": [0]},
}


def _status_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def _peak_mb(function) -> float:
    """How far resident memory rises above its level while `function` runs, MB.

    Linux only: writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to
    the current size. The parent starts this process with `LIVE_RSS`.
    """
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mb("VmRSS")
    function()
    return _status_mb("VmHWM") - before


def measure(length: int, selection: str, what: str) -> dict:
    """`what`: "memory" (run with a low mmap threshold) or "time" (run without)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import numpy as np

    import distil_explorer as de
    from distil_explorer.views.attention_widget import AttentionWidget
    from distil_explorer.views.payload import BYTE_FIELDS, payload_bytes

    backbone = de.DistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", load_weights=False
    )
    inputs = {
        "token_ids": np.arange(1000, 1000 + length, dtype="int32")[None],
        "padding_mask": np.ones((1, length), "int32"),
    }
    options = SELECTIONS[selection]
    for _ in range(2):
        backbone(inputs)
        de.capture(backbone, inputs, **options)
    if what == "memory":
        return {
            "plain_mb": min(_peak_mb(lambda: backbone(inputs)) for _ in range(3)),
            "capture_mb": min(
                _peak_mb(lambda: de.capture(backbone, inputs, **options))
                for _ in range(3)
            ),
        }
    medians = interleaved_medians(
        {
            "plain": lambda: backbone(inputs),
            "capture": lambda: de.capture(backbone, inputs, **options),
        },
        rounds=9,
        warmup=1,
    )
    trace = de.capture(backbone, inputs, **options)
    start = time.perf_counter()
    widget = AttentionWidget.from_trace(trace, mode="model")
    widget_ms = (time.perf_counter() - start) * 1e3
    result = {
        "capture_s": medians["capture"],
        "plain_s": medians["plain"],
        "attention_mb": trace.attentions.nbytes / 1e6,
        "sent_mb": payload_bytes({k: getattr(widget, k) for k in BYTE_FIELDS}) / 1e6,
        "widget_ms": widget_ms,
    }
    if not options:
        start = time.perf_counter()
        widget.layer, widget.head = 5, 11
        result["switch_ms"] = (time.perf_counter() - start) * 1e3
        result["json_mb"] = (
            len(json.dumps(trace.attentions[:, 0].round(6).tolist())) / 1e6
        )
    return result


# Freed arrays leave RSS at once, so RSS before a call is what is alive. It
# also makes every large allocation fault its pages in afresh: times are
# taken in another process without it.
LIVE_RSS = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def _run(length: int, selection: str, what: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(length), selection, what],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]), sys.argv[3], sys.argv[4])))
        return
    print("base uncased, B=1, torch CPU; times and memory each in a fresh process;")
    print("against the plain call (no maps) in the same process\n")
    print(
        f"{'T':>4}  {'capture':<23}{'time':>8}{'ratio':>7}{'peak (plain)':>16}"
        f"{'maps held':>11}{'to browser':>12}{'widget':>8}"
    )
    full = {}
    for length in LENGTHS:
        for selection in SELECTIONS:
            r = _run(length, selection, "time", {})
            r.update(_run(length, selection, "memory", LIVE_RSS))
            full.setdefault(length, r)
            print(
                f"{length:>4}  {selection:<23}{r['capture_s'] * 1e3:>6.0f}ms"
                f"{r['capture_s'] / r['plain_s']:>6.2f}x"
                f"{max(0.0, r['capture_mb']):>7.0f}MB "
                f"({max(0.0, r['plain_mb']):>4.0f}MB)"
                f"{r['attention_mb']:>9.1f}MB{r['sent_mb']:>10.2f}MB"
                f"{r['widget_ms']:>6.0f}ms"
            )
    print("\nevery map sent another way (model view, sequence 0):")
    for length, r in full.items():
        print(
            f"  T={length}: float32 bytes {r['attention_mb']:.1f} MB, JSON "
            f"{r['json_mb']:.1f} MB; the widget sends {r['sent_mb']:.2f} MB; "
            f"layer/head switch {r['switch_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
