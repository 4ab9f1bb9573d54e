"""Read a Hugging Face transformers checkpoint directory into numpy arrays.

Only safetensors are read by default; a pickle checkpoint
(`pytorch_model.bin`) can run code when unpickled, so it needs an explicit
`allow_pickle=True` and is then read with torch's `weights_only=True`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer._internal.json_files import read_json, require_type
from distil_explorer.errors import FileFormatError, WeightsFileError

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_FILE = "pytorch_model.bin"


def is_transformers_checkpoint(directory: Path) -> bool:
    """True when `directory` holds a transformers `config.json` (with model_type).

    A config.json that is not a JSON object next to transformers weights
    counts too, so that `read_config` names what is wrong with it.
    """
    path = directory / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict):
        return "model_type" in data
    weights = (SAFETENSORS_FILE, SAFETENSORS_INDEX, PICKLE_FILE)
    return path.is_file() and any((directory / w).is_file() for w in weights)


def read_config(directory: Path) -> dict[str, Any]:
    """The parsed `config.json`: a JSON object, or a FileFormatError naming it."""
    path = directory / CONFIG_FILE
    return require_type(read_json(path, "a transformers config"), dict, path, None)


def _safetensors_files(directory: Path) -> list[Path]:
    index = directory / SAFETENSORS_INDEX
    if not index.is_file():
        return [directory / SAFETENSORS_FILE]
    data = require_type(read_json(index, "a safetensors index"), dict, index, None)
    weight_map = require_type(data.get("weight_map"), dict, index, "weight_map")
    names = set()
    for tensor, name in weight_map.items():
        require_type(name, str, index, f"weight_map.{tensor}")
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise FileFormatError(
                f"{index}: weight_map.{tensor}={name!r}: allowed: a .safetensors "
                "file name in the same directory",
                path=str(index),
                field=f"weight_map.{tensor}",
            )
        names.add(name)
    return [directory / name for name in sorted(names)]


def read_state(directory: Path, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """The checkpoint's tensors as numpy arrays, by transformers name.

    Examples:
    ```python
    state = read_state(Path("~/models/distilbert-base-uncased").expanduser())
    ```
    """
    if not isinstance(allow_pickle, bool):
        raise ValueError(
            f"allow_pickle={allow_pickle!r}: not a bool; allowed: True, False"
        )
    files = _safetensors_files(directory)
    if all(f.is_file() for f in files):
        return _read_safetensors(files)
    if (directory / PICKLE_FILE).is_file():
        if not allow_pickle:
            raise ValueError(
                f"{directory / PICKLE_FILE}: a pickle checkpoint can run code when "
                "loaded and is not read by default; allowed: model.safetensors, or "
                "pass allow_pickle=True if you trust this file"
            )
        return _read_pickle(directory / PICKLE_FILE)
    missing = [f.name for f in files if not f.is_file()]
    raise FileNotFoundError(
        f"{directory}: no weights file ({', '.join(missing)} missing); allowed: "
        f"{SAFETENSORS_FILE} (or a sharded {SAFETENSORS_INDEX}), or {PICKLE_FILE} "
        "with allow_pickle=True"
    )


def _read_safetensors(files: list[Path]) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    state: dict[str, np.ndarray] = {}
    for path in files:
        try:
            state.update(load_file(path))
        except (SafetensorError, Exception) as error:  # the Rust reader and numpy
            raise WeightsFileError(
                f"{path}: truncated or corrupted safetensors file ({error})",
                path=str(path),
            ) from None
    return state


def _read_pickle(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {str(k): v.float().numpy() for k, v in state.items()}
    except Exception as error:  # torch raises many types for a bad pickle
        raise WeightsFileError(
            f"{path}: unreadable pickle checkpoint ({type(error).__name__}: {error})",
            path=str(path),
        ) from None
