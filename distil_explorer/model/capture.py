"""The capture path: run a backbone layer by layer and keep what it computed."""

from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from distil_explorer.checks import checked_heads, checked_selection
from distil_explorer.config import CONFIG_FIELDS
from distil_explorer.model import kernels
from distil_explorer.model.buffers import new_buffer
from distil_explorer.model.capture_norms import (
    norm_weighted,
    norms_collector,
    output_grams,
)
from distil_explorer.model.interventions import gates_of
from distil_explorer.model.tensors import device_of, to_numpy
from distil_explorer.model.validation import check_inputs


def _inference_context():
    # Keras leaves autograd on for eager torch calls; a capture never needs
    # gradients, and recording them costs time and memory.
    if keras.backend.backend() == "torch":
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def _shares_memory(like) -> bool:
    """Whether tensors like `like` can be written straight into numpy memory.

    Only torch on CPU shares memory with numpy; elsewhere (an accelerator,
    another backend) the maps are computed on the device and copied after.
    """
    return keras.backend.backend() == "torch" and like.device.type == "cpu"


def _writable(target: np.ndarray, like):
    """`target` as a tensor the layer can write its maps into, or None."""
    if not _shares_memory(like):
        return None
    import torch

    return torch.from_numpy(target)


def _walk(
    backbone,
    token_ids,
    padding_mask,
    layers,
    keep_qk,
    out=None,
    norms=None,
    skipped=None,
    gates=(),
):
    """Run every layer, yielding (hidden state, maps, queries, keys).

    The first item is the embeddings output. Maps, queries and keys are
    (B, heads, T, ...) backend tensors for the `layers` chosen, else None;
    queries and keys only with `keep_qk` (the same variables, projected once
    more). `out(i, x)` may give a tensor for kept layer i's maps to be
    written into. `skipped(x)` may give one for a layer whose maps are not
    kept: that layer then computes them into it, explicitly, instead of
    taking fused attention (see `_capture_eager`). `norms(value, layer)`,
    when given, is called for each kept layer before its item is yielded,
    with the value heads that layer computed (see `norms_collector`).
    `gates` maps a layer to its `head_gates` (`model.interventions.gates_of`).
    Eager on torch, each layer's `call` runs without `Layer.__call__`
    (`DistilBertBackbone._calls_layers_directly`), reading its variables
    directly (`kernels.direct_reads`).
    Both capture paths, eager and compiled, walk this way.
    """
    direct = backbone._calls_layers_directly()

    def run(layer):
        if not direct:
            return layer

        def call(*args, **kwargs):
            with kernels.direct_reads():
                return layer.call(*args, **kwargs)

        return call

    x = run(backbone.embeddings)(token_ids, training=False)
    yield x, None, None, None
    for i, layer in enumerate(backbone.transformer_layers):
        gated = {"head_gates": gates[i]} if i in gates else {}
        if i not in layers:
            scratch = None if skipped is None else skipped(x)
            if scratch is None:
                x = run(layer)(x, padding_mask, training=False, **gated)
            else:
                x, _ = run(layer)(
                    x,
                    padding_mask,
                    training=False,
                    return_attention=True,
                    attention_out=scratch,
                    **gated,
                )
            yield x, None, None, None
            continue
        query = layer._heads(x, layer.query) if keep_qk else None
        key = layer._heads(x, layer.key) if keep_qk else None
        target = None if out is None else out(layers.index(i), x)
        outputs = run(layer)(
            x,
            padding_mask,
            training=False,
            return_attention=True,
            attention_out=target,
            return_values=norms is not None,
            **gated,
        )
        x, probabilities = outputs[:2]
        if norms is not None:
            norms(outputs[2], layer)
        yield x, probabilities, query, key


# Sequences up to this length compute the attention of layers whose maps are
# not kept explicitly, as kept layers do (see `skipped` in `_capture_eager`).
EXPLICIT_UP_TO = 128


