"""Building what a `BuildRequest` names: the backbone, quantized if asked, and
its tokenizer (or one sentence saying why there is none)."""

from __future__ import annotations

import time
from typing import Any

from distil_explorer.config import QUANTIZATIONS
from distil_explorer.session.inputs import tokenizer_for
from distil_explorer.session.requests import BuildRequest, Progress


def build_model(
    request: BuildRequest, progress: Progress
) -> tuple[Any, Any, str | None, tuple[tuple[str, float], ...]]:
    """(backbone, tokenizer or None, why there is no tokenizer, timed steps).

    Examples:
    ```python
    backbone, tokenizer, problem, steps = build_model(
        BuildRequest("all_minilm_l6_v2_en"), lambda step, done, total: None
    )
    ```
    """
    from distil_explorer.model.backbone import DistilBertBackbone

    start = time.perf_counter()
    progress("building the backbone", 0, 2)
    quantize = request.precision if request.precision in QUANTIZATIONS else None
    dtype = "float32" if quantize else request.precision
    if request.config is not None:
        backbone = DistilBertBackbone(**{**request.config, "dtype": dtype})
        tokenizer, problem = None, "a custom config has no vocabulary"
    else:
        backbone = DistilBertBackbone.from_preset(
            request.preset,
            load_weights=request.load_weights,
            progress=progress,
            dtype=dtype,
        )
    if quantize:
        progress(f"quantizing to {quantize}", 1, 2)
        backbone.quantize(quantize)
    steps = [("backbone", time.perf_counter() - start)]
    if request.preset is not None:
        progress("reading the tokenizer", 1, 2)
        tokenizer, problem = tokenizer_for(request.preset)
        steps.append(("tokenizer", time.perf_counter() - start - steps[0][1]))
    return backbone, tokenizer, problem, tuple(steps)
