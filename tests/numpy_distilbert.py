"""A float64 numpy DistilBERT read from a transformers state dict: the oracle.

Written from the architecture (post-LayerNorm encoder, exact GELU, eps 1e-12),
with hooks for what the interventions change: a head's gate, a zeroed value
vector, a hidden state swapped in. It shares no code with the package.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

EPS = 1e-12


class NumpyDistilBert:
    """Forward passes of a transformers `DistilBertModel`'s weights, float64."""

    def __init__(self, model):
        self.w = {k: v.double().numpy() for k, v in model.state_dict().items()}
        self.heads = model.config.n_heads
        self.layers = model.config.n_layers
        self.dim = model.config.dim

    def _linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + EPS) * self.w[name + ".weight"] + self.w[
            name + ".bias"
        ]

    def embed(self, ids):
        e = "embeddings."
        x = self.w[e + "word_embeddings.weight"][ids]
        x = x + self.w[e + "position_embeddings.weight"][: ids.shape[1]]
        return self._norm(x, e + "LayerNorm")

    def _split(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.heads, -1).transpose(0, 2, 1, 3)

    def attention(self, depth, x, mask):
        """(probabilities (B, H, T, T), values (B, H, T, hd)) of layer `depth`."""
        p = f"transformer.layer.{depth}.attention."
        q = self._split(self._linear(x, p + "q_lin"))
        k = self._split(self._linear(x, p + "k_lin"))
        v = self._split(self._linear(x, p + "v_lin"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
        scores = scores - scores.max(-1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(-1, keepdims=True), v

    def attention_block(self, depth, x, context):
        """LN1(x + out_lin(merged context)), context (B, H, T, hd)."""
        p = f"transformer.layer.{depth}."
        b, h, t, d = context.shape
        merged = context.transpose(0, 2, 1, 3).reshape(b, t, h * d)
        return self._norm(
            x + self._linear(merged, p + "attention.out_lin"), p + "sa_layer_norm"
        )

    def finish(self, depth, x, context):
        p = f"transformer.layer.{depth}."
        y = self.attention_block(depth, x, context)
        hidden = self._linear(y, p + "ffn.lin1")
        hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
        return self._norm(
            y + self._linear(hidden, p + "ffn.lin2"), p + "output_layer_norm"
        )

    def layer(self, depth, x, mask, gates=None, zero_value=None):
        """One layer; `gates` (B, H) on the heads' outputs; `zero_value` j: the
        value vector of token j set to 0 in every head."""
        probabilities, v = self.attention(depth, x, mask)
        if zero_value is not None:
            v = v.copy()
            v[:, :, zero_value] = 0.0
        context = probabilities @ v
        if gates is not None:
            context = context * gates[:, :, None, None]
        return self.finish(depth, x, context)

    def hidden_states(self, ids, mask, gates=None):
        """L + 1 hidden states; `gates` (L, B, H) or None."""
        states = [self.embed(ids)]
        for depth in range(self.layers):
            g = None if gates is None else gates[depth]
            states.append(self.layer(depth, states[-1], mask, g))
        return states

    def run_from(self, depth, x, mask):
        """Hidden state `depth` -> the last hidden state."""
        for d in range(depth, self.layers):
            x = self.layer(d, x, mask)
        return x

    def out_rows(self, depth):
        """W_O as (hidden in, hidden out) and b_O."""
        p = f"transformer.layer.{depth}.attention.out_lin."
        return self.w[p + "weight"].T, self.w[p + "bias"]

    def ln1(self, depth):
        p = f"transformer.layer.{depth}.sa_layer_norm."
        return self.w[p + "weight"], self.w[p + "bias"]


def cls_norm(hidden):
    """The [CLS] norm target, float64 numpy."""
    return np.sqrt((hidden[:, 0] ** 2).sum(-1))


def normalised(scores, mask):
    """Rows over real tokens summing to 1, padding rows and columns 0."""
    real = mask.astype(bool)
    keep = real[:, :, None] & real[:, None, :]
    scores = np.where(keep, scores, 0.0)
    total = scores.sum(-1, keepdims=True)
    return np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)


def value_zeroing(oracle, ids, mask):
    """(L, B, T, T): T separate recomputations per layer, float64."""
    out = []
    x = oracle.embed(ids)
    for depth in range(oracle.layers):
        y = oracle.layer(depth, x, mask)
        length = ids.shape[1]
        scores = np.zeros((ids.shape[0], length, length))
        for j in range(length):
            z = oracle.layer(depth, x, mask, zero_value=j)
            cos = (
                (y * z).sum(-1)
                / np.linalg.norm(y, axis=-1)
                / np.linalg.norm(z, axis=-1)
            )
            scores[:, :, j] = 1 - cos
        out.append(normalised(scores, mask))
        x = y
    return np.stack(out)


def alti(oracle, ids, mask):
    """(L, B, T, T): ALTI with LayerNorm's own scale, token pair by token pair."""
    out = []
    x = oracle.embed(ids)
    batch, length, dim = x.shape
    heads = oracle.heads
    for depth in range(oracle.layers):
        probabilities, v = oracle.attention(depth, x, mask)
        w_o, b_o = oracle.out_rows(depth)
        gamma, _ = oracle.ln1(depth)
        context = probabilities @ v
        y = oracle.attention_block(depth, x, context)
        merged = context.transpose(0, 2, 1, 3).reshape(batch, length, dim)
        before = x + merged @ w_o + b_o
        scale = np.sqrt(before.var(-1) + EPS)  # (B, T)
        hd = dim // heads
        scores = np.zeros((batch, length, length))
        for b in range(batch):
            for i in range(length):
                for j in range(length):
                    z = np.zeros(dim)
                    for h in range(heads):
                        part = slice(h * hd, (h + 1) * hd)
                        z += probabilities[b, h, i, j] * (v[b, h, j] @ w_o[part])
                    if i == j:
                        z += x[b, i]
                    t = gamma * (z - z.mean()) / scale[b, i]
                    c = np.abs(y[b, i]).sum() - np.abs(y[b, i] - t).sum()
                    scores[b, i, j] = max(c, 0.0)
        out.append(normalised(scores, mask))
        x = oracle.layer(depth, x, mask)
    return np.stack(out)
