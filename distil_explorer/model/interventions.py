"""Causal tests on backend tensors: patched hidden states and gated heads.

The backend half of `distil_explorer.patch_activations` and
`distil_explorer.head_importance`. Targets are read in one place,
`gradients.target_of` (the last hidden state (B, T, D) and padding mask to
(B,)): a target built on a task model's head plugs in there.

- Patching: every hidden state l (0 = the embeddings' output) at every
  position t of the corrupted run is swapped for the clean run's, and the
  run continues from layer l + 1. The runs are batched layer by layer: layer
  k runs once, on every run patched at a depth <= k, so the (L + 1) x T runs
  cost T L (L + 1) / 2 sequence-layers, half a plain pass over as many
  sequences.
- Gates: head h of layer l has its output (before the output projection)
  multiplied by g_lh (`DistilBertEncoderLayer(head_gates=...)`).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from distil_explorer.model.gradients import target_of
from distil_explorer.model.tensors import to_numpy


def inference():
    """A context without autograd on torch (nothing else needs one)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def numpy_of(x) -> np.ndarray:
    """A backend tensor as float32 numpy."""
    return np.asarray(to_numpy(ops.cast(x, "float32")), np.float32)


def _tensors(token_ids, padding_mask):
    return (
        ops.convert_to_tensor(np.asarray(token_ids), dtype="int32"),
        ops.convert_to_tensor(np.asarray(padding_mask), dtype="int32"),
    )


def gates_of(backbone, ablate: tuple) -> dict:
    """{layer: (1, H) gates, 0 at the ablated heads} for (layer, head) pairs."""
    gates = {}
    for layer in sorted({layer for layer, _ in ablate}):
        row = np.ones((1, backbone.num_heads), "float32")
        row[0, [head for depth, head in ablate if depth == layer]] = 0.0
        gates[layer] = ops.convert_to_tensor(row)
    return gates


def hidden_states(backbone, ids, mask, gates=None) -> list:
    """Every hidden state, embeddings output first (L + 1 backend tensors);
    `gates` as `gates_of` makes them (None: every head on)."""
    gates = gates or {}
    states = [backbone.embeddings(ids, training=False)]
    for depth, layer in enumerate(backbone.transformer_layers):
        gate = gates.get(depth)
        states.append(layer(states[-1], mask, training=False, head_gates=gate))
    return states


def patched_targets(
    backbone, clean_ids, corrupted_ids, padding_mask, target, ablate=()
):
    """(patched (L + 1, T), clean (), corrupted ()) target values, float32 numpy.

    One sequence each: ids and mask are (1, T). Row l, column t: the
    corrupted run with hidden state l at position t taken from the clean run.
    Every run has the heads `ablate` names switched off ((layer, head) pairs).
    """
    gates = gates_of(backbone, ablate)
    clean_ids, mask = _tensors(clean_ids, padding_mask)
    corrupted_ids, _ = _tensors(corrupted_ids, padding_mask)
    length = int(ops.shape(mask)[1])
    swap = ops.eye(length, dtype="bool")[:, :, None]  # run t swaps position t
    with inference():
        clean = hidden_states(backbone, clean_ids, mask, gates)
        corrupted = hidden_states(backbone, corrupted_ids, mask, gates)

        def patched(depth):  # (T, T, D): T runs, each with one position swapped
            return ops.where(swap, clean[depth], corrupted[depth])

        running = None
        for depth, layer in enumerate(backbone.transformer_layers):
            fresh = patched(depth)
            running = fresh if running is None else ops.concatenate([running, fresh])
            rows = ops.shape(running)[0]
            running = layer(
                running,
                ops.repeat(mask, rows, axis=0),
                training=False,
                head_gates=gates.get(depth),
            )
        last = len(backbone.transformer_layers)
        final = ops.concatenate([running, patched(last)])
        rows = ops.shape(final)[0]
        values = target_of(target, final, ops.repeat(mask, rows, axis=0))
        ends = ops.concatenate([clean[-1], corrupted[-1]])
        both = target_of(target, ends, ops.repeat(mask, 2, axis=0))
    found = numpy_of(values).reshape(last + 1, length)
    clean_value, corrupted_value = numpy_of(both)
    return found, clean_value, corrupted_value


