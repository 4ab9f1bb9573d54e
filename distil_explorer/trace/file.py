"""The Trace file format: `Trace.save`'s .npz, written atomically, read untrusted.

Writing and reading live together so that the format is defined once. Every
way such a file can be wrong (missing, truncated, flipped bytes, a plain numpy
.npz, pickled objects, another format version, JSON of the wrong type, arrays
that do not fit together) ends in one `TraceFileError` naming the path and,
when known, the field. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from distil_explorer._internal.atomic_write import checked_path, write_file
from distil_explorer.errors import TraceFileError

# The arrays every Trace file holds, and those it holds when the Trace has them.
ARRAYS = ("hidden_states", "attentions", "token_ids", "padding_mask")
OPTIONAL = ("queries", "keys", "attention_norms")
FORMAT = "distil-explorer-trace/1"

_ZIP_MAGIC = b"PK\x03\x04"
_WHAT = "allowed: a .npz file written by Trace.save"


def write_trace(trace: Any, path: str | os.PathLike):
    """Write `trace` to the .npz at `path`, atomically; see `Trace.save`."""
    path = checked_path("path", path)
    if path.suffix != ".npz":
        raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .npz")
    meta = {
        "format": FORMAT,
        "config": trace.config,
        "backend": trace.backend,
        "device": trace.device,
        "tokens": trace.tokens,
        "attention_layers": trace.attention_layers,
        "attention_heads": trace.attention_heads,
        "ablated_heads": [list(pair) for pair in trace.ablated_heads],
    }
    arrays = {name: getattr(trace, name) for name in ARRAYS}
    arrays.update(
        {n: getattr(trace, n) for n in OPTIONAL if getattr(trace, n) is not None}
    )
    text = np.array(json.dumps(meta))
    return write_file(path, lambda f: np.savez(f, meta=text, **arrays))


def read_trace(cls, path: str | os.PathLike):
    """A `cls` (a Trace) from the file at `path`; see `Trace.load`."""
    path = checked_path("path", path)
    shown = str(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"path={shown!r}: no such file; {_WHAT}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"path={shown!r}: is a directory; {_WHAT}") from None
    if magic != _ZIP_MAGIC:
        raise TraceFileError(
            f"path={shown!r}: not a Trace file (it is not an .npz archive); {_WHAT}",
            path=shown,
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
            meta = _meta(data, shown) if "meta" in names else None
            arrays = {
                n: _array(data, n, shown) for n in (*ARRAYS, *OPTIONAL) if n in names
            }
    except TraceFileError:
        raise
    except Exception as error:  # zipfile, zlib and numpy each raise their own
        raise TraceFileError(
            f"path={shown!r}: truncated or damaged Trace file "
            f"({type(error).__name__}: {_reason(error)}); {_WHAT}",
            path=shown,
        ) from None
    if meta is None:
        raise TraceFileError(
            f"path={shown!r}: not a Trace file (an .npz without 'meta', e.g. "
            f"from numpy.savez); {_WHAT}",
            path=shown,
            field="meta",
        )
    if meta.get("format") != FORMAT:
        raise TraceFileError(
            f"path={shown!r}: format={meta.get('format')!r} is not a "
            f"distil-explorer trace this version reads; allowed: {FORMAT!r} "
            "(files from Trace.save)",
            path=shown,
            field="format",
        )
    missing = [n for n in ARRAYS if n not in arrays]
    if missing:
        raise TraceFileError(
            f"path={shown!r}: arrays {missing} are missing; {_WHAT}",
            path=shown,
            field=missing[0],
        )
    fields = _fields(meta, shown)
    try:
        return cls(**arrays, **fields)
    except (ValueError, TypeError) as error:
        field = str(error).split("=")[0].split(" ")[0] or None
        raise TraceFileError(
            f"path={shown!r}: its arrays do not make a Trace ({error}); {_WHAT}",
            path=shown,
            field=field,
        ) from None


def _reason(error: Exception) -> str:
    text = str(error)
    if "pickle" in text:
        # numpy's message advises allow_pickle=True: never for a Trace.
        return "it holds pickled Python objects, which a Trace never does"
    return text[:200]


def _meta(data, shown: str) -> dict[str, Any]:
    raw = data["meta"]
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise TraceFileError(
            f"path={shown!r}: meta dtype={raw.dtype}, shape={raw.shape}: allowed: "
            "one JSON string; " + _WHAT,
            path=shown,
            field="meta",
        )
    try:
        meta = json.loads(str(raw))
    except ValueError as error:
        raise TraceFileError(
            f"path={shown!r}: meta is not valid JSON ({error}); {_WHAT}",
            path=shown,
            field="meta",
        ) from None
    if not isinstance(meta, dict):
        raise TraceFileError(
            f"path={shown!r}: meta={type(meta).__name__}: allowed: a JSON object; "
            + _WHAT,
            path=shown,
            field="meta",
        )
    return meta


def _array(data, name: str, shown: str) -> np.ndarray:
    array = data[name]
    if array.dtype.kind not in "biuf":
        raise TraceFileError(
            f"path={shown!r}: {name} dtype={array.dtype}: allowed: numbers; {_WHAT}",
            path=shown,
            field=name,
        )
    return array


def _fields(meta: dict, shown: str) -> dict[str, Any]:
    def check(name: str, ok, allowed: str, default: Any = ...) -> Any:
        if default is not ... and name not in meta:
            return default
        value = meta.get(name)
        if name not in meta or not ok(value):
            raise TraceFileError(
                f"path={shown!r}: meta.{name}={value!r}: allowed: {allowed}; {_WHAT}",
                path=shown,
                field=f"meta.{name}",
            )
        return value

    def indices(value) -> bool:
        return value is None or (
            isinstance(value, list)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
        )

    def pairs(value) -> bool:
        return isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and indices(p) for p in value
        )

    def rows(value) -> bool:
        return value is None or (
            isinstance(value, list)
            and all(
                isinstance(r, list) and all(isinstance(t, str) for t in r)
                for r in value
            )
        )

    return {
        "config": check("config", lambda v: isinstance(v, dict), "a JSON object"),
        "backend": check("backend", lambda v: isinstance(v, str), "a string"),
        "device": check("device", lambda v: isinstance(v, str), "a string"),
        "tokens": check("tokens", rows, "null or lists of strings", None),
        # Files written before selections existed hold every map.
        "attention_layers": check(
            "attention_layers", indices, "null or a list of ints", None
        ),
        "attention_heads": check(
            "attention_heads", indices, "null or a list of ints", None
        ),
        # Files written before ablation existed ran the plain model.
        "ablated_heads": check(
            "ablated_heads", pairs, "a list of [layer, head] pairs", []
        ),
    }
