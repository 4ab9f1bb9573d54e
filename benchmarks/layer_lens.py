"""What `layer_predictions` (the layer lens) costs against one masked-LM forward.

One process, the base uncased config with random weights (as initialised),
random ids, no padding, B=1, T=128; timed round-robin (median of `--rounds`):

- "forward": the masked LM on the inputs, predicting every position
  (`mask_positions` = all T), the model's own predictions everywhere;
- "forward, 1 mask": the same with one mask position (the usual query);
- "lens": `layer_predictions(masked_lm, trace, top_k=5)` on a Trace
  captured beforehand: the head on (L + 1) x T rows in one batch, with
  top-k, probabilities and the actual token's rank.

    python benchmarks/layer_lens.py [--backend torch|jax] [--rounds 7] [--threads 2]

Target (issue 28): lens <= 1.5x one masked-LM forward. Floor: the lens runs
L + 1 vocabulary projections (hidden x vocabulary each per row) where the
forward runs one plus the encoder, so at the base config the lens cannot
cost less than about (L + 1) x 23.4M / (42.5M + 23.4M) multiply-adds per
token, 2.5x a forward that predicts every position. It measures below
that count because that product (nearly all its work) runs as one float32
numpy product (tasks/readout.py): on this machine's AMD EPYC, numpy's
OpenBLAS does this shape about 1.7x faster than torch's MKL (1 thread:
0.9 s against 1.6 s), and a busy machine slows torch's OpenMP threads
more. The lens's product and readout count the numpy threads with
`--threads` too (OPENBLAS_NUM_THREADS).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    # The lens's vocabulary product runs in numpy's BLAS: same thread count.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import keras
    import numpy as np
    from _timing import interleaved_samples, paired_ratio

    import distil_explorer as de
    from distil_explorer.config import backbone_presets

    if args.backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(0)
    config = dict(backbone_presets["distil_bert_base_en_uncased"]["config"])
    masked_lm = de.DistilBertMaskedLM(de.DistilBertBackbone(**config))
    length = args.length
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config["vocabulary_size"], (1, length)).astype("int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones((1, length), "int32")}
    every = {**inputs, "mask_positions": np.arange(length, dtype="int32")[None]}
    one = {**inputs, "mask_positions": np.array([[length // 2]], "int32")}
    trace = de.capture(masked_lm.backbone, inputs)

    def forward(batch):
        return keras.ops.convert_to_numpy(masked_lm(batch))

    samples = interleaved_samples(
        {
            "forward": lambda: forward(every),
            "forward, 1 mask": lambda: forward(one),
            "lens": lambda: de.layer_predictions(masked_lm, trace, top_k=5),
        },
        rounds=args.rounds,
    )
    medians = {name: float(np.median(times)) for name, times in samples.items()}
    print(
        f"{args.backend}, {args.threads} threads, base uncased config, fp32, "
        f"B=1, T={length}, median of {args.rounds} interleaved rounds"
    )
    base = medians["forward"]
    for name, seconds in medians.items():
        print(f"{name:<18}{seconds * 1e3:>9.1f} ms{seconds / base:>7.2f}x")
    single = medians["lens"] / medians["forward, 1 mask"]
    print(f"lens / forward with 1 mask: {single:.2f}x")
    # Both ran seconds apart in each round: the per-round ratio cancels a
    # slow spell of a shared machine that the ratio of medians does not.
    ratio, low, high = paired_ratio(samples["lens"], samples["forward"])
    print(
        f"lens / forward, per round: {ratio:.2f}x (95% interval {low:.2f}-{high:.2f})"
    )


if __name__ == "__main__":
    main()
