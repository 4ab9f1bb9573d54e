"""Hugging Face transformers checkpoints (DistilBERT and BERT) -> our backbone.

Two small functions per architecture, as keras-hub does it: one maps the
foreign config to our constructor arguments, one maps the foreign state dict
(name -> numpy array) to our variable paths. Both are pure: no files, no
keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from distil_explorer.weights.assign import WeightsMismatchError

SUPPORTED_MODEL_TYPES = ("distilbert", "bert")
_LAYER_NORM_EPSILON = 1e-12


class UnsupportedCheckpointError(ValueError):
    """A checkpoint whose architecture our DistilBERT cannot represent."""


def _require(config: Mapping[str, Any], key: str, allowed: Any, source: str) -> None:
    value = config.get(key, allowed)
    if value != allowed:
        raise UnsupportedCheckpointError(
            f"{source}: {key}={value!r} is not supported; allowed: {allowed!r}"
        )


def backbone_config(hf_config: Mapping[str, Any], source: str = "config.json"):
    """Map a transformers `config.json` (as a dict) to our constructor args.

    Examples:
    ```python
    backbone_config({"model_type": "distilbert", "vocab_size": 30522, ...})
    ```
    """
    model_type = hf_config.get("model_type")
    if model_type == "distilbert":
        _require(hf_config, "activation", "gelu", source)
        _require(hf_config, "sinusoidal_pos_embds", False, source)
        return {
            "vocabulary_size": hf_config["vocab_size"],
            "num_layers": hf_config["n_layers"],
            "num_heads": hf_config["n_heads"],
            "hidden_dim": hf_config["dim"],
            "intermediate_dim": hf_config["hidden_dim"],
            "dropout": hf_config.get("dropout", 0.1),
            "max_sequence_length": hf_config["max_position_embeddings"],
        }
    if model_type == "bert":
        _require(hf_config, "hidden_act", "gelu", source)
        _require(hf_config, "position_embedding_type", "absolute", source)
        eps = hf_config.get("layer_norm_eps", _LAYER_NORM_EPSILON)
        if not np.isclose(eps, _LAYER_NORM_EPSILON, rtol=0, atol=1e-15):
            raise UnsupportedCheckpointError(
                f"{source}: layer_norm_eps={eps!r} is not supported; allowed: 1e-12"
            )
        return {
            "vocabulary_size": hf_config["vocab_size"],
            "num_layers": hf_config["num_hidden_layers"],
            "num_heads": hf_config["num_attention_heads"],
            "hidden_dim": hf_config["hidden_size"],
            "intermediate_dim": hf_config["intermediate_size"],
            "dropout": hf_config.get("hidden_dropout_prob", 0.1),
            "max_sequence_length": hf_config["max_position_embeddings"],
        }
    raise UnsupportedCheckpointError(
        f"{source}: model_type={model_type!r} is not a DistilBERT-style encoder; "
        f"allowed: {', '.join(SUPPORTED_MODEL_TYPES)}"
    )


def _strip_prefix(state: Mapping[str, np.ndarray], prefix: str) -> dict:
    # Checkpoints saved from task models (DistilBertForMaskedLM, BertForX)
    # carry a "distilbert." / "bert." prefix; heads are ignored.
    if any(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def _layer_weights(state, num_layers: int, names: Mapping[str, str], layer_prefix):
    arrays = {}
    for i in range(num_layers):
        prefix = layer_prefix.format(i=i)
        for ours, theirs in names.items():
            if ours.endswith("layer_norm"):
                arrays[f"transformer_layer_{i}/{ours}/gamma"] = state[
                    f"{prefix}{theirs}.weight"
                ]
                arrays[f"transformer_layer_{i}/{ours}/beta"] = state[
                    f"{prefix}{theirs}.bias"
                ]
            else:
                # Our Linear stores (out, in), as torch does: no transpose.
                arrays[f"transformer_layer_{i}/{ours}/kernel"] = state[
                    f"{prefix}{theirs}.weight"
                ]
                arrays[f"transformer_layer_{i}/{ours}/bias"] = state[
                    f"{prefix}{theirs}.bias"
                ]
    return arrays


_DISTILBERT_LAYER = {
    "query": "attention.q_lin",
    "key": "attention.k_lin",
    "value": "attention.v_lin",
    "attention_output": "attention.out_lin",
    "attention_layer_norm": "sa_layer_norm",
    "ffn_intermediate": "ffn.lin1",
    "ffn_output": "ffn.lin2",
    "ffn_layer_norm": "output_layer_norm",
}
_BERT_LAYER = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_layer_norm": "attention.output.LayerNorm",
    "ffn_intermediate": "intermediate.dense",
    "ffn_output": "output.dense",
    "ffn_layer_norm": "output.LayerNorm",
}


def backbone_weights(
    hf_config: Mapping[str, Any],
    state: Mapping[str, np.ndarray],
    source: str = "checkpoint",
) -> dict[str, np.ndarray]:
    """Map a transformers state dict to our variable paths.

    For BERT, `token_type_embeddings[0]` is folded into the position
    embeddings (our inputs have no token types, i.e. all type 0) and the
    pooler is dropped, so outputs equal `BertModel` with token_type_ids = 0.

    Examples:
    ```python
    arrays = backbone_weights(config, safetensors.numpy.load_file(path))
    assign_weights(backbone, arrays)
    ```
    """
    try:
        return _backbone_weights(hf_config, state)
    except KeyError as error:
        raise WeightsMismatchError(
            f"{source}: tensor {error.args[0]!r} is missing; allowed: a complete "
            f"{hf_config.get('model_type')} encoder checkpoint"
        ) from None


def _backbone_weights(hf_config, state) -> dict[str, np.ndarray]:
    config = backbone_config(hf_config)
    model_type = hf_config["model_type"]
    state = _strip_prefix(state, f"{model_type}.")
    positions = np.asarray(state["embeddings.position_embeddings.weight"])
    if model_type == "bert":
        token_types = np.asarray(state["embeddings.token_type_embeddings.weight"])
        positions = positions + token_types[0]
        names, layer_prefix = _BERT_LAYER, "encoder.layer.{i}."
    else:
        names, layer_prefix = _DISTILBERT_LAYER, "transformer.layer.{i}."
    arrays = {
        "embeddings/token_embedding/embeddings": state[
            "embeddings.word_embeddings.weight"
        ],
        "embeddings/position_embedding/embeddings": positions,
        "embeddings/layer_norm/gamma": state["embeddings.LayerNorm.weight"],
        "embeddings/layer_norm/beta": state["embeddings.LayerNorm.bias"],
    }
    arrays.update(_layer_weights(state, config["num_layers"], names, layer_prefix))
    return arrays
