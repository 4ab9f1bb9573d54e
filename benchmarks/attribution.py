"""Integrated gradients: `de.attribute` against Captum's plain use on Hugging Face.

One process, one set of random weights (the base uncased config) shared by
both; B=1, T=128, 32 Gauss-Legendre steps, the same [PAD] baseline and the
same target (the [CLS] state's norm). The reference is what a Captum user
writes for a transformers model: `LayerIntegratedGradients` on the word
embeddings of `DistilBertModel`. Timed round-robin, median of `--rounds`.

    python benchmarks/attribution.py [--rounds 3] [--threads 2] [--steps 32]

Target (issue 15): under 10 s at 32 steps on 2 cores. Needs `transformers`
and `captum` (the dev extra).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from _timing import interleaved_medians  # noqa: E402
from captum.attr import LayerIntegratedGradients  # noqa: E402

import distil_explorer as de  # noqa: E402
from distil_explorer.weights.assign import assign_weights  # noqa: E402
from distil_explorer.weights.transformers_format import (  # noqa: E402
    backbone_config,
    backbone_weights,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = transformers.DistilBertConfig(attn_implementation="sdpa")
    hf = transformers.DistilBertModel(config).eval()
    # Fresh LayerNorms (gain 1, bias 0) make the [CLS] norm sqrt(768) for any
    # input, and every score 0: give them a trained model's spread.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in hf.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                noise = 0.1 * torch.randn(parameter.shape, generator=generator)
                parameter.add_(noise)
    ours = de.DistilBertBackbone(**backbone_config(config.to_dict()))
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    assign_weights(ours, backbone_weights(config.to_dict(), state))

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(1, args.length)).astype("int32")
    ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    mask = np.ones_like(ids)
    inputs = {"token_ids": ids, "padding_mask": mask}
    long_ids = torch.tensor(ids, dtype=torch.long)
    base_ids = long_ids.clone()
    base_ids[0, 1:-1] = 0  # [PAD] between [CLS] and [SEP]
    attention_mask = torch.tensor(mask)

    def cls_norm(input_ids, attention_mask):
        out = hf(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state[:, 0].norm(dim=-1)

    captum_ig = LayerIntegratedGradients(cls_norm, hf.embeddings.word_embeddings)
    found = {}

    def run_ours():
        found["ours"] = de.attribute(
            ours, inputs, de.cls_norm_target(), steps=args.steps
        )

    def run_captum():
        found["captum"] = captum_ig.attribute(
            long_ids,
            baselines=base_ids,
            additional_forward_args=(attention_mask,),
            n_steps=args.steps,
            method="gausslegendre",
        )

    medians = interleaved_medians(
        {
            "de.attribute (integrated_gradients)": run_ours,
            "Captum LIG on HF": run_captum,
        },
        rounds=args.rounds,
        warmup=1,
    )
    reference = medians["Captum LIG on HF"]
    print(
        f"integrated gradients, base config, B=1, T={args.length}, "
        f"{args.steps} steps, {args.threads} threads, median of {args.rounds}"
    )
    for name, seconds in medians.items():
        print(f"  {name:40s} {seconds:7.2f} s  {seconds / reference:5.2f}x")
    theirs = found["captum"].sum(-1).detach().numpy()
    ours_scores = found["ours"].scores
    gap, top = np.abs(ours_scores - theirs).max(), np.abs(theirs).max()
    print(f"  max |ours - Captum| over tokens: {gap:.2e} (largest |score| {top:.2e})")
    print(f"  |delta| / |target - baseline|: {_relative_delta(found['ours']):.2e}")
    verdict = "met" if medians["de.attribute (integrated_gradients)"] < 10 else "MISSED"
    print(f"  target < 10 s: {verdict}")


def _relative_delta(a) -> float:
    change = np.abs(a.target_value - a.baseline_value)
    return float((np.abs(a.delta) / change).max())


if __name__ == "__main__":
    main()
