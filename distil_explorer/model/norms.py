"""Norm-weighted attention: how much each key actually moves a query's output.

Kobayashi et al. (2020), "Attention is Not Only a Weight": head h adds
`sum_j alpha_ij f_h(x_j)` to query i, with `f_h(x) = (x W_V^h + b_V^h) W_O^h`
(its value projection, then its slice of the output projection). A large
weight on a key whose `f_h(x_j)` is short moves little; `alpha_ij *
||f_h(x_j)||` says how much it moves.

`||v W_O^h||^2 = v G_h v^T` with the head's Gram matrix `G_h = W_O^h
(W_O^h)^T` (head_dim x head_dim): per token that is head_dim^2 work instead
of head_dim x hidden_dim, and no (B, heads, T, hidden) tensor is ever made.
Everything is float32, whatever the model's compute dtype. The capture path
multiplies these lengths into the captured weights (`model.capture`).
"""

from __future__ import annotations

from keras import ops


def output_rows(output) -> object:
    """The output projection as a float32 (input_dim, units) matrix.

    A float `Linear` stores (units, input_dim): its kernel, transposed. A
    quantized one is read through its own call on the identity (each row a
    single 1, which every quantizer keeps exact), less its bias: the kernel
    the layer really multiplies by, whatever the quantization mode.
    """
    if output.quantization_mode is None:
        return ops.transpose(ops.cast(output._kernel.value, "float32"))
    width = output.bias.shape[0]
    eye = ops.eye(width, dtype=output.compute_dtype)
    rows = ops.cast(output.project(eye), "float32")
    return ops.subtract(rows, ops.cast(output.bias.value, "float32"))


def head_grams(output, num_heads: int) -> object:
    """float32 (num_heads, head_dim, head_dim): `W_O^h (W_O^h)^T` of every head.

    They depend on the weights only: the compiled capture path computes them
    once per set of output kernels and passes them in.
    """
    rows = output_rows(output)
    per_head = ops.reshape(rows, (num_heads, ops.shape(rows)[0] // num_heads, -1))
    # As einsums: XLA runs these batched products faster than as
    # broadcasting matmuls.
    return ops.einsum("hde,hfe->hdf", per_head, per_head)


def value_norms(value, output, heads, grams=None) -> object:
    """float32 (B, len(heads), T): `||f_h(x_j)||` for each chosen head and key.

    Args:
        value: (B, num_heads, T, head_dim) backend tensor, the layer's value
            projection `x W_V + b_V`, split into heads.
        output: the layer's attention output `Linear` (W_O).
        heads: tuple of int. The heads to compute, in order.
        grams: None, or `head_grams(output, num_heads)` computed already.
    """
    num_heads = ops.shape(value)[1]
    grams = head_grams(output, num_heads) if grams is None else grams
    value = ops.cast(value, "float32")
    if len(heads) != num_heads:
        index = ops.convert_to_tensor(list(heads), dtype="int32")
        grams = ops.take(grams, index, axis=0)
        value = ops.take(value, index, axis=1)
    projected = ops.einsum("bhtd,hdf->bhtf", value, grams)
    squared = ops.sum(ops.multiply(projected, value), axis=-1)
    # Rounding can take a tiny square just below 0.
    return ops.sqrt(ops.maximum(squared, 0.0))
