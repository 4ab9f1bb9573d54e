"""Presets whose files ship inside an installed Python package.

The package is found without importing it (its `__init__` may import heavy
dependencies), and every file is checked against a pinned sha256, so a
tampered or partly installed wheel is refused rather than loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distil_explorer.errors import PackagedPresetError

# (path, inode, size, mtime) -> sha256: the backbone and the tokenizer of one
# preset check the same files, 90 MB (60 ms) for the offline preset; a file
# rewritten since has another stat and is hashed again.
_VERIFIED: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _VERIFIED[key] = digest.hexdigest()
    return _VERIFIED[key]


def packaged_directory(name: str, package: Mapping[str, Any]) -> Path:
    """The verified directory of preset `name`'s files inside its package.

    Examples:
    ```python
    packaged_directory("all_minilm_l6_v2_en", presets["all_minilm_l6_v2_en"]["package"])
    ```
    """
    spec = importlib.util.find_spec(package["module"])
    if spec is None or not spec.submodule_search_locations:
        raise PackagedPresetError(
            f"preset={name!r}: its weights come from the Python package "
            f"{package['distribution']!r}, which is not installed; install it "
            f"with `{package['install']}`"
        )
    directory = Path(next(iter(spec.submodule_search_locations))) / package["directory"]
    for file, expected in package["sha256"].items():
        path = directory / file
        if not path.is_file():
            raise PackagedPresetError(
                f"preset={name!r}: {path} is missing; reinstall with "
                f"`{package['install']} --force-reinstall`"
            )
        actual = _sha256(path)
        if actual != expected:
            raise PackagedPresetError(
                f"preset={name!r}: {path} has sha256 {actual}, expected {expected}; "
                f"the package is modified or damaged, reinstall with "
                f"`{package['install']} --force-reinstall`"
            )
    return directory
