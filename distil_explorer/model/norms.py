"""Norm-weighted attention: how much each key actually moves a query's output.

Kobayashi et al. (2020), "Attention is Not Only a Weight": head h adds
`sum_j alpha_ij f_h(x_j)` to query i, with `f_h(x) = (x W_V^h + b_V^h) W_O^h`
(its value projection, then its slice of the output projection). A large
weight on a key whose `f_h(x_j)` is short moves little; `alpha_ij *
||f_h(x_j)||` says how much it moves.

`||v W_O^h||^2 = v G_h v^T` with the head's Gram matrix `G_h = W_O^h
(W_O^h)^T` (head_dim x head_dim): per token that is head_dim^2 work instead
of head_dim x hidden_dim, and no (B, heads, T, hidden) tensor is ever made.
Everything is float32, whatever the model's compute dtype.
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


def value_norms(value, output, heads) -> object:
    """float32 (B, len(heads), T): `||f_h(x_j)||` for each chosen head and key.

    Args:
        value: (B, num_heads, T, head_dim) backend tensor, the layer's value
            projection `x W_V + b_V`, split into heads.
        output: the layer's attention output `Linear` (W_O).
        heads: tuple of int. The heads to compute, in order.
    """
    num_heads, head_dim = ops.shape(value)[1], ops.shape(value)[3]
    rows = output_rows(output)
    per_head = ops.reshape(rows, (num_heads, head_dim, -1))
    value = ops.cast(value, "float32")
    if len(heads) != num_heads:
        index = ops.convert_to_tensor(list(heads), dtype="int32")
        per_head = ops.take(per_head, index, axis=0)
        value = ops.take(value, index, axis=1)
    gram = ops.matmul(per_head, ops.transpose(per_head, (0, 2, 1)))
    squared = ops.sum(ops.multiply(ops.matmul(value, gram), value), axis=-1)
    # Rounding can take a tiny square just below 0.
    return ops.sqrt(ops.maximum(squared, 0.0))


def attention_norms(probabilities, value, output, heads, out=None) -> object:
    """float32 (B, len(heads), T, T): `alpha_ij * ||f_h(x_j)||`, padding keys 0.

    Args:
        probabilities: float32 (B, num_heads, T, T) softmax weights, padding
            keys exactly 0 (so their entries stay exactly 0).
        value: the layer's value heads, as `value_norms` takes them.
        output: the layer's attention output `Linear`.
        heads: tuple of int. The heads to keep.
        out: None, or a float32 torch tensor of the result's shape to write
            into (the capture's numpy buffer); the result is `out` then.
    """
    norms = value_norms(value, output, heads)
    if len(heads) != ops.shape(probabilities)[1]:
        index = ops.convert_to_tensor(list(heads), dtype="int32")
        probabilities = ops.take(probabilities, index, axis=1)
    probabilities = ops.cast(probabilities, "float32")
    if out is not None:
        import torch

        return torch.mul(probabilities, norms[:, :, None, :], out=out)
    return ops.multiply(probabilities, norms[:, :, None, :])
