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

from distil_explorer.weights.assign import WeightsMismatchError

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_FILE = "pytorch_model.bin"


def is_transformers_checkpoint(directory: Path) -> bool:
    """True when `directory` holds a transformers `config.json` (with model_type)."""
    try:
        return "model_type" in json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False


def read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path}: cannot read a transformers config ({error})"
        ) from None


def _safetensors_files(directory: Path) -> list[Path]:
    index = directory / SAFETENSORS_INDEX
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [directory / name for name in sorted(set(weight_map.values()))]
    return [directory / SAFETENSORS_FILE]


def read_state(directory: Path, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """The checkpoint's tensors as numpy arrays, by transformers name."""
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
        except (SafetensorError, OSError) as error:
            raise WeightsMismatchError(
                f"{path}: truncated or corrupted safetensors file ({error})"
            ) from None
    return state


def _read_pickle(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad pickle
        raise WeightsMismatchError(
            f"{path}: unreadable pickle checkpoint ({type(error).__name__}: {error})"
        ) from None
    return {k: v.float().numpy() for k, v in state.items()}
