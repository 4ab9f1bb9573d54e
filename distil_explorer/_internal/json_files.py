"""Read the JSON files of presets and checkpoints, naming file and field on any problem.

config.json, metadata.json, safetensors indexes, tokenizer.json and
tokenizer_config.json are all read here: a file that is not UTF-8, not JSON,
or JSON of the wrong type (`null`, a list where an object belongs, a string
where an int belongs) is a `FileFormatError` with `.path` and `.field`, never
a bare `JSONDecodeError`, `KeyError` or `TypeError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distil_explorer.errors import FileFormatError

_NAMES = {
    dict: "a JSON object",
    list: "a JSON list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def read_json(path: Path, what: str = "a JSON file") -> Any:
    """The parsed contents of `path`, or a FileFormatError naming it.

    Examples:
    ```python
    read_json(Path("preset/config.json"), "a keras-hub config")
    ```
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; allowed: {what}") from None
    except UnicodeDecodeError as error:
        raise FileFormatError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
            f"allowed: {what}",
            path=str(path),
        ) from None
    try:
        return json.loads(text)
    except ValueError as error:  # JSONDecodeError, or a number too long
        raise FileFormatError(
            f"{path}: not valid JSON ({error}); allowed: {what}", path=str(path)
        ) from None


def require_type(value: Any, types, path: Path, field: str | None) -> Any:
    """`value` if it is of `types` (bools are not ints), else a FileFormatError.

    `field` is the dotted JSON key (None for the whole file).

    Examples:
    ```python
    require_type(data.get("config"), dict, path, "config")
    ```
    """
    kinds = types if isinstance(types, tuple) else (types,)
    wrong_bool = isinstance(value, bool) and bool not in kinds
    if isinstance(value, kinds) and not wrong_bool:
        return value
    allowed = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
    where = f"{field}=" if field else "contents="
    shown = repr(value) if len(repr(value)) <= 60 else f"{type(value).__name__}"
    raise FileFormatError(
        f"{path}: {where}{shown}: wrong type; allowed: {allowed}",
        path=str(path),
        field=field,
    )
