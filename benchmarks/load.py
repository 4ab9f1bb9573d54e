"""Load the base uncased preset from a local keras-hub directory to a first Trace.

    python benchmarks/load.py            # ours
    # with keras-hub importable as well, also keras-hub's own from_preset:
    KERAS_BACKEND=torch PYTHONPATH=. /work/khvenv/bin/python benchmarks/load.py

Target (issue 3): under 3 s. The preset (random weights, the real shapes) is
written once with our save_to_preset, which keras-hub reads.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

import distil_explorer as de  # noqa: E402

INPUTS = {
    "token_ids": np.array([[101] + list(range(2000, 2126)) + [102]], "int32"),
    "padding_mask": np.ones((1, 128), "int32"),
}


def make_preset(directory: Path) -> Path:
    backbone = de.DistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", load_weights=False
    )
    backbone.save_to_preset(directory)
    return directory


def ours(directory: Path) -> tuple[float, float]:
    start = time.perf_counter()
    backbone = de.DistilBertBackbone.from_preset(str(directory))
    loaded = time.perf_counter()
    de.capture(backbone, INPUTS)
    return loaded - start, time.perf_counter() - start


def keras_hubs(directory: Path) -> tuple[float, float] | None:
    try:
        import keras_hub
    except ImportError:
        return None
    start = time.perf_counter()
    backbone = keras_hub.models.DistilBertBackbone.from_preset(str(directory))
    loaded = time.perf_counter()
    backbone(INPUTS)
    return loaded - start, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = make_preset(Path(tmp) / "distil_bert_base_en_uncased")
        size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
        print(f"local keras-hub preset, base uncased, {size:.0f} MB; T=128")
        load, first = ours(directory)
        print(
            f"  distil-explorer: load {load:.2f} s, to first Trace {first:.2f} s"
            "  (target < 3 s)"
        )
        theirs = keras_hubs(directory)
        if theirs is None:
            print("  keras-hub: not installed here, no ratio")
        else:
            print(
                f"  keras-hub:       load {theirs[0]:.2f} s, to first output "
                f"{theirs[1]:.2f} s; ours / theirs = {first / theirs[1]:.2f}x"
            )


if __name__ == "__main__":
    main()
