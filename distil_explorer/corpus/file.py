"""Corpus statistics files: exact sums as `.npz` arrays, the rest as JSON.

Nothing is pickled; a checkpoint is the same file with the progress of the
run that wrote it (texts done, their fingerprint, the settings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer._internal.atomic_write import checked_path, write_file
from distil_explorer.corpus.sums import STATISTICS, CorpusSums
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