def _capture_eager(
    backbone, token_ids, padding_mask, layers, heads, keep_qk, norms=None, ablate=()
):
    """The layer loop op by op; each kept map goes into one numpy array.

    Returns hidden states, maps, queries and keys (None unless `keep_qk`) as
    float32 numpy, and the device the model ran on. `norms`: a list that
    receives each kept layer's key lengths (see `norms_collector`).
    """
    all_heads = len(heads) == backbone.num_heads
    # Keras casts a layer's float tensor arguments to its compute dtype, so
    # only a float32 layer can be handed the float32 buffer to write into.
    float32 = backbone.dtype_policy.compute_dtype == "float32"
    batch, length = ops.shape(token_ids)
    # Recycled memory (model/buffers.py): fresh 75 MB of maps cost up to 40%
    # of a T=512 capture in first-touch faults on virtual machines.
    attention = new_buffer((len(layers), batch, len(heads), length, length))
    hidden = new_buffer(
        (len(backbone.transformer_layers) + 1, batch, length, backbone.hidden_dim)
    )
    queries, keys = [], []

    def kept(x):  # (B, heads, T, d) -> the chosen heads, as float32 numpy
        x = to_numpy(kernels.float32(x))
        return x if all_heads else x[:, heads]

    given = {}  # kept layer -> the tensor view of its slot in `attention`
    scratch = []  # a tensor on one recycled (B, heads, T, T) block, when needed

    def scratch_block(x):
        if not _shares_memory(x):  # the layer would not write into it
            return None
        if not scratch:
            shape = (batch, backbone.num_heads, length, length)
            scratch.append(_writable(new_buffer(shape), x))
        return scratch[0]

    def out(position, x):
        if not float32:
            return None
        if all_heads:
            given[position] = _writable(attention[position], x)
            return given[position]
        # The layer computes every head; its maps go into recycled memory
        # too (a fresh 12.6 MB per call at T=512 pays first-touch faults),
        # and the chosen heads are copied out before the next layer runs.
        return scratch_block(x)

    def skipped(x):
        # Up to T=128, explicit attention into memory already touched beats
        # the fused kernel on CPU: 0.82-0.90x SDPA's time for (1, 12, 128, 64)
        # heads, 0.79-0.95x at 8 x 128, but 1.0x at T=256 and 1.2-1.3x at
        # T=512 (benchmarks/attention_kernels.py; 2-core AVX2 VM, torch 2.13).
        # So a layer whose maps are not kept computes them into the scratch
        # block there, and a capture of some layers does no more work than a
        # full one (and gives the very numbers of its slice of one).
        if not float32 or length > EXPLICIT_UP_TO:
            return None
        return scratch_block(x)

    with _inference_context():
        collect = None if norms is None else norms_collector(heads, norms, to_numpy)
        gates = gates_of(backbone, ablate)
        walk = _walk(
            backbone,
            token_ids,
            padding_mask,
            layers,
            keep_qk,
            out,
            collect,
            skipped,
            gates,
        )
        position = -1
        for depth, (x, probabilities, query, key) in enumerate(walk):
            hidden[depth] = to_numpy(kernels.float32(x))
            if probabilities is None:
                continue
            position += 1
            if keep_qk:
                queries.append(kept(query))
                keys.append(kept(key))
            target = given.get(position)
            if target is None or probabilities.data_ptr() != target.data_ptr():
                attention[position] = kept(probabilities)
        device = device_of(x)
    if not keep_qk:
        return hidden, attention, None, None, device
    return hidden, attention, _stacked(queries), _stacked(keys), device


def _stacked(arrays):
    """`np.stack(arrays)` into recycled memory."""
    out = new_buffer((len(arrays), *arrays[0].shape))
    for i, array in enumerate(arrays):
        out[i] = array
    return out


# backbone -> {(layers, heads, keep_qk, keep_norms): jitted capture}; jax.jit
# itself keeps one compiled program per input shape.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _capture_compiled(
    backbone, token_ids, padding_mask, layers, heads, keep_qk, norms=None, ablate=()
):
    """The layer loop as one jax.jit program, with the weights as arguments.

    Op by op, jax compiles every operation for every new shape: a base
    model's first capture at T=128 took 2.2 s and later ones 0.20 s; as one
    program, 0.9 s and 0.09 s. Same values, same returns as `_capture_eager`.
    """
    import jax

    programs = _COMPILED.setdefault(backbone, {})
    key = (layers, heads, keep_qk, norms is not None, ablate)
    if key not in programs:
        # A weak reference: the cache must not keep its own key alive.
        forward = functools.partial(_forward, weakref.ref(backbone), *key)
        programs[key] = jax.jit(forward)
    values = [variable.value for variable in backbone.weights]
    grams = () if norms is None else output_grams(backbone, layers)
    hidden, attention, queries, keys, kept = programs[key](
        values, grams, token_ids, padding_mask
    )
    if norms is not None:
        norms.extend(np.asarray(kept))
    device = device_of(hidden)
    as_numpy = [None if a is None else np.asarray(a) for a in (queries, keys)]
    return np.asarray(hidden), np.asarray(attention), *as_numpy, device