def gated_target(backbone, ids, mask, target, gates, start=0, x=None):
    """The target with `gates` (one (B, H) tensor or None per layer).

    From the token ids, or from hidden state `x` at depth `start`.
    """
    return target_of(target, gated_states(backbone, ids, mask, gates, start, x), mask)


def gated_states(backbone, ids, mask, gates, start=0, x=None):
    """The last hidden state with `gates`, as `gated_target` runs it."""
    if x is None:
        x = backbone.embeddings(ids, training=False)
    layers = backbone.transformer_layers
    for depth in range(start, len(layers)):
        x = layers[depth](x, mask, training=False, head_gates=gates[depth])
    return x


def ablation_sums(backbone, token_ids, padding_mask, target) -> np.ndarray:
    """float64 (L, H): sum over the batch of target(head off) - target.

    Layer l's ablations start from its input, computed once: the batch is
    repeated H times, row (b, h) with head h's gate at 0. The target reads
    the B rows of one head at a time, so that a target with one row of its
    own per input (`similarity_target` with one text per input) lines up.
    """
    ids, mask = _tensors(token_ids, padding_mask)
    heads = backbone.num_heads
    batch = int(ops.shape(ids)[0])
    layers = backbone.transformer_layers
    off = ops.convert_to_tensor(np.tile(1 - np.eye(heads, dtype="float32"), (batch, 1)))
    repeated = ops.repeat(mask, heads, axis=0)
    sums = np.zeros((len(layers), heads))
    with inference():
        states = hidden_states(backbone, ids, mask)
        plain = numpy_of(target_of(target, states[-1], mask)).astype(np.float64)
        for depth in range(len(layers)):
            gates = [None] * len(layers)
            gates[depth] = off
            x = ops.repeat(states[depth], heads, axis=0)
            last = gated_states(backbone, None, repeated, gates, depth, x)
            for head in range(heads):
                found = target_of(target, last[head::heads], mask)
                sums[depth, head] = (numpy_of(found).astype(np.float64) - plain).sum()
    return sums


def gate_gradients(backbone, target):
    """A function (token_ids, padding_mask) -> float64 (L, H): the sum over
    the batch of |d target / d g_lh| at g = 1.

    Each sequence has its own gates, so one backward pass gives every
    sequence's own gradient. On jax the function is one compiled program,
    made once here (it compiles again only for a new shape).
    """
    run = _torch_gate_gradients if keras.backend.backend() == "torch" else None
    if run is None:
        run = _jax_gate_gradients(backbone, target)

    def sums(token_ids, padding_mask) -> np.ndarray:
        ids, mask = _tensors(token_ids, padding_mask)
        shape = (backbone.num_layers, int(ops.shape(ids)[0]), backbone.num_heads)
        grads = run(backbone, ids, mask, target, shape)
        return np.abs(np.asarray(grads, np.float64)).sum(1)

    return sums


def _torch_gate_gradients(backbone, ids, mask, target, shape):
    import torch

    gates = torch.ones(shape, device=ids.device, requires_grad=True)
    with torch.enable_grad():
        value = gated_target(backbone, ids, mask, target, list(gates))
        (grads,) = torch.autograd.grad(value.sum(), gates)
    return grads.detach().cpu().numpy()


def _jax_gate_gradients(backbone, target):
    import jax
    import jax.numpy as jnp

    weights = backbone.weights

    def total(values, gates, ids, mask):
        state = list(zip(weights, values, strict=True))
        with keras.StatelessScope(state_mapping=state):
            value = gated_target(backbone, ids, mask, target, list(gates))
        return value.sum()

    program = jax.jit(jax.grad(total, argnums=1))

    def run(backbone, ids, mask, target, shape):
        values = [variable.value for variable in weights]
        return np.asarray(program(values, jnp.ones(shape, "float32"), ids, mask))

    return run
