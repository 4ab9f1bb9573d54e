"""What `capture(norms=True)` costs against a plain capture, on one backend.

One process, the base uncased config with random weights (std 0.02, as
initialised), random ids, no padding; plain and norm-weighted captures are
timed round-robin (median of `--rounds`), and the ratio printed per shape.

    python benchmarks/norms.py [--backend torch|jax|...] [--rounds 10] [--threads 2]

Target (issue 15): norms=True costs at most 1.15x a plain capture.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shapes", default="1x128,8x128,1x512")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np
    from _timing import interleaved_medians

    import distil_explorer as de
    from distil_explorer.config import backbone_presets

    if args.backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(0)
    config = dict(backbone_presets["distil_bert_base_en_uncased"]["config"])
    backbone = de.DistilBertBackbone(**config)
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    print(
        f"{args.backend}, {args.threads} threads, base uncased config, fp32, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"{'shape':<14}{'capture':>12}{'norms=True':>14}{'ratio':>8}")
    for batch, length in shapes:
        rng = np.random.default_rng(batch * 1000 + length)
        ids = rng.integers(0, config["vocabulary_size"], (batch, length))
        inputs = {
            "token_ids": ids.astype("int32"),
            "padding_mask": np.ones((batch, length), "int32"),
        }
        medians = interleaved_medians(
            {
                "plain": lambda inputs=inputs: de.capture(backbone, inputs),
                "norms": lambda inputs=inputs: de.capture(backbone, inputs, norms=True),
            },
            rounds=args.rounds,
        )
        plain, norms = medians["plain"], medians["norms"]
        print(
            f"{f'B={batch}, T={length}':<14}{plain * 1e3:>9.1f} ms"
            f"{norms * 1e3:>11.1f} ms{norms / plain:>7.2f}x"
        )


if __name__ == "__main__":
    main()
