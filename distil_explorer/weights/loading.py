"""Resolve a preset to a config and (optionally) weights, and build a backbone."""

from __future__ import annotations

import difflib
from typing import Any

from distil_explorer.model.presets import backbone_presets


def unknown_preset_error(preset: str) -> ValueError:
    names = sorted(backbone_presets)
    close = difflib.get_close_matches(preset, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"preset={preset!r}: unknown built-in preset.{hint} allowed: "
        + ", ".join(names)
        + ", a local directory, 'kaggle://owner/model/framework/variation', "
        "or 'hf://owner/repo'"
    )


def load_backbone(cls, preset: str, load_weights: bool = True, **kwargs: Any):
    """Build `cls` from a preset; see `DistilBertBackbone.from_preset`."""
    if preset not in backbone_presets:
        raise unknown_preset_error(preset)
    if load_weights:
        raise NotImplementedError(
            f"preset={preset!r}: loading weights lands with the weights issue; "
            "use load_weights=False for the architecture with random weights"
        )
    config = {**backbone_presets[preset]["config"], **kwargs}
    return cls(**config)
