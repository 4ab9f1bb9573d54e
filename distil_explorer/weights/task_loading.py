"""Read a task preset's files (backbone + head); save a task as a preset.

`Task.from_preset` builds the model from what `read_task_files` returns
(`tasks/presets.py`); `Task.save_to_preset` delegates to `save_task`. The
backbone half is `loading.read_preset`, the head half `keras_hub_tasks` or
`transformers_heads` by the preset's format. Like the rest of `weights/`,
this never imports the model.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer.weights import keras_hub_tasks, transformers_files
from distil_explorer.weights.loading import detect_format, read_preset
from distil_explorer.weights.transformers_format import (
    backbone_config,
    backbone_weights,
)
from distil_explorer.weights.transformers_heads import head_arrays

KERAS_HUB_EPSILON = 1e-5
# A head's kind by how its class names end: keras-hub's task classes
# (DistilBertMaskedLM, BertTextClassifier) and transformers' architectures
# (DistilBertForMaskedLM, BertForSequenceClassification).
_HEAD_SUFFIXES = (
    ("ForMaskedLM", "masked_lm"),
    ("ForSequenceClassification", "classifier"),
    ("MaskedLM", "masked_lm"),
    ("TextClassifier", "classifier"),
)


@dataclasses.dataclass(frozen=True)
class TaskFiles:
    """What a task preset holds: constructor arguments and arrays by name.

    The arrays are None when weights were not asked for; `head_arrays` and
    `task_args` are empty/None when the head was not asked for.
    """

    backbone_config: dict[str, Any]
    backbone_arrays: dict[str, np.ndarray] | None
    task_args: dict[str, Any]
    head_arrays: dict[str, np.ndarray] | None


def held_head(directory: Path) -> str | None:
    """The kind of head a preset directory names: "masked_lm", "classifier" or None.

    A keras-hub preset names it in `task.json` (`class_name`) next to its
    `task.weights.h5` (keras-hub 0.32 loads a task.json without that file
    with a random head: no trained head, so a backbone here), a transformers
    checkpoint in `config.json` (`architectures`); a backbone-only preset (or
    an encoder checkpoint such as `DistilBertModel`) names none. Only the
    name is read: `read_task_files` finds out whether the head's tensors are
    there.

    Examples:
    ```python
    held_head(Path("./sst2_checkpoint"))  # "classifier"
    held_head(Path("./my_backbone"))  # None
    ```
    """
    if detect_format(directory) == "keras_hub":
        if not (directory / keras_hub_tasks.TASK_WEIGHTS_FILE).is_file():
            return None
        names = [keras_hub_tasks.held_task(directory) or ""]
    else:
        names = transformers_files.read_config(directory).get("architectures") or []
    for name in names:
        for suffix, kind in _HEAD_SUFFIXES:
            if isinstance(name, str) and name.endswith(suffix):
                return kind
    return None


def read_task_files(
    directory: Path,
    kind: str,
    load_weights: bool = True,
    allow_pickle: bool = False,
    head: bool = True,
) -> TaskFiles:
    """The backbone and (with `head`) the `kind` head of a preset directory.

    A transformers checkpoint's tensors are read once for both halves.

    Examples:
    ```python
    files = read_task_files(Path("./sst2_checkpoint"), "classifier")
    files.task_args["class_names"]  # ("NEGATIVE", "POSITIVE")
    ```
    """
    if not head:
        config, arrays = read_preset(directory, load_weights, allow_pickle)
        return TaskFiles(config, arrays, {}, None)
    if detect_format(directory) == "keras_hub":
        args = keras_hub_tasks.read_task_config(directory, kind)
        config, arrays = read_preset(directory, load_weights, allow_pickle)
        weights = keras_hub_tasks.read_task_weights(directory, kind)
        return TaskFiles(config, arrays, args, weights if load_weights else None)
    source = str(directory)
    hf_config = transformers_files.read_config(directory)
    config = backbone_config(hf_config, source=str(directory / "config.json"))
    # The head's arguments (classes, epsilon) need the tensors' names and
    # shapes even without weights.
    state = transformers_files.read_state(directory, allow_pickle=allow_pickle)
    args, weights = head_arrays(kind, hf_config, state, source)
    if not load_weights:
        return TaskFiles(config, None, args, None)
    arrays = backbone_weights(hf_config, state, source=source)
    return TaskFiles(config, arrays, args, weights)


def save_task(task, preset_dir: str | os.PathLike) -> Path:
    """Write `task` as a keras-hub task preset; see `Task.save_to_preset`.

    Examples:
    ```python
    save_task(classifier, "./my_classifier")
    ```
    """
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
