"""Context mixing, layer by layer: value zeroing and ALTI on backend tensors.

The backend half of `distil_explorer.context_mixing`. Each measure runs one
encoder layer on its input `x` (B, T, D) and returns the layer's output (the
next layer's input) with raw, unnormalised scores (B, T, T) as float32
numpy: row i, column j says how much token j shapes token i's output.
The numpy driver (`distil_explorer.mixing`) normalises rows and zeroes
padding.

- Value zeroing (Mohebbi et al. 2023): the layer's output recomputed with
  token j's value vector (its bias included) set to zero in every head,
  attention weights and the residual unchanged; the score is the cosine
  distance between token i's outputs with and without. Zeroing value j
  removes `alpha_hij v_hj` from each head's output for query i, so the heads'
  outputs of all T zeroings are the layer's own minus one term each: the T
  recomputations of the rest of the layer (`finish`) run as one batch of
  B * T sequences, and no attention is computed twice.
- ALTI (Ferrando et al. 2022): see `alti_layer`.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from distil_explorer.model import kernels
from distil_explorer.model.norms import output_rows


def _attention(layer, x, padding_mask):
    """The layer's float32 attention probabilities and its value heads."""
    query = layer._heads(x, layer.query)
    key = layer._heads(x, layer.key)
    value = layer._heads(x, layer.value)
    keep = kernels.key_mask(padding_mask)
    return kernels.attention_probabilities(query, key, keep), value


def value_zeroing_layer(layer, x, padding_mask):
    """(layer output (B, T, D), cosine distances (B, T, T) backend tensor).

    Distance (b, i, j): 1 - cos(output_i, output_i with value j zeroed),
    computed as half the squared distance of the unit vectors, which keeps
    its precision when the two outputs are close.
    """
    probabilities, value = _attention(layer, x, padding_mask)
    context = kernels.attend(probabilities, value)
    out = layer.finish(x, context)
    batch, heads, length, head_dim = ops.shape(value)
    weights = ops.cast(ops.transpose(probabilities, (0, 3, 1, 2)), value.dtype)
    values = ops.transpose(value, (0, 2, 1, 3))[:, :, :, None, :]
    # (B, j, heads, i, hd): each head's output for query i without key j.
    zeroed = ops.subtract(context[:, None], weights[..., None] * values)
    zeroed = ops.reshape(zeroed, (batch * length, heads, length, head_dim))
    repeated = ops.repeat(x, length, axis=0)
    recomputed = layer.finish(repeated, zeroed)
    recomputed = ops.reshape(recomputed, (batch, length, length, -1))
    unit = _unit(ops.cast(out, "float32"))[:, None]
    moved = ops.subtract(unit, _unit(ops.cast(recomputed, "float32")))
    distance = 0.5 * ops.sum(ops.square(moved), axis=-1)  # (B, j, i)
    return out, ops.transpose(distance, (0, 2, 1))


def _unit(x):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, 1e-30)


def alti_layer(layer, x, padding_mask):
    """(layer output (B, T, D), ALTI contributions (B, T, T) backend tensor).

    The attention block's output `y_i = LN(x_i + sum_h sum_j alpha_hij
    f_h(x_j) + b_O)`, with `f_h(x) = (x W_V^h + b_V^h) W_O^h`, splits into
    one vector per source token, `T_i(x_j) = gamma * center(z_ij) / s_i`, with
    `z_ij = sum_h alpha_hij f_h(x_j) + [i = j] x_i` (the residual goes to the
    token itself), `center` LayerNorm's mean subtraction and
    `s_i = sqrt(var(x_i + attention_i) + epsilon)` LayerNorm's own scale;
    the output bias and beta stay in `y_i`, credited to no token. The
    contribution is `max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1)`.

    The authors' reference code (mt-upc/transformer-contributions,
    `src/contributions.py`) scales by the standard deviation of
    `x_i + attention_i + epsilon` instead (epsilon added to the vector, not
    to its variance); this follows the LayerNorm the model runs, so that
    the parts add up to the block's real output.
    """
    probabilities, value = _attention(layer, x, padding_mask)
    context = kernels.attend(probabilities, value)
    y = ops.cast(layer.attention_block(x, context), "float32")
    out = layer.finish(x, context)
    heads, length = ops.shape(value)[1], ops.shape(x)[1]
    rows = output_rows(layer.attention_output)  # (hidden in, hidden out)
    per_head = ops.reshape(rows, (heads, ops.shape(rows)[0] // heads, -1))
    projected = ops.einsum("bhjd,hde->bhje", ops.cast(value, "float32"), per_head)
    parts = ops.einsum("bhij,bhje->bije", probabilities, projected)
    eye = ops.eye(length, dtype="float32")[None, :, :, None]
    x32 = ops.cast(x, "float32")
    parts = parts + eye * x32[:, :, None, :]
    before = x32 + ops.cast(
        layer.attention_output.project(kernels.merge_heads(context)), "float32"
    )
    scale = ops.sqrt(ops.var(before, axis=-1) + kernels.LAYER_NORM_EPSILON)
    gamma = ops.cast(layer.attention_layer_norm.gamma.value, "float32")
    centered = parts - ops.mean(parts, axis=-1, keepdims=True)
    transformed = gamma * centered / scale[:, :, None, None]
    size = ops.sum(ops.abs(y), axis=-1)[:, :, None]
    rest = ops.sum(ops.abs(y[:, :, None, :] - transformed), axis=-1)
    return out, ops.maximum(size - rest, 0.0)


MEASURES = {"value_zeroing": value_zeroing_layer, "alti": alti_layer}

# Value zeroing recomputes T copies of each sequence: its feed-forward holds
# (T, T, intermediate_dim) floats per sequence (0.8 GB for one sequence of
# T=256 at base size). Sequences go through in groups under this budget,
# each group a batch of (its sequences x T), at least one sequence at a time.
CHUNK_BYTES = 1 << 30


def sequences_per_call(backbone, length: int) -> int:
    """How many sequences one value-zeroing (or ALTI) call takes at once."""
    width = max(backbone.intermediate_dim, backbone.hidden_dim)
    return max(1, CHUNK_BYTES // (length * length * width * 4))


def mixing_scores(backbone, token_ids, padding_mask, method: str) -> np.ndarray:
    """Raw scores of every layer, float32 numpy (L, B, T, T).

    Each layer runs on the output the measure itself computed for the layer
    below (explicit attention; equal to the plain call to float32 rounding).
    """
    from distil_explorer.model.interventions import inference, numpy_of

    measure = MEASURES[method]
    batch, length = np.shape(token_ids)
    step = sequences_per_call(backbone, length)
    scores = np.zeros((backbone.num_layers, batch, length, length), np.float32)
    with inference():
        for start in range(0, batch, step):
            rows = slice(start, start + step)
            ids = ops.convert_to_tensor(token_ids[rows], dtype="int32")
            mask = ops.convert_to_tensor(padding_mask[rows], dtype="int32")
            x = backbone.embeddings(ids, training=False)
            for depth, layer in enumerate(backbone.transformer_layers):
                x, found = measure(layer, x, mask)
                scores[depth, rows] = numpy_of(found)
    return scores
