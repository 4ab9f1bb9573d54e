"""keras-hub task presets: `task.json` + `task.weights.h5` next to a backbone.

keras-hub 0.32's `Task.save_to_preset` writes the backbone preset
(`keras_hub_format`) plus the task's config and only the head's weights,
in h5 groups named by Keras's saving walk over the task's own layers
(`layers/masked_lm_head/...`, `layers/dense`, `layers/dense_1`); every
group's `vars` carries the layer's real name, which is what we read by.
Class names, which keras-hub's classifier has no argument for, travel in
`metadata.json` ("class_names"), a file keras-hub reads only for versions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from distil_explorer._internal.atomic_write import (
    replace_directory,
    write_file,
)
from distil_explorer._internal.json_files import read_json, require_type
from distil_explorer.errors import FileFormatError, MissingHeadError, WeightsFileError
from distil_explorer.weights import keras_hub_format

TASK_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
_CLASSES = {"masked_lm": "DistilBertMaskedLM", "classifier": "DistilBertTextClassifier"}
_MODULES = {
    "masked_lm": "keras_hub.src.models.distil_bert.distil_bert_masked_lm",
    "classifier": "keras_hub.src.models.distil_bert.distil_bert_text_classifier",
}
_NAMES = {
    "masked_lm": "distil_bert_masked_lm",
    "classifier": "distil_bert_text_classifier",
}


def held_task(directory: Path) -> str | None:
    """The class name in `directory/task.json`, or None without one."""
    path = directory / TASK_FILE
    if not path.is_file():
        return None
    data = require_type(read_json(path, "a keras-hub task config"), dict, path, None)
    return str(data.get("class_name"))


def read_task_config(directory: Path, kind: str) -> dict[str, Any]:
    """Our task's constructor arguments (less the backbone) from task.json."""
    held = held_task(directory)
    if held != _CLASSES[kind]:
        holds = f"a {held} preset" if held else "a backbone-only preset (no task.json)"
        raise MissingHeadError(
            f"preset={str(directory)!r}: holds {holds}, not a {_CLASSES[kind]}; "
            "allowed: a task preset with that head"
            + (", or num_classes=N for a new head" if kind == "classifier" else "")
        )
    path = directory / TASK_FILE
    data = read_json(path, "a keras-hub task config")
    config = require_type(data.get("config"), dict, path, "config")
    names = _class_names(directory)
    if kind == "masked_lm":
        return {}
    args = {}
    for key, types in (("num_classes", int), ("hidden_dim", int)):
        args[key] = require_type(config.get(key), types, path, f"config.{key}")
    args["dropout"] = require_type(
        config.get("dropout", 0.2), (int, float), path, "config.dropout"
    )
    activation = require_type(
        config.get("activation"), (str, type(None)), path, "config.activation"
    )
    args["activation"] = None if activation in (None, "linear") else activation
    if names is not None:
        args["class_names"] = names
    return args


def _class_names(directory: Path) -> tuple[str, ...] | None:
    path = directory / keras_hub_format.METADATA_FILE
    if not path.is_file():
        return None
    data = require_type(read_json(path, "keras-hub metadata"), dict, path, None)
    names = data.get("class_names")
    if names is None:
        return None
    require_type(names, list, path, "class_names")
    return tuple(require_type(n, str, path, "class_names[]") for n in names)


def _groups(group: h5py.Group, found: dict) -> dict[str, h5py.Group]:
    for key in group:
        child = group[key]
        if not isinstance(child, h5py.Group):
            continue
        if "vars" in child:
            name = child["vars"].attrs.get("name", key)
            found[name.decode() if isinstance(name, bytes) else str(name)] = child
        _groups(child, found)
    return found


def _vars(groups: dict, name: str, count: int, where: str) -> list[np.ndarray]:
    if name not in groups or len(groups[name]["vars"]) != count:
        raise WeightsFileError(
            f"{where}: layer {name!r} with {count} variables is missing",
            path=where,
            field=name,
        )
    return [groups[name]["vars"][str(i)][()] for i in range(count)]


