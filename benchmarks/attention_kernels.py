"""Explicit attention into recycled memory against fused attention, by length.

A capture computes a kept layer's maps explicitly (`kernels.attention_probabilities`
writing into a recycled numpy block, then `kernels.attend`); the plain call
uses fused attention (`kernels.fused_attention`, torch's SDPA). Up to
`capture.EXPLICIT_UP_TO` tokens, a capture of some layers runs the layers
whose maps it does not keep the explicit way too, because that was faster
there on the machine it was tuned on. This prints, for base-model heads
(12 x 64) at each (B, T), both paths' median time and the per-round ratio
explicit / fused with a 95% interval, so the threshold can be checked on
another CPU.

    python benchmarks/attention_kernels.py [--rounds 100] [--threads 2]

On a 2-core AVX2 VM (torch 2.13), two runs: explicit / fused 0.96 and 1.14
at 1 x 32 (13 us a layer: the explicit path is four calls, not one), 0.84-0.86
at 1 x 64, 0.82-0.90 at 1 x 128, 0.79-0.95 at 8 x 128, 0.85-0.89 at 1 x 192,
0.96-1.01 at 1 x 256, 1.19 at 1 x 384, 1.21-1.30 at 1 x 512. The threshold
(128) is where every run and batch size favoured the explicit path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from _timing import interleaved_samples, paired_ratio  # noqa: E402

from distil_explorer.model import kernels  # noqa: E402
from distil_explorer.model.buffers import new_buffer  # noqa: E402
from distil_explorer.model.capture import EXPLICIT_UP_TO  # noqa: E402

SHAPES = [(1, 32), (1, 64), (1, 128), (8, 128), (1, 192), (1, 256), (1, 384), (1, 512)]
HEADS, HEAD_DIM = 12, 64
CALLS = 5  # per timing, so one timing is well above the clock's resolution


def time_shape(batch: int, length: int, rounds: int) -> dict[str, list[float]]:
    generator = torch.Generator().manual_seed(batch * 1000 + length)
    query, key, value = (
        torch.randn(batch, HEADS, length, HEAD_DIM, generator=generator)
        for _ in range(3)
    )
    block = torch.from_numpy(new_buffer((batch, HEADS, length, length)))

    def fused():
        for _ in range(CALLS):
            kernels.fused_attention(query, key, value, None)

    def explicit():
        for _ in range(CALLS):
            maps = kernels.attention_probabilities(query, key, None, out=block)
            kernels.attend(maps, value)

    with torch.inference_mode():
        return interleaved_samples({"fused": fused, "explicit": explicit}, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {HEADS} heads x "
        f"{HEAD_DIM}, median of {args.rounds} rounds; capture.EXPLICIT_UP_TO = "
        f"{EXPLICIT_UP_TO}"
    )
    print(f"{'B x T':>8}{'fused us':>11}{'explicit us':>13}   explicit / fused")
    for batch, length in SHAPES:
        samples = time_shape(batch, length, args.rounds)
        fused, explicit = (
            statistics.median(samples[name]) / CALLS * 1e6
            for name in ("fused", "explicit")
        )
        ratio, low, high = paired_ratio(samples["explicit"], samples["fused"])
        side = "explicit" if length <= EXPLICIT_UP_TO else "fused"
        print(
            f"{f'{batch} x {length}':>8}{fused:>11.0f}{explicit:>13.0f}   "
            f"{ratio:.3f} [{low:.2f}, {high:.2f}]   (a capture's skipped layers: "
            f"{side})"
        )


if __name__ == "__main__":
    main()
