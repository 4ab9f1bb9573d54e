"""Gradients of a target through a backbone, from its token embedding vectors.

The backend half of `distil_explorer.attribute`. The input that gets the
credit is the rows the token embedding table gives for the ids (B, T, D);
the rest of the embeddings layer (positions, LayerNorm) and every encoder
layer run on top of them as in the plain call. On torch the attributions are
Captum's (`InputXGradient`, `IntegratedGradients`); on jax they are
`jax.grad` of one compiled program, with the weights as its arguments and
the same Gauss-Legendre rule Captum uses, so both backends agree.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
from keras import ops

from distil_explorer.model.memory import attribution_estimate
from distil_explorer.model.memory_limit import available_memory
from distil_explorer.model.tensors import to_numpy

METHODS = ("gradient_x_input", "integrated_gradients", "attention_x_gradient")
BACKENDS = ("torch", "jax")
# Integrated gradients runs its steps in chunks of at most this much memory
# (by `model.memory`'s estimate): several sequences per chunk even on a base
# model at 128 tokens, and little next to the model's own weights.
IG_CHUNK_BYTES = 128 * 2**20


def sequences_that_fit(backbone, length: int, budget: int, *, maps: bool) -> int:
    """How many sequences of `length` tokens one gradient pass can take in `budget`.

    From `model.memory.attribution_estimate` (linear in the sequences); at
    least 1, since one sequence is what the caller asked for. `maps`: the
    backend materializes attention maps (every backend but torch).

    Examples:
    ```python
    sequences_that_fit(backbone, 128, 2**30, maps=False)  # e.g. 11 on base
    ```
    """
    one = attribution_estimate(backbone, 1, length, sequences=1, maps=maps).total
    return max(1, int(budget) // one)


def steps_per_chunk(
    backbone, batch: int, length: int, steps: int, *, maps: bool = False
) -> int:
    """How many integration steps of `batch` sequences run in one pass.

    Memory then follows the chunk, not `steps`: at most `IG_CHUNK_BYTES`, and
    at most half of what this process can still get (`model.memory_limit`),
    so a run that fits in smaller chunks runs instead of being refused; at
    least 1.

    Examples:
    ```python
    steps_per_chunk(backbone, batch=2, length=128, steps=1024)
    ```
    """
    available, _ = available_memory()
    budget = (
        IG_CHUNK_BYTES if available is None else min(IG_CHUNK_BYTES, available // 2)
    )
    fit = sequences_that_fit(backbone, length, budget, maps=maps)
    return max(1, min(int(steps), fit // max(1, int(batch))))


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in [0, 1] and their weights (summing to 1): Captum's rule."""
    points, weights = np.polynomial.legendre.leggauss(steps)
    return 0.5 * (1 + points), 0.5 * weights


def forward(backbone, vectors, padding_mask, shifts=None):
    """The last hidden state from token embedding vectors.

    With `shifts` (one zero tensor per layer, (B, heads, T, T)), each layer
    adds its shift to its attention maps, and the maps come back too.
    """
    x = backbone.embeddings.from_token_vectors(vectors, training=False)
    maps = []
    for i, layer in enumerate(backbone.transformer_layers):
        if shifts is None:
            x = layer(x, padding_mask, training=False)
            continue
        x, probabilities = layer(
            x,
            padding_mask,
            training=False,
            return_attention=True,
            attention_shift=shifts[i],
        )
        maps.append(probabilities)
    return (x, maps) if shifts is not None else x


def target_of(target, hidden, padding_mask):
    """`target(hidden)` (or with the mask, for targets that ask), checked (B,)."""
    if getattr(target, "takes_padding_mask", False):
        value = target(hidden, padding_mask)
    else:
        value = target(hidden)
    batch = hidden.shape[0]
    shape = tuple(getattr(value, "shape", ()))
    if shape != (batch,):
        raise ValueError(
            f"target returned shape={shape}: allowed: a callable from the last "
            f"hidden state (B, T, D) = {tuple(hidden.shape)} to (B,) = ({batch},), "
            "in keras.ops"
        )
    return ops.cast(value, "float32")


def token_attributions(
    backbone,
    token_ids: np.ndarray,
    padding_mask: np.ndarray,
    replace: np.ndarray,
    target,
    method: str,
    steps: int,
    baseline_id: int | None,
) -> dict[str, np.ndarray]:
    """Scores (B, T), target_value (B,) and baseline_value (B,) as numpy.

    The baseline is the input with the vector at each `replace` (B, T) bool
    position swapped for the table's row `baseline_id` (the [PAD] token), or
    for zeros when `baseline_id` is None; every other position keeps its own
    vector. Scores at padding are set to exactly 0.
    """
    table = backbone.token_embedding.embeddings
    ids = ops.convert_to_tensor(token_ids, dtype="int32")
    vectors = to_numpy(ops.take(table.value, ids, axis=0)).astype("float32")
    if baseline_id is None:
        row = np.zeros(vectors.shape[-1], "float32")
    else:
        pad = ops.convert_to_tensor(np.asarray([baseline_id]), dtype="int32")
        row = to_numpy(ops.take(table.value, pad, axis=0))[0].astype("float32")
    start = np.where(replace[..., None], row, vectors).astype("float32")
    run = _torch if keras.backend.backend() == "torch" else _jax
    scores, value, base = run(
        backbone, vectors, start, padding_mask, target, method, steps
    )
    scores = np.where(padding_mask.astype(bool), scores, 0.0).astype("float32")
    return {"scores": scores, "target_value": value, "baseline_value": base}


