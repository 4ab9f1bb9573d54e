"""The capture path: run a backbone layer by layer and keep what it computed."""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np
from keras import ops

from distil_explorer.model.validation import check_inputs
from distil_explorer.runtime.devices import device_of


def _inference_context():
    # Keras leaves autograd on for eager torch calls; a capture never needs
    # gradients, and recording them costs time and memory.
    if keras.backend.backend() == "torch":
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def _to_numpy(x) -> np.ndarray:
    if keras.backend.backend() == "torch":
        return x.detach().cpu().numpy()  # no copy for CPU tensors
    return ops.convert_to_numpy(x)


def run_capture(backbone, inputs: dict[str, Any], trace_type, keep_qk: bool = False):
    """Run `backbone` on `inputs` and return a `trace_type` (a `Trace`)."""
    check_inputs(inputs, backbone.vocabulary_size, backbone.max_sequence_length)
    token_ids = ops.convert_to_tensor(np.asarray(inputs["token_ids"]), dtype="int32")
    padding_mask = ops.convert_to_tensor(
        np.asarray(inputs["padding_mask"]), dtype="int32"
    )
    with _inference_context():
        x = backbone.embeddings(token_ids, training=False)
        hidden_states, attentions, queries, keys = [x], [], [], []
        for layer in backbone.transformer_layers:
            if keep_qk:  # the same variables, projected once more on request
                queries.append(
                    _to_numpy(ops.cast(layer._heads(x, layer.query), "float32"))
                )
                keys.append(_to_numpy(ops.cast(layer._heads(x, layer.key), "float32")))
            x, probabilities = layer(
                x, padding_mask, training=False, return_attention=True
            )
            hidden_states.append(x)
            attentions.append(probabilities)
        device = device_of(x)
        # One copy per array: each layer's tensor becomes numpy (a view on
        # CPU torch), and np.stack copies it into place.
        hidden = np.stack([_to_numpy(ops.cast(h, "float32")) for h in hidden_states])
        attention = np.stack([_to_numpy(a) for a in attentions])
    config = backbone.get_config()
    config["dtype"] = backbone.dtype_policy.name
    for key in ("name", "trainable"):
        config.pop(key, None)
    extra = {"queries": np.stack(queries), "keys": np.stack(keys)} if keep_qk else {}
    return trace_type(
        **extra,
        hidden_states=hidden,
        attentions=attention,
        token_ids=ops.convert_to_numpy(token_ids),
        padding_mask=ops.convert_to_numpy(padding_mask),
        config=config,
        backend=keras.backend.backend(),
        device=device,
    )
