"""Build a task model (backbone + head) from a preset's files.

`Task.from_preset` delegates here. Reading the files is `weights/`' job
(`task_loading.read_task_files`), which never imports the model; building
the backbone and the task and assigning their weights happens here.
"""

from __future__ import annotations

import os
import types
from typing import Any

from distil_explorer.errors import MissingHeadError
from distil_explorer.model.backbone import DistilBertBackbone
from distil_explorer.model.initialization import skip_initialization
from distil_explorer.weights.assign import assign_weights
from distil_explorer.weights.loading import say_step
from distil_explorer.weights.locate import preset_directory
from distil_explorer.weights.task_loading import read_task_files


def load_task(
    cls,
    preset: str | os.PathLike,
    load_weights: bool = True,
    allow_pickle: bool = False,
    progress=None,
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
    say_step(progress, f"finding the files of {preset}")
    directory = preset_directory(preset, allow_pickle=allow_pickle, progress=progress)
    fresh_head = cls.task_kind == "classifier" and "num_classes" in kwargs
    say_step(progress, f"reading {directory}")
    files = read_task_files(
        directory, cls.task_kind, load_weights, allow_pickle, head=not fresh_head
    )
    backbone_kwargs = {"dtype": kwargs.pop("dtype")} if "dtype" in kwargs else {}
    say_step(progress, "building the model")
    config = {**files.backbone_config, **backbone_kwargs}
    if files.backbone_arrays is None:
        backbone = DistilBertBackbone(**config)
    else:
        with skip_initialization():  # loaded weights overwrite them
            backbone = DistilBertBackbone(**config)
        source = str(directory)
        assign_weights(
            backbone, files.backbone_arrays, source=source, progress=progress
        )
    task = cls(backbone, **{**files.task_args, **kwargs})
    if files.head_arrays is not None:
        _assign_head(task, files.head_arrays, str(directory))
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