def read_task_weights(directory: Path, kind: str) -> dict[str, np.ndarray]:
    """Head arrays by `Task.head_weights` names, kernels as (out, in)."""
    path = directory / TASK_WEIGHTS_FILE
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: task weights file is missing")
    with (
        keras_hub_format.reading_h5(where, (FileFormatError,)),
        h5py.File(path, "r") as f,
    ):
        groups = _groups(f, {})
        if kind == "masked_lm":
            (bias,) = _vars(groups, "mlm_head", 1, where)
            kernel, dense_bias = _vars(groups, "intermediate_dense", 2, where)
            gamma, beta = _vars(groups, "intermediate_layer_norm", 2, where)
            return {
                "intermediate_dense/kernel": kernel.T,
                "intermediate_dense/bias": dense_bias,
                "intermediate_layer_norm/gamma": gamma,
                "intermediate_layer_norm/beta": beta,
                "output_bias": bias,
            }
        arrays = {}
        for name in ("pooled_dense", "logits"):
            kernel, bias = _vars(groups, name, 2, where)
            arrays[f"{name}/kernel"], arrays[f"{name}/bias"] = kernel.T, bias
        return arrays


def save_task_preset(task, directory: str | os.PathLike) -> Path:
    """Write `task` as a keras-hub task preset, atomically.

    Examples:
    ```python
    save_task_preset(classifier, "./my_classifier")
    ```
    """
    target = keras_hub_format.preset_target("preset_dir", directory)

    def write(staging: Path) -> None:
        keras_hub_format.write_preset_files(task.backbone, staging)
        write_task_files(task, staging)

    return replace_directory(target, write)


def write_task_files(task, directory: Path) -> None:
    """task.json and task.weights.h5 as keras-hub 0.32 writes them."""
    import keras

    kind = task.task_kind
    backbone = json.loads((directory / keras_hub_format.CONFIG_FILE).read_text())
    config: dict[str, Any] = {"backbone": backbone, "preprocessor": None}
    config["name"] = _NAMES[kind]
    if kind == "classifier":
        activation = keras.activations.serialize(task.activation)
        config.update(
            num_classes=task.num_classes,
            activation=activation,
            hidden_dim=task.hidden_dim,
            dropout=task.dropout,
        )
    data = {
        "module": _MODULES[kind],
        "class_name": _CLASSES[kind],
        "config": config,
        "registered_name": f"keras_hub>{_CLASSES[kind]}",
    }
    write_file(directory / TASK_FILE, json.dumps(data, indent=4))
    if getattr(task, "class_names", None) is not None:
        path = directory / keras_hub_format.METADATA_FILE
        metadata = json.loads(path.read_text())
        metadata["class_names"] = list(task.class_names)
        write_file(path, json.dumps(metadata, indent=4))
    values = {
        name: keras.ops.convert_to_numpy(variable.value)
        for name, variable in task.head_weights().items()
    }

    def weights(stream) -> None:
        with h5py.File(stream, "w") as f:
            _write_h5(f, kind, values)

    write_file(directory / TASK_WEIGHTS_FILE, weights)


def _write_vars(group: h5py.Group, name: str, arrays: list[np.ndarray]) -> None:
    target = group.create_group("vars")
    target.attrs["name"] = name
    for i, array in enumerate(arrays):
        target.create_dataset(str(i), data=array)


def _write_h5(f: h5py.File, kind: str, values: dict[str, np.ndarray]) -> None:
    f.create_group("vars").attrs["name"] = _NAMES[kind]
    layers = f.create_group("layers")
    if kind == "masked_lm":
        # The backbone's two inputs take input_layer and input_layer_1.
        _write_vars(layers.create_group("input_layer_2"), "mask_positions", [])
        head = layers.create_group("masked_lm_head")
        _write_vars(head, "mlm_head", [values["output_bias"]])
        dense = [
            values["intermediate_dense/kernel"].T,
            values["intermediate_dense/bias"],
        ]
        _write_vars(
            head.create_group("_intermediate_dense"), "intermediate_dense", dense
        )
        norm = [
            values["intermediate_layer_norm/gamma"],
            values["intermediate_layer_norm/beta"],
        ]
        _write_vars(
            head.create_group("_intermediate_layer_norm"),
            "intermediate_layer_norm",
            norm,
        )
        return
    for group, name in (("dense", "pooled_dense"), ("dense_1", "logits")):
        arrays = [values[f"{name}/kernel"].T, values[f"{name}/bias"]]
        _write_vars(layers.create_group(group), name, arrays)
    _write_vars(layers.create_group("dropout"), "output_dropout", [])
