"""Forward-pass latency of our backbone against Hugging Face, torch.

One process, one set of random weights (the base uncased config) shared by
every implementation; each shape is timed round-robin and reported as a
median in ms and as a ratio to HF DistilBertModel with SDPA attention. The
"spread" rows are max - min, and the interquartile range, of the rounds of
a plain call and of a capture: on a shared VM one stalled round sets max -
min, the IQR shows how wide the bulk of the rounds is.
"B=8 padded" is a batch of 8 sequences of 16..128 real tokens padded to 128.

    python benchmarks/forward.py [--rounds 15] [--threads 2]
    python benchmarks/forward.py --device cuda --dtype bfloat16

Targets (issue 17): capture <= 1.10x HF sdpa and <= 1.00x HF eager with
attentions at every shape, a selective capture never slower than a full
one, and a capture's spread no wider than the plain call's. The last table
checks each as a per-round (paired) ratio with a 95% bootstrap interval:
on a noisy VM the medians of 15 rounds move by a few percent between runs,
a ratio of two calls made seconds apart much less. Why a capture
used to lose 40% at T=512 (fresh memory on a VM): docs/capture_speed.md.
Needs `transformers` (the dev extra); `--device cuda` needs a CUDA torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from _timing import (  # noqa: E402
    interleaved_samples,
    paired_ratio,
    spread_ratio,
    verdict,
)

import distil_explorer as de  # noqa: E402
from distil_explorer.weights.assign import assign_weights  # noqa: E402
from distil_explorer.weights.transformers_format import (  # noqa: E402
    backbone_config,
    backbone_weights,
)

# (batch, length, padded): padded batches hold 16..128 real tokens per row.
SHAPES = [(1, 128, False), (8, 128, False), (1, 512, False), (8, 128, True)]

CAPTURE = "ours: capture(backbone, inputs)"
# Issue 17's targets: (label, statistic, numerator, denominator, at most).
TARGETS = [
    ("capture / HF sdpa", paired_ratio, CAPTURE, "HF DistilBertModel (sdpa)", 1.10),
    (
        "capture / HF eager",
        paired_ratio,
        CAPTURE,
        "HF eager + attentions + hidden states",
        1.00,
    ),
    (
        "selective / full capture",
        paired_ratio,
        "ours: capture(layers=[-1], heads=[0])",
        CAPTURE,
        1.00,
    ),
    ("IQR capture / IQR plain", spread_ratio, CAPTURE, "ours: backbone(inputs)", 1.00),
]


def plain_torch_sdpa(model: transformers.DistilBertModel):
    """A hand-written DistilBERT forward in plain PyTorch: the floor we compare to."""
    emb = model.embeddings
    layers = model.transformer.layer
    heads = model.config.n_heads
    F = torch.nn.functional

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length = ids.shape
        x = emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:length]
        x = F.layer_norm(
            x, x.shape[-1:], emb.LayerNorm.weight, emb.LayerNorm.bias, 1e-12
        )
        keep = mask.bool()[:, None, None, :]
        for layer in layers:
            a = layer.attention

            def split(t):
                return t.view(batch, length, heads, -1).transpose(1, 2)

            q, k, v = (split(lin(x)) for lin in (a.q_lin, a.k_lin, a.v_lin))
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            ctx = ctx.transpose(1, 2).reshape(batch, length, -1)
            x = layer.sa_layer_norm(x + a.out_lin(ctx))
            x = layer.output_layer_norm(x + layer.ffn.lin2(F.gelu(layer.ffn.lin1(x))))
        return x

    return forward


def implementations(models: dict, inputs: dict, t_ids, t_mask) -> dict:
    """Name -> a call of each implementation timed, on the same input.

    `inputs` is ours (numpy token_ids and padding_mask); `t_ids` and
    `t_mask` are the same values as torch tensors for HF and plain torch.
    """
    hf, hf_eager, reference, ours = (
        models[k] for k in ("hf", "hf_eager", "reference", "ours")
    )
    return {
        "HF DistilBertModel (sdpa)": lambda: hf(input_ids=t_ids, attention_mask=t_mask),
        "HF eager + attentions + hidden states": lambda: hf_eager(
            input_ids=t_ids,
            attention_mask=t_mask,
            output_attentions=True,
            output_hidden_states=True,
        ),
        "plain torch SDPA": lambda: reference(t_ids, t_mask),
        "ours: backbone(inputs)": lambda: ours(inputs),
        CAPTURE: lambda: de.capture(ours, inputs),
        "ours: capture(layers=[-1], heads=[0])": lambda: de.capture(
            ours, inputs, layers=[-1], heads=[0]
        ),
    }


def time_shape(
    models: dict, batch: int, length: int, padded: bool, rounds: int, device: str
) -> dict[str, list[float]]:
    """Seconds per call of every implementation at one (B, T), every round."""
    rng = np.random.default_rng(batch * 1000 + length)
    ids = rng.integers(0, models["hf"].config.vocab_size, (batch, length)).astype(
        "int32"
    )
    mask = np.ones((batch, length), "int32")
    if padded:
        for row, real in enumerate(np.linspace(16, length, batch).astype(int)):
            mask[row, real:] = 0
    inputs = {"token_ids": ids, "padding_mask": mask}
    t_ids = torch.from_numpy(ids).long().to(device)
    t_mask = torch.from_numpy(mask).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None

    def timed(function):
        def run():
            function()
            sync()

        return run

    calls = implementations(models, inputs, t_ids, t_mask)
    with torch.inference_mode():
        return interleaved_samples(
            {name: timed(f) for name, f in calls.items()}, rounds=rounds
        )


def build_models(device: str, dtype: str, **config: Any) -> dict:
    """HF sdpa, HF eager, plain torch and ours, all on one set of weights.

    `config`: `transformers.DistilBertConfig` arguments; the base uncased
    model when none are given.
    """
    hf_config = transformers.DistilBertConfig(attn_implementation="sdpa", **config)
    hf = transformers.DistilBertModel(hf_config).eval()
    hf_eager = transformers.DistilBertModel(
        transformers.DistilBertConfig(attn_implementation="eager", **config)
    ).eval()
    hf_eager.load_state_dict(hf.state_dict())
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    torch_dtype = getattr(torch, dtype)
    hf, hf_eager = (m.to(device=device, dtype=torch_dtype) for m in (hf, hf_eager))
    with keras.device(device):
        ours = de.DistilBertBackbone(
            **backbone_config(hf_config.to_dict()), dtype=dtype
        )
        assign_weights(ours, backbone_weights(hf_config.to_dict(), state))
    return {
        "hf": hf,
        "hf_eager": hf_eager,
        "reference": plain_torch_sdpa(hf),
        "ours": ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), default="float32"
    )
    args = parser.parse_args()
    if args.rounds < 2:  # quartiles and bootstrap intervals need two
        parser.error(f"--rounds={args.rounds}: allowed: 2 or more (15 unless told)")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            "--device cuda: this torch sees no CUDA device "
            f"(torch {torch.__version__}); allowed here: --device cpu"
        )
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = build_models(args.device, args.dtype)
    print(
        f"torch {torch.__version__}, {args.device}, {args.threads} threads, "
        f"{args.dtype}, median of {args.rounds} interleaved rounds; ratio to HF sdpa"
    )
    names = [f"B={b}, T={t}" + (" padded" if p else "") for b, t, p in SHAPES]
    print(f"{'implementation':<40}" + "".join(f"{n:>20}" for n in names))
    rows: dict[str, list[str]] = {}
    targets: dict[str, list[tuple[str, str]]] = {}
    for batch, length, padded in SHAPES:
        samples = time_shape(models, batch, length, padded, args.rounds, args.device)
        medians = {name: statistics.median(v) for name, v in samples.items()}
        base = medians["HF DistilBertModel (sdpa)"]
        for name, seconds in medians.items():
            cell = f"{seconds * 1e3:.1f} ms ({seconds / base:.2f}x)"
            rows.setdefault(name, []).append(f"{cell:>20}")
        for label, name in (
            ("plain call", "ours: backbone(inputs)"),
            ("capture", CAPTURE),
        ):
            rounds = samples[name]
            quartiles = statistics.quantiles(rounds, n=4)
            for kind, width in (
                ("spread (max - min)", max(rounds) - min(rounds)),
                ("spread (IQR)", quartiles[2] - quartiles[0]),
            ):
                cell = f"{width * 1e3:.1f} ms"
                rows.setdefault(f"{kind}: {label}", []).append(f"{cell:>20}")
        for label, statistic, numerator, denominator, most in TARGETS:
            value, low, high = statistic(samples[numerator], samples[denominator])
            cell = f"{value:.3f} [{low:.2f}, {high:.2f}]"
            targets.setdefault(f"{label} <= {most:.2f}", []).append(
                (cell, verdict(value, low, high, most))
            )
    for name, cells in rows.items():
        print(f"{name:<40}" + "".join(cells))
    print(
        "\nTargets: median of the per-round ratios [95% bootstrap interval]; "
        "within noise = median above the target, interval reaching it"
    )
    print(f"{'target':<40}" + "".join(f"{n:>28}" for n in names))
    for name, cells in targets.items():
        print(f"{name:<40}" + "".join(f"{c:>28}" for c, _ in cells))
        print(f"{'':<40}" + "".join(f"{v:>28}" for _, v in cells))


if __name__ == "__main__":
    main()
