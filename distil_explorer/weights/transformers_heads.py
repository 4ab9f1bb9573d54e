"""Hugging Face task heads (masked LM, sequence classification) -> our heads.

Like `transformers_format` for the encoder: pure functions from the
checkpoint's config and state dict to our task's constructor arguments and
head arrays (by `Task.head_weights` names, kernels in our (out, in) layout).
No files, no keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from distil_explorer.errors import MissingHeadError, UnsupportedCheckpointError

HF_LAYER_NORM_EPSILON = 1e-12

# What each head's tensors are called, per model_type.
_MASKED_LM = {
    "distilbert": {
        "intermediate_dense": "vocab_transform",
        "intermediate_layer_norm": "vocab_layer_norm",
        "projector": "vocab_projector.weight",
        "bias": ("vocab_projector.bias",),
    },
    "bert": {
        "intermediate_dense": "cls.predictions.transform.dense",
        "intermediate_layer_norm": "cls.predictions.transform.LayerNorm",
        "projector": "cls.predictions.decoder.weight",
        "bias": ("cls.predictions.bias", "cls.predictions.decoder.bias"),
    },
}
_CLASSIFIER = {
    "distilbert": {"pooled_dense": "pre_classifier", "logits": "classifier"},
    "bert": {"pooled_dense": "bert.pooler.dense", "logits": "classifier"},
}
_WHAT = {
    "masked_lm": "a masked-LM head ({})",
    "classifier": "a sequence-classification head ({})",
}


def heads_held(hf_config: Mapping[str, Any], state: Mapping[str, Any]) -> list[str]:
    """The task kinds whose head tensors `state` holds: "masked_lm", "classifier"."""
    model_type = hf_config.get("model_type")
    held = []
    masked = _MASKED_LM.get(model_type)
    if masked and f"{masked['intermediate_dense']}.weight" in state:
        held.append("masked_lm")
    names = _CLASSIFIER.get(model_type)
    if names and all(f"{name}.weight" in state for name in names.values()):
        held.append("classifier")
    return held


def _require_head(hf_config, state, kind: str, source: str) -> str:
    model_type = hf_config.get("model_type")
    if kind in heads_held(hf_config, state):
        return model_type
    held = heads_held(hf_config, state)
    architectures = hf_config.get("architectures") or ["an encoder"]
    names = _MASKED_LM if kind == "masked_lm" else _CLASSIFIER
    wanted = ", ".join(
        v if isinstance(v, str) else v[0]
        for v in names.get(model_type, names["distilbert"]).values()
    )
    holds = " and ".join(_WHAT[k].split(" (")[0] for k in held) or "no task head"
    raise MissingHeadError(
        f"preset={source}: holds {', '.join(map(str, architectures))} with "
        f"{holds}, not {_WHAT[kind].format(wanted)}; allowed: a checkpoint with "
        "that head, the task class of the head it has, or "
        "DistilBertBackbone.from_preset for the encoder alone"
    )


def _dense(state, name: str) -> dict[str, np.ndarray]:
    return {"kernel": state[f"{name}.weight"], "bias": state[f"{name}.bias"]}


def masked_lm_head(
    hf_config: Mapping[str, Any], state: Mapping[str, Any], source: str = "checkpoint"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(DistilBertMaskedLM arguments, head arrays) of a ForMaskedLM checkpoint.

    The output projection must be tied to the word embeddings (our head reads
    the backbone's table); a checkpoint whose projector differs is refused.

    Examples:
    ```python
    args, arrays = masked_lm_head(config, state)  # args["layer_norm_epsilon"]
    ```
    """
    model_type = _require_head(hf_config, state, "masked_lm", source)
    names = _MASKED_LM[model_type]
    prefix = f"{model_type}."
    table = state.get(f"{prefix}embeddings.word_embeddings.weight")
    projector = state.get(names["projector"])
    if (
        projector is not None
        and table is not None
        and not np.array_equal(np.asarray(projector), np.asarray(table))
    ):
        raise UnsupportedCheckpointError(
            f"{source}: {names['projector']} is not tied to the word embeddings; "
            "allowed: a masked-LM head whose output projection is the token table"
        )
    bias = next((state[b] for b in names["bias"] if b in state), None)
    if bias is None:
        raise UnsupportedCheckpointError(
            f"{source}: the masked-LM head has no output bias "
            f"({' or '.join(names['bias'])}); allowed: a complete checkpoint"
        )
    dense = _dense(state, names["intermediate_dense"])
    norm = names["intermediate_layer_norm"]
    arrays = {
        "intermediate_dense/kernel": dense["kernel"],
        "intermediate_dense/bias": dense["bias"],
        "intermediate_layer_norm/gamma": state[f"{norm}.weight"],
        "intermediate_layer_norm/beta": state[f"{norm}.bias"],
        "output_bias": bias,
    }
    # DistilBERT's vocab_layer_norm is built with 1e-12; BERT's with its
    # layer_norm_eps.
    eps = hf_config.get("layer_norm_eps", HF_LAYER_NORM_EPSILON)
    if model_type == "distilbert":
        eps = HF_LAYER_NORM_EPSILON
    return {"layer_norm_epsilon": float(eps)}, arrays


def class_names(hf_config: Mapping[str, Any], num_classes: int) -> tuple[str, ...]:
    """`id2label` in class order; "LABEL_i" where it has no entry."""
    labels = hf_config.get("id2label") or {}
    by_index = {}
    for key, value in labels.items():
        try:
            by_index[int(key)] = str(value)
        except (TypeError, ValueError):
            continue
    return tuple(by_index.get(i, f"LABEL_{i}") for i in range(num_classes))


def classifier_head(
    hf_config: Mapping[str, Any], state: Mapping[str, Any], source: str = "checkpoint"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(DistilBertTextClassifier arguments, head arrays) of a
    ForSequenceClassification checkpoint; class names from `id2label`.

    Examples:
    ```python
    args, arrays = classifier_head(config, state)
    args["class_names"]  # ("NEGATIVE", "POSITIVE")
    ```
    """
    model_type = _require_head(hf_config, state, "classifier", source)
    names = _CLASSIFIER[model_type]
    arrays = {}
    for ours, theirs in names.items():
        for part, array in _dense(state, theirs).items():
            arrays[f"{ours}/{part}"] = array
    num_classes, hidden = np.shape(arrays["logits/kernel"])
    if model_type == "distilbert":
        dropout = hf_config.get("seq_classif_dropout", 0.2)
        activation = "relu"
    else:
        dropout = hf_config.get("classifier_dropout")
        if dropout is None:
            dropout = hf_config.get("hidden_dropout_prob", 0.1)
        activation = "tanh"
    args = {
        "num_classes": int(num_classes),
        "hidden_dim": int(hidden),
        "dropout": float(dropout),
        "class_names": class_names(hf_config, int(num_classes)),
        "pooled_activation": activation,
    }
    return args, arrays


def head_arrays(
    kind: str, hf_config: Mapping[str, Any], state: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`masked_lm_head` or `classifier_head`, by task kind, missing tensors named."""
    convert = masked_lm_head if kind == "masked_lm" else classifier_head
    try:
        return convert(hf_config, state, source)
    except KeyError as error:
        raise UnsupportedCheckpointError(
            f"{source}: tensor {error.args[0]!r} is missing; allowed: a complete "
            f"{hf_config.get('model_type')} checkpoint with that head"
        ) from None
