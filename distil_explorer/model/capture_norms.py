"""Norm-weighted maps on the capture path: key lengths collected layer by layer.

The maths is in `model.norms`; this is how a capture gathers it (a callback
per kept layer, the output kernels' Gram matrices cached per backbone) and
multiplies it into the captured weights.
"""

from __future__ import annotations

import weakref

import numpy as np

from distil_explorer.model.buffers import new_buffer
from distil_explorer.model.norms import head_grams, value_norms

# backbone -> (layers, the output kernels' arrays, their head_grams): reused
# while every array is the same object (jax arrays are immutable).
_GRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def norms_collector(heads, into: list, convert, grams=None):
    """A capture walk's `norms` callback appending each kept layer's key lengths.

    `||f_h(x_j)||` (B, len(heads), T), from the layer's own value heads and
    output kernel (`model.norms.value_norms`), after `convert` (to numpy op
    by op; as they are inside a jax program). `grams`: each kept layer's
    `head_grams`, when computed already.
    """
    given = iter(grams or ())

    def collect(value, layer):
        gram = next(given, None)
        lengths = value_norms(value, layer.attention_output, heads, gram)
        into.append(convert(lengths))

    return collect


def output_grams(backbone, layers) -> tuple:
    """Each kept layer's `head_grams`, computed again only when a kernel changed.

    Inside the compiled program they cost 5-10% of a capture at B=1, T=128
    (XLA runs the small batched products slowly); the weights rarely change
    between captures.
    """
    outputs = [backbone.transformer_layers[i].attention_output for i in layers]
    arrays = tuple(v.value for output in outputs for v in output.weights)
    cached = _GRAMS.get(backbone)
    if (
        cached is not None
        and cached[0] == layers
        and len(cached[1]) == len(arrays)
        and all(a is b for a, b in zip(cached[1], arrays, strict=True))
    ):
        return cached[2]
    grams = tuple(head_grams(output, backbone.num_heads) for output in outputs)
    _GRAMS[backbone] = (layers, arrays, grams)
    return grams


def norm_weighted(attention: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`alpha_ij * ||f_h(x_j)||`: the captured maps times each key's length.

    Multiplied here, on the float32 maps the Trace holds: inside the layer
    (a second consumer of the softmax) XLA recomputed the softmax for it,
    1.13-1.27x a plain capture on jax; here 1.0x plus one multiply.
    """
    out = new_buffer(attention.shape)  # recycled memory, as the maps (model.buffers)
    return np.multiply(attention, lengths[:, :, :, None, :], out=out, dtype=np.float32)
