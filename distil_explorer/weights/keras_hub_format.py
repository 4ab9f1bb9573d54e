"""keras-hub preset directories: read them into our backbone, write them back.

A keras-hub DistilBERT preset is `config.json` + `model.weights.h5` (+
`metadata.json` and tokenizer files). The h5 groups are named after layer
classes in graph order (`transformer_encoder`, `transformer_encoder_1`, ...),
and every group's `vars` carries the layer's real name as an attribute; we
find layers by those names, not by group order. keras-hub's attention
kernels are EinsumDense (hidden, heads, head_dim); ours are (out, in).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from distil_explorer._internal.atomic_write import (
    checked_path,
    replace_directory,
    write_file,
)
from distil_explorer._internal.json_files import read_json, require_type
from distil_explorer.config import CONFIG_FIELDS
from distil_explorer.errors import FileFormatError, WeightsFileError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
# What keras-hub 0.32's save_to_preset lists for a DistilBertBackbone: the
# base names of its task classes (DistilBertMaskedLM, DistilBertTextClassifier),
# sorted. Kaggle and keras-hub read it to say which tasks a preset can load as.
KERAS_HUB_TASKS = ("MaskedLM", "TextClassifier")
_CLASS = "DistilBertBackbone"
_MODULE = "keras_hub.src.models.distil_bert.distil_bert_backbone"
_ARGS = tuple(f for f in CONFIG_FIELDS if f != "dtype")  # what keras-hub saves
# keras-hub attribute name in a transformer_encoder group -> ours.
_ENCODER_PARTS = {
    "_self_attention_layer/query_dense": "query",
    "_self_attention_layer/key_dense": "key",
    "_self_attention_layer/value_dense": "value",
    "_self_attention_layer/output_dense": "attention_output",
    "_self_attention_layer_norm": "attention_layer_norm",
    "_feedforward_intermediate_dense": "ffn_intermediate",
    "_feedforward_output_dense": "ffn_output",
    "_feedforward_layer_norm": "ffn_layer_norm",
}
_NORM_PARTS = ("attention_layer_norm", "ffn_layer_norm")


def is_keras_hub_preset(directory: Path) -> bool:
    """True when `directory` holds a keras-hub `config.json`.

    A config.json that is not a JSON object next to `model.weights.h5`
    counts too, so that `read_config` names what is wrong with it.
    """
    config = directory / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict):
        return "class_name" in data
    return (directory / WEIGHTS_FILE).is_file()


# Our constructor argument -> the JSON types its value may have.
_TYPES = {
    "vocabulary_size": int,
    "num_layers": int,
    "num_heads": int,
    "hidden_dim": int,
    "intermediate_dim": int,
    "dropout": (int, float),
    "max_sequence_length": int,
}


def read_config(directory: Path) -> dict[str, Any]:
    """Our constructor arguments from a keras-hub `config.json`.

    Raises `FileFormatError` naming the file and the field for anything
    that is not a full DistilBertBackbone config of the right types.

    Examples:
    ```python
    read_config(Path("tests/fixtures/keras_hub_tiny/preset"))["num_layers"]  # 2
    ```
    """
    path = directory / CONFIG_FILE
    data = require_type(read_json(path, "a keras-hub config"), dict, path, None)
    if data.get("class_name") != _CLASS:
        raise FileFormatError(
            f"{path}: class_name={data.get('class_name')!r} is another architecture; "
            f"allowed: {_CLASS}",
            path=str(path),
            field="class_name",
        )
    config = require_type(data.get("config"), dict, path, "config")
    missing = [k for k in _ARGS if k not in config]
    if missing:
        raise FileFormatError(
            f"{path}: config lacks {missing}; allowed: a full {_CLASS} config",
            path=str(path),
            field=f"config.{missing[0]}",
        )
    args = {k: require_type(config[k], _TYPES[k], path, f"config.{k}") for k in _ARGS}
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        inner = require_type(dtype.get("config", {}), dict, path, "config.dtype.config")
        args["dtype"] = require_type(
            inner.get("name"), (str, type(None)), path, "config.dtype.config.name"
        )
    elif isinstance(dtype, str):
        args["dtype"] = dtype
    elif dtype is not None:
        require_type(dtype, (dict, str), path, "config.dtype")
    return checked_args(args, path)


def checked_args(args: dict[str, Any], path: Path) -> dict[str, Any]:
    """`args` if `check_config` takes them, else a FileFormatError naming `path`."""
    from distil_explorer.config import check_config

    try:
        check_config(**{"dtype": None, **args})
    except ValueError as error:
        field = str(error).split("=")[0].split(" ")[0]
        raise FileFormatError(
            f"{path}: {error}", path=str(path), field=field or None
        ) from None
    return args


def _vars(group: h5py.Group, count: int, where: str) -> list[np.ndarray]:
    if "vars" not in group or len(group["vars"]) != count:
        raise WeightsFileError(
            f"{where}: expected {count} variables under {group.name}/vars",
            path=where,
            field=f"{group.name}/vars",
        )
    return [group["vars"][str(i)][()] for i in range(count)]


def _named_groups(root: h5py.Group) -> dict[str, h5py.Group]:
    groups = {}
    for key in root:
        group = root[key]
        if isinstance(group, h5py.Group) and "vars" in group:
            name = group["vars"].attrs.get("name", key)
            groups[name.decode() if isinstance(name, bytes) else str(name)] = group
    return groups


def read_weights(directory: Path, num_layers: int) -> dict[str, np.ndarray]:
    """Our variable paths -> arrays, from a keras-hub `model.weights.h5`.

    Examples:
    ```python
    arrays = read_weights(Path("my_preset"), num_layers=6)
    ```
    """
    path = directory / WEIGHTS_FILE
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: weights file is missing")
    with reading_h5(where), h5py.File(path, "r") as f:
        return _read_h5(f, num_layers, where)


@contextlib.contextmanager
def reading_h5(
    where: str, ours: tuple[type[Exception], ...] = (WeightsFileError,)
) -> Iterator[None]:
    """Any error reading the h5 file at `where` as one `WeightsFileError`,
    except `ours` (errors that already name what is wrong)."""
    try:
        yield
    except ours:
        raise
    except Exception as error:  # h5py raises OSError, KeyError, TypeError...
        raise WeightsFileError(
            f"{where}: truncated or corrupted weights file "
            f"({type(error).__name__}: {str(error)[:200]})",
            path=where,
        ) from None


def _read_h5(f: h5py.File, num_layers: int, where: str) -> dict[str, np.ndarray]:
    layers = _named_groups(f["layers"])
    embedding = f["layers/token_and_position_embedding"]
    (tokens,) = _vars(embedding["token_embedding"], 1, where)
    (positions,) = _vars(embedding["position_embedding"], 1, where)
    gamma, beta = _vars(layers["embeddings_layer_norm"], 2, where)
    arrays = {
        "embeddings/token_embedding/embeddings": tokens,
        "embeddings/position_embedding/embeddings": positions,
        "embeddings/layer_norm/gamma": gamma,
        "embeddings/layer_norm/beta": beta,
    }
    for i in range(num_layers):
        name = f"transformer_layer_{i}"
        if name not in layers:
            raise WeightsFileError(
                f"{where}: layer {name!r} is missing", path=where, field=name
            )
        for theirs, ours in _ENCODER_PARTS.items():
            a, b = _vars(layers[name][theirs], 2, where)
            prefix = f"{name}/{ours}"
            if ours in _NORM_PARTS:
                arrays[f"{prefix}/gamma"], arrays[f"{prefix}/beta"] = a, b
            else:
                arrays[f"{prefix}/kernel"] = _to_out_in(a, ours)
                arrays[f"{prefix}/bias"] = b.reshape(-1)
    return arrays


def _to_out_in(kernel: np.ndarray, part: str) -> np.ndarray:
    # EinsumDense query/key/value: (hidden, heads, head_dim); output:
    # (heads, head_dim, hidden); Dense: (in, out). Ours: (out, in).
    if part == "attention_output":
        return kernel.reshape(-1, kernel.shape[-1]).T
    return kernel.reshape(kernel.shape[0], -1).T


def _from_out_in(kernel: np.ndarray, part: str, heads: int) -> np.ndarray:
    inverse = kernel.T
    if part in ("query", "key", "value"):
        return inverse.reshape(inverse.shape[0], heads, -1)
    if part == "attention_output":
        return inverse.reshape(heads, -1, inverse.shape[-1])
    return inverse


def _write_vars(group: h5py.Group, name: str, arrays: list[np.ndarray]) -> None:
    target = group.create_group("vars")
    target.attrs["name"] = name
    for i, array in enumerate(arrays):
        target.create_dataset(str(i), data=array)


def save_preset(backbone, directory: str | os.PathLike) -> Path:
    """Write `backbone` as a keras-hub preset, atomically; see `save_to_preset`.

    The preset is rebuilt in a sibling folder (keeping files we do not
    write: tokenizer, assets) and swapped into place, so whatever fails the
    directory is the old preset intact or the new one complete.

    Examples:
    ```python
    save_preset(backbone, "./my_preset")
    ```
    """
    target = preset_target("directory", directory)
    return replace_directory(
        target, lambda staging: write_preset_files(backbone, staging)
    )


def preset_target(name: str, directory: str | os.PathLike) -> Path:
    """`directory` resolved, if a preset may be written there: new, empty, or
    a keras-hub preset to overwrite (never a folder of other files)."""
    target = checked_path(name, directory).resolve()
    occupied = target.is_dir() and any(target.iterdir())
    if (target.exists() and not target.is_dir()) or (
        occupied and not is_keras_hub_preset(target)
    ):
        raise ValueError(
            f"{name}={str(directory)!r}: exists and is not a preset; allowed: "
            "a new or empty directory, or an existing preset to overwrite"
        )
    return target


def write_preset_files(backbone, directory: Path) -> None:
    """Write config.json, metadata.json and model.weights.h5 into `directory`.

    The h5 layout is the one keras-hub 0.32's `save_to_preset` writes, so
    `keras_hub.models.DistilBertBackbone.from_preset(directory)` loads it.
    Each file is written whole under a new name and renamed into place.
    """
    import keras

    config = {
        "module": _MODULE,
        "class_name": _CLASS,
        "config": {
            "name": "distil_bert_backbone",
            "trainable": True,
            "dtype": keras.dtype_policies.serialize(backbone.dtype_policy),
            **{k: getattr(backbone, k) for k in _ARGS},
        },
        "registered_name": f"keras_hub>{_CLASS}",
    }
    metadata = {
        "keras_version": keras.__version__,
        "keras_hub_version": "0.32.0",
        "parameter_count": backbone.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": list(KERAS_HUB_TASKS),
        "saved_by": "distil-explorer",
    }
    write_file(directory / CONFIG_FILE, json.dumps(config, indent=4))
    write_file(directory / METADATA_FILE, json.dumps(metadata, indent=4))
    values = {v.path: keras.ops.convert_to_numpy(v.value) for v in backbone.weights}

    def weights(stream) -> None:
        with h5py.File(stream, "w") as f:
            _write_h5(f, values, backbone.num_layers, backbone.num_heads)

    write_file(directory / WEIGHTS_FILE, weights)


def _write_h5(f: h5py.File, values: dict, num_layers: int, heads: int) -> None:
    f.create_group("vars").attrs["name"] = "distil_bert_backbone"
    layers = f.create_group("layers")
    for group, name in (
        ("input_layer", "token_ids"),
        ("input_layer_1", "padding_mask"),
        ("dropout", "embeddings_dropout"),
    ):
        _write_vars(layers.create_group(group), name, [])
    embedding = layers.create_group("token_and_position_embedding")
    _write_vars(embedding, "token_and_position_embedding", [])
    for part in ("token_embedding", "position_embedding"):
        array = values[f"embeddings/{part}/embeddings"]
        _write_vars(embedding.create_group(part), part, [array])
    norm = [values["embeddings/layer_norm/gamma"], values["embeddings/layer_norm/beta"]]
    _write_vars(
        layers.create_group("layer_normalization"), "embeddings_layer_norm", norm
    )
    for i in range(num_layers):
        group = layers.create_group("transformer_encoder" + (f"_{i}" if i else ""))
        _write_vars(group, f"transformer_layer_{i}", [])
        attention = group.create_group("_self_attention_layer")
        _write_vars(attention, "self_attention_layer", [])
        suffix = f"_{i}" if i else ""
        _write_vars(attention.create_group("_dropout_layer"), f"dropout{suffix}", [])
        _write_vars(attention.create_group("_softmax"), f"softmax{suffix}", [])
        for part in ("_self_attention_dropout", "_feedforward_dropout"):
            _write_vars(group.create_group(part), part.lstrip("_"), [])
        for theirs, ours in _ENCODER_PARTS.items():
            prefix = f"transformer_layer_{i}/{ours}"
            if ours in _NORM_PARTS:
                arrays = [values[f"{prefix}/gamma"], values[f"{prefix}/beta"]]
            else:
                bias = values[f"{prefix}/bias"]
                if ours in ("query", "key", "value"):
                    bias = bias.reshape(heads, -1)
                arrays = [_from_out_in(values[f"{prefix}/kernel"], ours, heads), bias]
            leaf = theirs.split("/")[-1]
            name = {
                "query_dense": "query",
                "key_dense": "key",
                "value_dense": "value",
                "output_dense": "attention_output",
            }.get(leaf, leaf.lstrip("_"))
            _write_vars(group.require_group(theirs), name, arrays)
