"""Context mixing and causal tests against plain forward passes of as much work.

One process, one set of random weights (the base uncased config), torch on
CPU. Each measurement is timed round-robin with its reference (median of
`--rounds`) and printed as a ratio:

- value zeroing of every layer, one sequence of T=64, against one plain
  forward of a batch of 64 sequences of T=64 (target <= 2x);
- the whole patching grid, (L + 1) x T runs at T=32, against one plain
  forward of (L + 1) x 32 sequences of T=32 (target <= 2x);
- head importance by gate gradients over 200 demo texts (batch 32), against
  a plain pass over the same texts in the same batches, tokenizing included
  in both (target <= 3x);
- and, for the record, ALTI against the value-zeroing reference.

    python benchmarks/mixing.py [--rounds 3] [--threads 2] [--texts 200]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

import distil_explorer as de  # noqa: E402
from distil_explorer.config import OFFLINE_PRESET, backbone_presets  # noqa: E402


def _inputs(rng, batch: int, length: int) -> dict:
    ids = rng.integers(1000, 30000, size=(batch, length)).astype("int32")
    ids[:, 0], ids[:, -1] = 101, 102
    return {"token_ids": ids, "padding_mask": np.ones_like(ids)}


def _plain(backbone, inputs):
    def run():
        with torch.inference_mode():
            backbone(inputs)

    return run


def _ratio(label: str, times: dict, ours: str, reference: str, target: float) -> None:
    ratio = times[ours] / times[reference]
    verdict = "ok" if ratio <= target else "OVER"
    print(
        f"{label}: {times[ours] * 1e3:.0f} ms vs {times[reference] * 1e3:.0f} ms "
        f"-> {ratio:.2f}x (target <= {target:g}x, {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = backbone_presets["distil_bert_base_en_uncased"]["config"]
    backbone = de.DistilBertBackbone(**config)
    layers = backbone.num_layers
    rng = np.random.default_rng(0)

    one = _inputs(rng, 1, 64)
    times = interleaved_medians(
        {
            "value zeroing": lambda: de.context_mixing(backbone, one),
            "alti": lambda: de.context_mixing(backbone, one, method="alti"),
            "forward 64 x 64": _plain(backbone, _inputs(rng, 64, 64)),
        },
        rounds=args.rounds,
        warmup=1,
    )
    _ratio("value zeroing, T=64", times, "value zeroing", "forward 64 x 64", 2)
    _ratio("ALTI, T=64", times, "alti", "forward 64 x 64", 2)

    clean = _inputs(rng, 1, 32)
    corrupted = {k: v.copy() for k, v in clean.items()}
    corrupted["token_ids"][0, 5] += 1

    # Fresh LayerNorms (gain 1, bias 0) make the [CLS] norm sqrt(768) for
    # any input: read part of the [CLS] state instead.
    def target(hidden):
        return keras.ops.sum(hidden[:, 0, :16], -1)

    grid = _inputs(rng, (layers + 1) * 32, 32)
    times = interleaved_medians(
        {
            "patching": lambda: de.patch_activations(
                backbone, clean, corrupted, target
            ),
            "forward grid": _plain(backbone, grid),
        },
        rounds=args.rounds,
        warmup=1,
    )
    _ratio(
        f"patching grid, T=32 ({layers + 1} x 32 runs)",
        times,
        "patching",
        "forward grid",
        2,
    )

    tokenizer = de.DistilBertTokenizer.from_preset(OFFLINE_PRESET)
    texts = de.demo_corpus(args.texts)

    def plain_pass():
        for start in range(0, len(texts), 32):
            batch = tokenizer.encode_at_most(texts[start : start + 32], 512)
            with torch.inference_mode():
                backbone(batch.inputs)

    times = interleaved_medians(
        {
            "head importance": lambda: de.head_importance(
                backbone, texts, target, tokenizer=tokenizer, progress=False
            ),
            "plain pass": plain_pass,
        },
        rounds=max(1, args.rounds - 1),
        warmup=1,
    )
    _ratio(
        f"head importance (gradient), {len(texts)} texts",
        times,
        "head importance",
        "plain pass",
        3,
    )


if __name__ == "__main__":
    main()
