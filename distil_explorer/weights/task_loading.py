"""Build a task model (backbone + head) from a preset; save one as a preset.

`Task.from_preset` and `Task.save_to_preset` delegate here. The backbone
half is `loading.read_preset`, the head half `keras_hub_tasks` or
`transformers_heads` by the preset's format.
"""

from __future__ import annotations

import contextlib
import os
import types
import warnings
from pathlib import Path
from typing import Any

from distil_explorer.errors import MissingHeadError
from distil_explorer.model.initialization import skip_initialization
from distil_explorer.weights import keras_hub_tasks, transformers_files
from distil_explorer.weights.assign import assign_weights
from distil_explorer.weights.loading import Progress, _say, detect_format, read_preset
from distil_explorer.weights.locate import preset_directory
from distil_explorer.weights.transformers_format import (
    backbone_config,
    backbone_weights,
)
from distil_explorer.weights.transformers_heads import head_arrays

KERAS_HUB_EPSILON = 1e-5


def read_task_preset(
    directory: Path, kind: str, load_weights: bool, allow_pickle: bool
) -> tuple[dict, dict | None, dict, dict | None]:
    """(backbone args, backbone arrays, task args, head arrays), arrays None
    when not `load_weights`. A checkpoint's tensors are read once for both."""
    if detect_format(directory) == "keras_hub":
        args = keras_hub_tasks.read_task_config(directory, kind)
        config, arrays = read_preset(directory, load_weights, allow_pickle)
        head = (
            keras_hub_tasks.read_task_weights(directory, kind) if load_weights else None
        )
        return config, arrays, args, head
    source = str(directory)
    hf_config = transformers_files.read_config(directory)
    config = backbone_config(hf_config, source=str(directory / "config.json"))
    # The head's arguments (classes, epsilon) need the tensors' names and
    # shapes even without weights.
    state = transformers_files.read_state(directory, allow_pickle=allow_pickle)
    args, head = head_arrays(kind, hf_config, state, source)
    if not load_weights:
        return config, None, args, None
    return config, backbone_weights(hf_config, state, source=source), args, head


def load_task(
    cls,
    preset: str | os.PathLike,
    load_weights: bool = True,
    allow_pickle: bool = False,
    progress: Progress | None = None,
    **kwargs: Any,
):
    """Build `cls` (a `Task`) from a preset; see `Task.from_preset`.

    A classifier given `num_classes` gets a new head on the preset's
    backbone, as keras-hub does; otherwise the head comes from the preset,
    and a preset without it is a `MissingHeadError` naming what it holds.

    Examples:
    ```python
    masked_lm = load_task(DistilBertMaskedLM, "hf://distilbert/distilbert-base-uncased")
    ```
    """
    from distil_explorer.model.backbone import DistilBertBackbone

    _say(progress, f"finding the files of {preset}")
    directory = preset_directory(preset, allow_pickle=allow_pickle, progress=progress)
    if cls.task_kind == "classifier" and "num_classes" in kwargs:
        config, arrays = read_preset(directory, load_weights, allow_pickle)
        args, head = {}, None
    else:
        config, arrays, args, head = read_task_preset(
            directory, cls.task_kind, load_weights, allow_pickle
        )
    backbone_kwargs = {"dtype": kwargs.pop("dtype")} if "dtype" in kwargs else {}
    _say(progress, "building the model")
    with skip_initialization() if arrays is not None else contextlib.nullcontext():
        backbone = DistilBertBackbone(**{**config, **backbone_kwargs})
    if arrays is not None:
        assign_weights(backbone, arrays, source=str(directory), progress=progress)
    with skip_initialization() if head is not None else contextlib.nullcontext():
        task = cls(backbone, **{**args, **kwargs})
    if head is not None:
        _assign_head(task, head, str(directory))
    return task


def _assign_head(task, arrays: dict, source: str) -> None:
    variables = task.head_weights()
    missing = sorted(set(variables) - set(arrays))
    if missing:
        raise MissingHeadError(
            f"preset={source}: the head lacks {missing}; allowed: a complete "
            f"{type(task).__name__} head"
        )
    # assign_weights checks names, shapes and values before it writes.
    holder = types.SimpleNamespace(
        weights=[_Named(name, variables[name]) for name in variables]
    )
    assign_weights(holder, arrays, source=f"{source} (head)")


class _Named:
    """A variable seen under its head name (assign_weights matches `.path`)."""

    def __init__(self, name: str, variable):
        self.path, self._variable = name, variable
        self.shape, self.dtype = variable.shape, variable.dtype

    def assign(self, value) -> None:
        self._variable.assign(value)


def save_task(task, preset_dir: str | os.PathLike) -> Path:
    """Write `task` as a keras-hub task preset; see `Task.save_to_preset`."""
    if task.quantization_modes:
        raise ValueError(
            f"preset_dir={str(preset_dir)!r}: this model is quantized "
            f"({', '.join(task.quantization_modes)}), and a keras-hub preset holds "
            "float weights; allowed: save the float model and quantize after "
            'loading, or model.save("task.keras")'
        )
    if task.task_kind == "classifier" and task.pooled_activation != "relu":
        raise ValueError(
            f"preset_dir={str(preset_dir)!r}: pooled_activation="
            f"{task.pooled_activation!r} (a BERT pooler) has no place in keras-hub's "
            'DistilBertTextClassifier; allowed: pooled_activation="relu", or '
            'model.save("task.keras")'
        )
    if task.task_kind == "masked_lm" and task.layer_norm_epsilon != KERAS_HUB_EPSILON:
        warnings.warn(
            f"layer_norm_epsilon={task.layer_norm_epsilon:g}: keras-hub's masked-LM "
            f"head always uses {KERAS_HUB_EPSILON:g}, so this preset loads with "
            "that epsilon (logits move by about epsilon / variance); "
            'model.save("task.keras") keeps it',
            stacklevel=3,
        )
    return keras_hub_tasks.save_task_preset(task, preset_dir)
