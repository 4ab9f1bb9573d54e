"""Resolve a preset, detect its format from its files, and build a backbone.

`DistilBertBackbone.from_preset` and `save_to_preset` delegate here, so the
model class stays free of file formats and hubs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distil_explorer.config import backbone_presets
from distil_explorer.weights import keras_hub_format, transformers_files
from distil_explorer.weights.assign import assign_weights
from distil_explorer.weights.locate import preset_directory
from distil_explorer.weights.transformers_format import (
    backbone_config,
    backbone_weights,
)


def detect_format(directory: Path) -> str:
    """ "keras_hub" or "transformers", from the files in `directory`."""
    if keras_hub_format.is_keras_hub_preset(directory):
        return "keras_hub"
    if transformers_files.is_transformers_checkpoint(directory):
        return "transformers"
    found = sorted(p.name for p in directory.iterdir())[:10]
    raise ValueError(
        f"preset directory={str(directory)!r}: no recognised config.json (found "
        f"{found}); allowed: a keras-hub preset (config.json with class_name, "
        "model.weights.h5) or a transformers checkpoint (config.json with "
        "model_type, model.safetensors)"
    )


def read_preset(directory: Path, load_weights: bool, allow_pickle: bool = False):
    """(constructor args, arrays by variable path or None) for a preset dir."""
    if detect_format(directory) == "keras_hub":
        config = keras_hub_format.read_config(directory)
        if not load_weights:
            return config, None
        return config, keras_hub_format.read_weights(directory, config["num_layers"])
    hf_config = transformers_files.read_config(directory)
    config = backbone_config(hf_config, source=str(directory / "config.json"))
    if not load_weights:
        return config, None
    state = transformers_files.read_state(directory, allow_pickle=allow_pickle)
    return config, backbone_weights(hf_config, state, source=str(directory))


# progress(step, done, total): `step` says what is happening, in words;
# `done` / `total` count that step's units (bytes while downloading and
# loading weights), 0 / 1 for a step that cannot be measured.
Progress = Callable[[str, int, int], None]


def say_step(progress: Progress | None, step: str) -> None:
    """A step that cannot be measured: reported as 0 of 1, just begun."""
    if progress is not None:
        progress(step, 0, 1)


def load_backbone(
    cls,
    preset: str | os.PathLike,
    load_weights: bool = True,
    allow_pickle: bool = False,
    progress: Progress | None = None,
    build_for_weights: Callable[..., Any] | None = None,
    **kwargs: Any,
):
    """Build `cls` from a preset; see `DistilBertBackbone.from_preset`.

    `progress(step, done, total)` is told each step: finding (or
    downloading) the files, reading them, building the model, loading the
    weights (bytes). None keeps today's tqdm bar for large weights.
    `build_for_weights(**config)` builds the model that loaded weights are
    written into (the model passes one that skips random initialization;
    this package never imports the model). None: `cls(**config)`.

    Examples:

    ```python
    steps = []
    load_backbone(DistilBertBackbone, "all_minilm_l6_v2_en",
                  progress=lambda step, done, total: steps.append(step))
    ```
    """
    name = str(preset)
    if name in backbone_presets and not load_weights:
        say_step(progress, f"building {name} with random weights")
        return cls(**{**backbone_presets[name]["config"], **kwargs})
    say_step(progress, f"finding the files of {name}")
    directory = preset_directory(preset, allow_pickle=allow_pickle, progress=progress)
    say_step(
        progress,
        f"reading {'weights' if load_weights else 'the config'} in {directory}",
    )
    config, arrays = read_preset(directory, load_weights, allow_pickle)
    config = {**config, **kwargs}
    say_step(progress, "building the model")
    if arrays is None:
        return cls(**config)
    backbone = (build_for_weights or cls)(**config)
    assign_weights(backbone, arrays, source=str(directory), progress=progress)
    return backbone


def save_backbone(backbone, directory: str | os.PathLike) -> Path:
    """Write `backbone` as a keras-hub preset; see `save_to_preset`.

    Atomic under every failure: see `keras_hub_format.save_preset`.
    """
    return keras_hub_format.save_preset(backbone, directory)
