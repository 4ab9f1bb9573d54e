"""Building what a `BuildRequest` names: the backbone (inside its task model
when the preset holds a head), quantized if asked, and its tokenizer (or one
sentence saying why there is none)."""

from __future__ import annotations

import time
from typing import Any

from distil_explorer.config import QUANTIZATIONS, backbone_presets
from distil_explorer.session.inputs import tokenizer_for
from distil_explorer.session.requests import BuildRequest, Progress


def build_model(
    request: BuildRequest, progress: Progress
) -> tuple[Any, Any, Any, str | None, tuple[tuple[str, float], ...]]:
    """(task model or None, backbone, tokenizer or None, why there is no
    tokenizer, timed steps).

    A directory or handle whose files name a head (`task.json`, or
    `architectures` in a transformers `config.json`) builds that task model
    (`tasks.preset_model.load_preset_model`); built-in names and custom configs
    are backbones.

    Examples:
    ```python
    task, backbone, tokenizer, problem, steps = build_model(
        BuildRequest("all_minilm_l6_v2_en"), lambda step, done, total: None
    )
    ```
    """
    from distil_explorer.model.backbone import DistilBertBackbone

    start = time.perf_counter()
    progress("building the backbone", 0, 2)
    quantize = request.precision if request.precision in QUANTIZATIONS else None
    dtype = "float32" if quantize else request.precision
    task = None
    if request.config is not None:
        backbone = DistilBertBackbone(**{**request.config, "dtype": dtype})
        tokenizer, problem = None, "a custom config has no vocabulary"
    else:
        if request.preset in backbone_presets:
            load = DistilBertBackbone.from_preset
        else:
            from distil_explorer.tasks.preset_model import load_preset_model as load
        model = load(
            request.preset,
            load_weights=request.load_weights,
            progress=progress,
            dtype=dtype,
        )
        task = None if isinstance(model, DistilBertBackbone) else model
        backbone = model if task is None else task.backbone
    if quantize:
        progress(f"quantizing to {quantize}", 1, 2)
        (backbone if task is None else task).quantize(quantize)  # and a head
    steps = [
        ("backbone" if task is None else "task model", time.perf_counter() - start)
    ]
    if request.preset is not None:
        progress("reading the tokenizer", 1, 2)
        tokenizer, problem = tokenizer_for(request.preset)
        steps.append(("tokenizer", time.perf_counter() - start - steps[0][1]))
    return task, backbone, tokenizer, problem, tuple(steps)