def _forward(
    backbone_ref,
    layers,
    heads,
    keep_qk,
    keep_norms,
    ablate,
    values,
    grams,
    token_ids,
    padding_mask,
):
    """What `_capture_compiled` traces: every layer, stacked float32 outputs."""
    backbone = backbone_ref()
    collect, norms = None, []
    if keep_norms:
        collect = norms_collector(heads, norms, lambda lengths: lengths, grams)
    heads = list(heads)
    state = list(zip(backbone.weights, values, strict=True))
    with keras.StatelessScope(state_mapping=state):
        hidden, maps, queries, keys = [], [], [], []
        gates = gates_of(backbone, ablate)
        walk = _walk(
            backbone,
            token_ids,
            padding_mask,
            layers,
            keep_qk,
            None,
            collect,
            None,
            gates,
        )
        for x, probabilities, query, key in walk:
            hidden.append(x)
            if probabilities is None:
                continue
            maps.append(probabilities[:, heads])
            if keep_qk:
                queries.append(query[:, heads])
                keys.append(key[:, heads])

    def stacked(arrays):
        return ops.cast(ops.stack(arrays), "float32") if arrays else None

    return (
        stacked(hidden),
        stacked(maps),
        stacked(queries),
        stacked(keys),
        stacked(norms),
    )


def _dtype_name(backbone) -> str:
    """The Trace's dtype: "float32", or "int8_from_float32" once quantized."""
    policy = backbone.dtype_policy
    name = getattr(policy, "default_policy", policy).name
    modes = backbone.quantization_modes
    return f"{'+'.join(modes)}_from_{name}" if modes else name


def run_capture(
    backbone,
    inputs: dict[str, Any],
    trace_type,
    keep_qk: bool = False,
    layers: Any = None,
    heads: Any = None,
    tokens: Any = None,
    norms: bool = False,
    ablate: Any = None,
):
    """Run `backbone` on `inputs` and return a `trace_type` (a `Trace`).

    `tokens` (the strings of an `Encoding`) go into the Trace as they are.

    Only the maps of `layers` x `heads` are kept: the other layers take the
    fused attention path. Op by op (torch, numpy, tensorflow) the maps are
    written layer by layer into one preallocated array, so peak memory is that
    array plus one layer's maps; on jax the loop is one compiled program.
    With `norms`, the Trace also holds `attention_norms` (`model.norms`).
    `ablate`: (layer, head) pairs whose gates are 0 (`model.interventions`).
    """
    check_inputs(inputs, backbone.vocabulary_size, backbone.max_sequence_length)
    layers = checked_selection("layers", layers, backbone.num_layers)
    heads = checked_selection("heads", heads, backbone.num_heads)
    ablate = checked_heads("ablate", ablate, backbone.num_layers, backbone.num_heads)
    token_ids = ops.convert_to_tensor(np.asarray(inputs["token_ids"]), dtype="int32")
    padding_mask = ops.convert_to_tensor(
        np.asarray(inputs["padding_mask"]), dtype="int32"
    )
    run = _capture_compiled if keras.backend.backend() == "jax" else _capture_eager
    kept_norms = [] if norms else None  # per kept layer: (B, heads, T)
    hidden, attention, queries, keys, device = run(
        backbone,
        token_ids,
        padding_mask,
        layers,
        heads,
        keep_qk,
        norms=kept_norms,
        ablate=ablate,
    )
    # Not get_config(): Keras's dtype serialization imports tensorflow when it
    # is installed (2.8 s of a fresh process's first capture).
    config = {
        key: _dtype_name(backbone) if key == "dtype" else getattr(backbone, key)
        for key in CONFIG_FIELDS
    }
    extra = {"queries": queries, "keys": keys} if keep_qk else {}
    if norms:
        extra["attention_norms"] = norm_weighted(attention, np.stack(kept_norms))
    return trace_type(
        **extra,
        hidden_states=hidden,
        attentions=attention,
        token_ids=to_numpy(token_ids),
        padding_mask=to_numpy(padding_mask),
        config=config,
        backend=keras.backend.backend(),
        device=device,
        attention_layers=layers,
        attention_heads=heads,
        tokens=tokens,
        ablated_heads=ablate,
    )
