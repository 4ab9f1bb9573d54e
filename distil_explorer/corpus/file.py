"""Corpus statistics files: exact sums as `.npz` arrays, the rest as JSON.

Nothing is pickled; a checkpoint is the same file with the progress of the
run that wrote it: the texts done, their fingerprint, and `made_with`, what
the sums came from (model, weights, tokenizer, settings, texts), which a
resumed run must match (`check_made_with`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer._internal.atomic_write import checked_path, write_file
from distil_explorer.corpus.sums import BINS, STATISTICS, CorpusSums
from distil_explorer.corpus.texts import checked_text, fingerprint
from distil_explorer.errors import FileFormatError

FORMAT = "distil-explorer-corpus/1"


def write_statistics(path: Any, stats: Any, progress: dict) -> Path:
    """Write `stats` (and a checkpoint's `progress`) to an `.npz`, atomically."""
    path = checked_path("path", path)
    if path.suffix != ".npz":
        raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .npz")
    sums = stats.sums
    meta = {
        "format": FORMAT,
        "num_tokens": sums.num_tokens,
        "num_texts": sums.num_texts,
        "example_texts": sorted(stats.example_texts.items()),
        "progress": progress,
    }
    arrays = _sum_arrays("", sums)
    if stats.norm_sums is not None:
        arrays.update(_sum_arrays("norm_", stats.norm_sums))
    text = np.array(json.dumps(meta))
    return write_file(path, lambda f: np.savez(f, meta=text, **arrays))


def read_statistics(cls: type, path: Any) -> tuple[Any, dict]:
    """(a `cls` read from `path`, the checkpoint progress it holds or {})."""
    path = checked_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path={str(path)!r}: no such file; allowed: a file written by "
            "CorpusStatistics.save"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            sums = _read_sums("", data, meta)
            norms = _read_sums("norm_", data, meta) if "norm_bins" in data else None
            texts = {int(i): str(t) for i, t in meta["example_texts"]}
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        raise FileFormatError(
            f"path={str(path)!r}: not a corpus statistics file ({error}); "
            f"allowed: a file written by CorpusStatistics.save ({FORMAT})",
            path=str(path),
        ) from None
    return cls(sums, texts, norms), meta.get("progress") or {}


def _sum_arrays(prefix: str, sums: CorpusSums) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}sum_{n}": sums.sums[n] for n in STATISTICS}
    arrays[f"{prefix}bins"] = sums.bins
    arrays[f"{prefix}best_value"] = sums.best_value
    arrays[f"{prefix}best_index"] = sums.best_index
    return arrays


def _read_sums(prefix: str, data: Any, meta: dict) -> CorpusSums:
    return CorpusSums(
        sums={n: np.asarray(data[f"{prefix}sum_{n}"], np.float64) for n in STATISTICS},
        bins=np.asarray(data[f"{prefix}bins"], np.float64),
        num_tokens=int(meta["num_tokens"]),
        num_texts=int(meta["num_texts"]),
        best_value=np.asarray(data[f"{prefix}best_value"], np.float64),
        best_index=np.asarray(data[f"{prefix}best_index"], np.int64),
    )


def made_with(
    model: dict,
    arrays: Iterable[np.ndarray],
    tokenizer: Any,
    settings: dict,
    texts: Iterable[str],
) -> dict:
    """What a checkpoint's sums depend on, as JSON: `check_made_with` compares it.

    The model's config (`model`; dropout aside: it is off at inference) and
    a sha256 of its variables' bytes (`arrays`, in the model's order:
    0.25-0.65 s for the base model's 265 MB on a 2-core VM; names are left
    out, as Keras numbers them per process), the tokenizer (its
    vocabulary's sha256 and settings), the run's settings and the
    statistics it sums, and the texts (how many and a sha256 of all of
    them, so a file that was edited, extended or shuffled is told apart
    however its name, size or mtime look, and a copy elsewhere is not).

    Examples:
    ```python
    made_with({"hidden_dim": 64}, [np.zeros(3)], tokenizer, {"norms": False}, ["a"])
    ```
    """
    weights = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        weights.update(f"{array.dtype.str}{array.shape}".encode())
        weights.update(array.reshape(-1).view(np.uint8))
    digest, count = hashlib.sha256(), 0
    for index, text in enumerate(texts):
        fingerprint(digest, [checked_text(index, text)])
        count += 1
    vocabulary = "\n".join(tokenizer.vocabulary).encode("utf-8", "surrogatepass")
    return {
        **model,
        "weights": f"sha256:{weights.hexdigest()}",
        "tokenizer": {
            "vocabulary": f"sha256:{hashlib.sha256(vocabulary).hexdigest()}",
            **tokenizer.get_config(),
        },
        **settings,
        "statistics": list(STATISTICS),
        "bins": list(BINS),
        "texts": {"count": count, "sha256": digest.hexdigest()},
    }


# Which part of a run each `made_with` key belongs to, for the way out.
_MODEL_KEYS = ("weights", "dtype", "quantization")
_RUN_KEYS = ("max_length", "batch_size", "norms", "statistics", "bins")


def check_made_with(path: Path, recorded: Any, this_run: dict) -> None:
    """Refuse a checkpoint whose sums were made otherwise than this run's.

    `recorded` is the checkpoint's `made_with` (None in a checkpoint written
    before there was one). Raises ValueError naming the first thing that
    differs, what the checkpoint was made with and what this run has; the
    file is not touched.

    Examples:
    ```python
    check_made_with(path, {"hidden_dim": 64}, {"hidden_dim": 32})
    # ValueError: checkpoint='partial.npz': made with hidden_dim=64, this run
    # has hidden_dim=32; allowed: the same model, or a new checkpoint path
    ```
    """
    if not isinstance(recorded, dict):
        # Merging such sums is the silent mix this record exists to stop;
        # refusing costs one rerun, accepting could cost wrong numbers.
        raise ValueError(
            f"checkpoint={str(path)!r}: written without a record of the model, "
            "tokenizer, texts and settings it summed (by an older "
            "distil-explorer), so its sums cannot be checked against this "
            "run; allowed: a new checkpoint path (or delete this one to start "
            "over)"
        )
    before, now = _flat(recorded), _flat(json.loads(json.dumps(this_run)))
    differ = [
        key for key in dict.fromkeys([*before, *now]) if before.get(key) != now.get(key)
    ]
    if not differ:
        return
    key = differ[0]
    also = f" (and {', '.join(differ[1:])})" if len(differ) > 1 else ""
    raise ValueError(
        f"checkpoint={str(path)!r}: made with {key}={_shown(before.get(key))}, "
        f"this run has {key}={_shown(now.get(key))}{also}; allowed: "
        f"{_way_out(key)}, or a new checkpoint path"
    )


def _flat(record: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > 24:  # a digest: its start will do
        return f"{value[:19]}..."
    return "(nothing)" if value is None else repr(value)


def _way_out(key: str) -> str:
    if key.startswith("tokenizer."):
        return "the same tokenizer"
    if key.startswith("texts."):
        return "the texts it was written for"
    if key in _RUN_KEYS:
        return f"the same {key}"
    if key in _MODEL_KEYS:
        return "the same model with the same weights"
    return "the same model"