def _torch(backbone, vectors, start, padding_mask, target, method, steps):
    import torch

    try:
        from captum.attr import InputXGradient, IntegratedGradients
    except ImportError:
        raise ImportError(
            "attribute on torch needs captum: pip install 'distil-explorer"
            "[attribution]' (or run it on jax, which needs nothing more)"
        ) from None

    def f(v, m):
        return target_of(target, forward(backbone, v, m), m)

    v = ops.convert_to_tensor(vectors)
    s = ops.convert_to_tensor(start)
    m = ops.convert_to_tensor(padding_mask, dtype="int32")
    with torch.no_grad():
        value, base = to_numpy(f(v, m)), to_numpy(f(s, m))
    with torch.enable_grad():
        if method == "integrated_gradients":
            batch, length = padding_mask.shape
            chunk = steps_per_chunk(backbone, batch, length, steps)
            found = IntegratedGradients(f).attribute(
                v,
                baselines=s,
                additional_forward_args=(m,),
                n_steps=steps,
                method="gausslegendre",
                internal_batch_size=chunk * batch,
            )
        elif method == "gradient_x_input":
            found = InputXGradient(f).attribute(
                v.clone().requires_grad_(), additional_forward_args=(m,)
            )
        else:
            found = _torch_attention_x_gradient(backbone, v, m, target)
            return to_numpy(found), value, base
    return to_numpy(found.sum(-1)), value, base


def _torch_attention_x_gradient(backbone, v, m, target):
    import torch

    batch, length = m.shape
    shape = (batch, backbone.num_heads, length, length)
    shifts = [
        torch.zeros(shape, device=v.device, requires_grad=True)
        for _ in backbone.transformer_layers
    ]
    with torch.enable_grad():
        hidden, maps = forward(backbone, v, m, shifts)
        grads = torch.autograd.grad(target_of(target, hidden, m).sum(), shifts)
    # alpha * d target / d alpha, summed over layers, heads and queries: what
    # flows into each key token.
    return sum((a * g).sum(dim=(1, 2)) for a, g in zip(maps, grads, strict=True))


def _jax(backbone, vectors, start, padding_mask, target, method, steps):
    import jax
    import jax.numpy as jnp

    weights = backbone.weights
    values = [variable.value for variable in weights]
    mask = jnp.asarray(padding_mask, dtype="int32")

    def f(values, v, m, shifts=None):
        with keras.StatelessScope(
            state_mapping=list(zip(weights, values, strict=True))
        ):
            out = forward(backbone, v, m, shifts)
            hidden, maps = out if shifts is not None else (out, None)
            return target_of(target, hidden, m), maps

    value_of = jax.jit(lambda values, v, m: f(values, v, m)[0])
    value = np.asarray(value_of(values, vectors, mask))
    base = np.asarray(value_of(values, start, mask))
    if method == "attention_x_gradient":
        scores = jax.jit(functools.partial(_jax_attention_x_gradient, f, backbone))(
            values, jnp.asarray(vectors), mask
        )
        return np.asarray(scores), value, base
    grad = jax.jit(jax.grad(lambda values, v, m: f(values, v, m)[0].sum(), 1))
    if method == "gradient_x_input":
        return np.asarray((grad(values, vectors, mask) * vectors).sum(-1)), value, base
    return (
        _jax_integrated(backbone, grad, values, vectors, start, mask, steps),
        value,
        base,
    )


def _jax_integrated(backbone, grad, values, vectors, start, mask, steps):
    """Captum's Gauss-Legendre rule, `steps_per_chunk` steps per compiled call.

    Step-major within a chunk, as Captum batches them; the last chunk is
    padded with zero-weight points so every call has one shape (one compile).
    """
    import jax.numpy as jnp

    alphas, sizes = gauss_legendre(steps)
    batch, length, dim = vectors.shape
    chunk = steps_per_chunk(backbone, batch, length, steps, maps=True)
    padded = -(-steps // chunk) * chunk
    alphas = np.pad(alphas, (0, padded - steps)).astype("float32")
    sizes = np.pad(sizes, (0, padded - steps)).astype("float32")
    difference = vectors - start
    masks = jnp.tile(mask, (chunk, 1))
    mean = jnp.zeros(vectors.shape, "float32")
    for first in range(0, padded, chunk):
        part = alphas[first : first + chunk, None, None, None]
        points = (start[None] + part * difference).reshape(chunk * batch, length, dim)
        grads = grad(values, points, masks).reshape(chunk, batch, length, dim)
        mean = mean + jnp.tensordot(jnp.asarray(sizes[first : first + chunk]), grads, 1)
    return np.asarray((mean * difference).sum(-1))


def _jax_attention_x_gradient(f, backbone, values, v, m):
    import jax
    import jax.numpy as jnp

    batch, length = m.shape
    shape = (batch, backbone.num_heads, length, length)
    shifts = [jnp.zeros(shape, "float32") for _ in backbone.transformer_layers]

    def total(shifts):
        value, maps = f(values, v, m, shifts)
        return value.sum(), maps

    grads, maps = jax.grad(total, has_aux=True)(shifts)
    return sum((a * g).sum(axis=(1, 2)) for a, g in zip(maps, grads, strict=True))


def reference_embedding(backbone, inputs: dict[str, Any]) -> np.ndarray:
    """Mean-pooled last hidden states (B, D) over real tokens, float32 numpy."""
    hidden = to_numpy(ops.cast(backbone(inputs), "float32"))
    mask = np.asarray(inputs["padding_mask"], "float32")[..., None]
    return ((hidden * mask).sum(1) / mask.sum(1)).astype("float32")
