"""Per-call overhead: our backbone and capture against Hugging Face on a model
so small that its kernels cost almost nothing.

With 6 layers of hidden size 24, what is timed is the Python around the
kernels: Keras's dispatch, input checks, copying hidden states into the
Trace's arrays, building the Trace. On the base model at B=1, T=128 that
overhead is about 1% of a call, below what `forward.py` resolves on a noisy
VM; here it is most of the call. Calls run in batches of `--batch` (one
timing per batch), the batches round-robin in a shuffled order, and each
ratio is the median of the per-round ratios with a 95% bootstrap interval.

    python benchmarks/overhead.py [--rounds 150] [--batch 20] [--length 128]

Issue 17: capture <= 1.00x HF eager with attentions and hidden states; this
shows whether what is left at B=1, T=128 is overhead or kernel time.
Needs `transformers` (the dev extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import interleaved_samples, paired_ratio  # noqa: E402
from forward import build_models, implementations  # noqa: E402

TINY = {
    "vocab_size": 1000,
    "n_layers": 6,
    "n_heads": 2,
    "dim": 24,
    "hidden_dim": 48,
    "max_position_embeddings": 512,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not 1 <= args.length <= TINY["max_position_embeddings"]:
        sys.exit(f"--length={args.length}: allowed: 1 to 512")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = build_models("cpu", "float32", **TINY)

    rng = np.random.default_rng(0)
    ids = rng.integers(0, TINY["vocab_size"], (1, args.length)).astype("int32")
    mask = np.ones_like(ids)
    inputs = {"token_ids": ids, "padding_mask": mask}
    t_ids, t_mask = torch.from_numpy(ids).long(), torch.from_numpy(mask)
    calls = implementations(models, inputs, t_ids, t_mask)
    del calls["plain torch SDPA"]  # forward.py's floor; here only HF and ours

    def batched(function):
        def run():
            for _ in range(args.batch):
                function()

        return run

    with torch.inference_mode():
        samples = interleaved_samples(
            {name: batched(f) for name, f in calls.items()}, rounds=args.rounds
        )
    print(
        f"torch {torch.__version__}, cpu, {args.threads} threads, 6 layers x "
        f"hidden 24, B=1, T={args.length}; {args.rounds} rounds of "
        f"{args.batch} calls; ratio = median per-round ratio [95% interval]"
    )
    eager = samples["HF eager + attentions + hidden states"]
    sdpa = samples["HF DistilBertModel (sdpa)"]
    print(
        f"{'implementation':<40}{'us per call':>12}"
        f"{'vs HF sdpa':>24}{'vs HF eager':>24}"
    )
    for name, rounds in samples.items():
        per_call = statistics.median(rounds) / args.batch * 1e6
        cells = [
            "{:.3f} [{:.2f}, {:.2f}]".format(*paired_ratio(rounds, base))
            for base in (sdpa, eager)
        ]
        print(f"{name:<40}{per_call:>12.0f}{cells[0]:>24}{cells[1]:>24}")


if __name__ == "__main__":
    main()
