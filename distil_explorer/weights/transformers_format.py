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

from distil_explorer.errors import (
    FileFormatError,
    UnsupportedCheckpointError,
    WeightsMismatchError,
)

__all__ = ["UnsupportedCheckpointError", "backbone_config", "backbone_weights"]

SUPPORTED_MODEL_TYPES = ("distilbert", "bert")
_LAYER_NORM_EPSILON = 1e-12


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
    if not isinstance(hf_config, Mapping):
        raise FileFormatError(
            f"{source}: contents={type(hf_config).__name__}: wrong type; allowed: "
            "a JSON object",
            path=source,
        )
    model_type = hf_config.get("model_type")
    if model_type == "distilbert":
        _require(hf_config, "activation", "gelu", source)
        _require(hf_config, "sinusoidal_pos_embds", False, source)
        fields = _DISTILBERT_FIELDS
        dropout = "dropout"
    elif model_type == "bert":
        _require(hf_config, "hidden_act", "gelu", source)
        _require(hf_config, "position_embedding_type", "absolute", source)
        eps = _field(hf_config, "layer_norm_eps", source, _LAYER_NORM_EPSILON)
        if not np.isclose(eps, _LAYER_NORM_EPSILON, rtol=0, atol=1e-15):
            raise UnsupportedCheckpointError(
                f"{source}: layer_norm_eps={eps!r} is not supported; allowed: 1e-12"
            )
        fields = _BERT_FIELDS
        dropout = "hidden_dropout_prob"
    else:
        raise UnsupportedCheckpointError(
            f"{source}: model_type={model_type!r} is not a DistilBERT-style "
            f"encoder; allowed: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    args = {ours: _field(hf_config, theirs, source) for ours, theirs in fields.items()}
    args["dropout"] = _field(hf_config, dropout, source, 0.1)
    return _checked(args, fields, dropout, source)


# Our constructor argument -> the config.json key, per architecture.
_DISTILBERT_FIELDS = {
    "vocabulary_size": "vocab_size",
    "num_layers": "n_layers",
    "num_heads": "n_heads",
    "hidden_dim": "dim",
    "intermediate_dim": "hidden_dim",
    "max_sequence_length": "max_position_embeddings",
}
_BERT_FIELDS = {
    "vocabulary_size": "vocab_size",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "hidden_dim": "hidden_size",
    "intermediate_dim": "intermediate_size",
    "max_sequence_length": "max_position_embeddings",
}


def _field(config: Mapping[str, Any], key: str, source: str, default: Any = ...):
    if key not in config:
        if default is not ...:
            return default
        raise FileFormatError(
            f"{source}: {key} is missing; allowed: a complete "
            f"{config.get('model_type')} config.json",
            path=source,
            field=key,
        )
    value = config[key]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if default is ... and not (isinstance(value, int) and is_number):
        kind = "an integer"
    elif not is_number:
        kind = "a number"
    else:
        return value
    raise FileFormatError(
        f"{source}: {key}={value!r}: wrong type; allowed: {kind}",
        path=source,
        field=key,
    )


def _checked(args: dict, fields: Mapping[str, str], dropout: str, source: str):
    """`args` if `check_config` takes them; its complaint renamed to the file's key."""
    from distil_explorer.config import check_config

    try:
        check_config(**args, dtype=None)
    except ValueError as error:
        ours = str(error).split("=")[0].split(" ")[0]
        theirs = {**fields, "dropout": dropout}.get(ours, ours)
        raise FileFormatError(
            f"{source}: {theirs} (our {error})", path=source, field=theirs
        ) from None
    return args


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
        return _backbone_weights(hf_config, state, source)
    except KeyError as error:
        raise WeightsMismatchError(
            f"{source}: tensor {error.args[0]!r} is missing; allowed: a complete "
            f"{hf_config.get('model_type')} encoder checkpoint"
        ) from None
    except (IndexError, ValueError, TypeError) as error:
        if isinstance(error, (FileFormatError, UnsupportedCheckpointError)):
            raise
        raise WeightsMismatchError(
            f"{source}: tensors do not fit together ({error}); allowed: a "
            f"complete {hf_config.get('model_type')} encoder checkpoint"
        ) from None


def _backbone_weights(hf_config, state, source) -> dict[str, np.ndarray]:
    config = backbone_config(hf_config, source)
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
