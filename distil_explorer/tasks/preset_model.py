"""Build whatever a preset holds: its task model when it names a head, else
its backbone (what the explorer's Build does with a directory or handle)."""

from __future__ import annotations

import os
from typing import Any

from distil_explorer.model.backbone import DistilBertBackbone
from distil_explorer.tasks.masked_lm import DistilBertMaskedLM
from distil_explorer.tasks.presets import load_task
from distil_explorer.tasks.text_classifier import DistilBertTextClassifier
from distil_explorer.weights.locate import preset_directory
from distil_explorer.weights.task_loading import held_head


def load_preset_model(
    preset: str | os.PathLike,
    load_weights: bool = True,
    progress=None,
    **kwargs: Any,
):
    """What a preset holds: its task model when it names a head, else its backbone.

    The head is named in a keras-hub preset's `task.json` or a transformers
    checkpoint's `config.json` `architectures` (`weights.task_loading.held_head`):
    a masked LM becomes a `DistilBertMaskedLM`, a sequence classifier a
    `DistilBertTextClassifier`; anything else builds as
    `DistilBertBackbone.from_preset`. `kwargs` (e.g. `dtype`) go to the backbone.

    Examples:
    ```python
    model = load_preset_model("./sst2_checkpoint")
    model.task_kind, model.backbone  # "classifier", its DistilBertBackbone
    ```
    """
    if progress is not None:
        progress(f"finding the files of {preset}", 0, 1)
    directory = preset_directory(preset, progress=progress)
    kind = held_head(directory)
    if kind is None:
        return DistilBertBackbone.from_preset(
            directory, load_weights=load_weights, progress=progress, **kwargs
        )
    cls = DistilBertMaskedLM if kind == "masked_lm" else DistilBertTextClassifier
    return load_task(cls, directory, load_weights, progress=progress, **kwargs)
