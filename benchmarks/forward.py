"""Forward-pass latency of our backbone against Hugging Face, torch on CPU.

One process, one set of random weights (the base uncased config) shared by
every implementation; each shape is timed round-robin and reported as a
median in ms and as a ratio to HF DistilBertModel with SDPA attention.

    python benchmarks/forward.py [--rounds 10] [--threads 2]

Targets (issue 2): our plain call <= 1.00x HF, our capture <= 1.05x HF.
Needs `transformers` (the dev extra).
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

import distil_explorer as de  # noqa: E402
from distil_explorer.weights.assign import assign_weights  # noqa: E402
from distil_explorer.weights.transformers_format import (  # noqa: E402
    backbone_config,
    backbone_weights,
)

SHAPES = [(1, 128), (8, 128), (1, 512)]


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


def time_shape(models: dict, batch: int, length: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of every implementation at one (B, T)."""
    hf, hf_eager, reference, ours = (
        models[k] for k in ("hf", "hf_eager", "reference", "ours")
    )
    rng = np.random.default_rng(batch * 1000 + length)
    ids = rng.integers(0, hf.config.vocab_size, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    inputs = {"token_ids": ids, "padding_mask": mask}
    t_ids, t_mask = torch.from_numpy(ids).long(), torch.from_numpy(mask)
    with torch.inference_mode():
        return interleaved_medians(
            {
                "HF DistilBertModel (sdpa)": lambda: hf(
                    input_ids=t_ids, attention_mask=t_mask
                ),
                "HF eager + attentions + hidden states": lambda: hf_eager(
                    input_ids=t_ids,
                    attention_mask=t_mask,
                    output_attentions=True,
                    output_hidden_states=True,
                ),
                "plain torch SDPA": lambda: reference(t_ids, t_mask),
                "ours: backbone(inputs)": lambda: ours(inputs),
                "ours: capture(backbone, inputs)": lambda: de.capture(ours, inputs),
            },
            rounds=rounds,
        )


def build_models() -> dict:
    """HF sdpa, HF eager, plain torch and ours, all on one set of weights."""
    config = transformers.DistilBertConfig(attn_implementation="sdpa")
    hf = transformers.DistilBertModel(config).eval()
    hf_eager = transformers.DistilBertModel(
        transformers.DistilBertConfig(attn_implementation="eager")
    ).eval()
    hf_eager.load_state_dict(hf.state_dict())
    ours = de.DistilBertBackbone(**backbone_config(config.to_dict()))
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    assign_weights(ours, backbone_weights(config.to_dict(), state))
    return {
        "hf": hf,
        "hf_eager": hf_eager,
        "reference": plain_torch_sdpa(hf),
        "ours": ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = build_models()
    print(
        f"torch {torch.__version__}, {args.threads} threads, fp32, "
        f"median of {args.rounds} interleaved rounds; ratio to HF sdpa"
    )
    print(
        f"{'implementation':<40}" + "".join(f"{f'B={b}, T={t}':>20}" for b, t in SHAPES)
    )
    rows: dict[str, list[str]] = {}
    for batch, length in SHAPES:
        medians = time_shape(models, batch, length, args.rounds)
        base = medians["HF DistilBertModel (sdpa)"]
        for name, seconds in medians.items():
            cell = f"{seconds * 1e3:.1f} ms ({seconds / base:.2f}x)"
            rows.setdefault(name, []).append(f"{cell:>20}")
    for name, cells in rows.items():
        print(f"{name:<40}" + "".join(cells))


if __name__ == "__main__":
    main()
