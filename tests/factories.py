"""Builders shared by test modules: tiny models with every parameter random."""

from pathlib import Path

import numpy as np
import pytest


def random_transformers_distilbert(scale: float, heads: int = 4, dim: int = 16):
    """A tiny transformers DistilBertModel and our backbone of its weights.

    transformers initialises biases to 0 and LayerNorms to the identity; an
    oracle check on such a model cannot see a term that drops a bias. Here
    every parameter is drawn (normal, times `scale`; LayerNorm gains around 1).

    Returns:
        (the Hugging Face model in eval mode, a `DistilBertBackbone`).
    """
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from distil_explorer import DistilBertBackbone
    from distil_explorer.weights.assign import assign_weights
    from distil_explorer.weights.transformers_format import (
        backbone_config,
        backbone_weights,
    )

    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        **{**TINY_HF_DISTILBERT, "dim": dim, "n_heads": heads},
        attn_implementation="eager",
    )
    model = transformers.DistilBertModel(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * scale
            parameter.copy_(noise + (1.0 if "LayerNorm.weight" in name else 0.0))
    hf_config = model.config.to_dict()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    backbone = DistilBertBackbone(**backbone_config(hf_config))
    assign_weights(backbone, backbone_weights(hf_config, state))
    return model, backbone


def random_trace(
    layers: int = 2,
    batch: int = 2,
    heads: int = 3,
    length: int = 5,
    hidden: int = 4,
    padded: int = 2,
    tokens: bool = True,
    seed: int = 0,
    temperature: float = 1.0,
    config: dict | None = None,
    norms: bool = False,
):
    """A Trace of random softmax attention, made from numpy alone.

    Sequence 0 is all real tokens; every later row has its last `padded`
    positions padded (keys masked out, weights exactly 0). Tokens are
    "[CLS]", "w1", ... "[SEP]", then "[PAD]"; `norms=True` adds
    attention_norms (the weights times a random positive length per key).
    """
    from distil_explorer.trace import Trace

    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), dtype=np.int32)
    if padded:
        mask[1:, length - padded :] = 0
    logits = temperature * rng.normal(size=(layers, batch, heads, length, length))
    weights = np.exp(logits) * mask[None, :, None, None, :]
    attentions = (weights / weights.sum(-1, keepdims=True)).astype(np.float32)
    words = []
    for row in mask:
        real = int(row.sum())
        inner = [f"w{i}" for i in range(1, real - 1)]
        words.append(("[CLS]", *inner, "[SEP]", *["[PAD]"] * (length - real)))
    extra = {}
    if norms:
        lengths = rng.random((layers, batch, heads, 1, length)).astype(np.float32)
        extra["attention_norms"] = attentions * (lengths + 0.1)
    return Trace(
        hidden_states=rng.normal(size=(layers + 1, batch, length, hidden)).astype(
            np.float32
        ),
        attentions=attentions,
        token_ids=rng.integers(0, 50, size=(batch, length)),
        padding_mask=mask,
        config={"num_layers": layers, "num_heads": heads} if config is None else config,
        backend="numpy",
        device="cpu",
        tokens=tuple(words) if tokens else None,
        **extra,
    )


# Tiny transformers task models: name -> (config class, model class, config).
TINY_HF_DISTILBERT = dict(
    vocab_size=30,
    dim=16,
    n_layers=2,
    n_heads=4,
    hidden_dim=24,
    max_position_embeddings=20,
)
TINY_HF_BERT = dict(
    vocab_size=30,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=24,
    max_position_embeddings=20,
)
TASK_CHECKPOINTS = {
    "distilbert_masked_lm": ("DistilBertConfig", "DistilBertForMaskedLM", {}),
    "distilbert_classifier": (
        "DistilBertConfig",
        "DistilBertForSequenceClassification",
        {"num_labels": 3, "id2label": {0: "neg", 1: "neutral", 2: "pos"}},
    ),
    "bert_masked_lm": ("BertConfig", "BertForMaskedLM", {}),
    "bert_classifier": (
        "BertConfig",
        "BertForSequenceClassification",
        {"num_labels": 2},
    ),
}


def random_transformers_task(name: str, scale: float = 0.3):
    """A tiny transformers task model (see `TASK_CHECKPOINTS`), every parameter
    random (LayerNorm gains around 1), in eval mode."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config_class, model_class, extra = TASK_CHECKPOINTS[name]
    sizes = TINY_HF_BERT if config_class == "BertConfig" else TINY_HF_DISTILBERT
    config = getattr(transformers, config_class)(
        **sizes, **extra, attn_implementation="eager"
    )
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * scale
            gain = "LayerNorm.weight" in key or "layer_norm.weight" in key
            parameter.copy_(noise + (1.0 if gain else 0.0))
    return model


def pixels_of_colour(image, colour: str, least: float = 0.25):
    """How many pixels of an RGB PIL image are `colour` ('#rrggbb') drawn over
    white at an opacity of at least `least` (alpha-blended lines included)."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(float)
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    ink, paint = 255 - pixels, 255 - rgb
    alpha = ink @ paint / (paint @ paint)
    residual = np.abs(ink - alpha[:, None] * paint).max(-1)
    return int(((alpha >= least) & (alpha <= 1.05) & (residual < 20)).sum())


# Our tiny backbone for task models: 2 layers, 2 heads, hidden 8, vocabulary 30.
TINY_TASK_BACKBONE = dict(
    vocabulary_size=30,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=12,
)


def randomized(model, seed: int = 0):
    """`model` with every variable drawn (normal, 0.5; LayerNorm gains around 1).

    keras' own initialisation leaves biases at 0 and LayerNorms the identity;
    an oracle check on such a model cannot see a term that drops a bias.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(scale=0.5, size=tuple(variable.shape))
        if variable.path.endswith("gamma"):
            values += 1.0
        variable.assign(values.astype("float32"))
    return model


def run_on_backend(backend: str, code: str, *args: str, timeout: float = 300):
    """Run `code` (python -c) in a fresh process on Keras `backend`, from the
    repository root; returns the finished `subprocess.CompletedProcess`.

    Keras runs one backend per process: another backend's numbers are checked
    in a process of its own.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=timeout,
    )


def random_mixing(trace, method: str = "value_zeroing", seed: int = 0):
    """A `ContextMixing` of `trace`'s inputs from numpy alone: random positive
    scores over the real tokens, rows normalised, padding 0 (every model
    layer up to the Trace's last)."""
    from distil_explorer.mixing import ContextMixing
    from distil_explorer.mixing.result import normalised_rows

    rng = np.random.default_rng(seed)
    batch, length = trace.token_ids.shape
    layers = max(trace.attention_layers) + 1
    scores = rng.random((layers, batch, length, length)) ** 3
    return ContextMixing(
        per_layer=normalised_rows(scores, trace.padding_mask),
        method=method,
        token_ids=trace.token_ids,
        padding_mask=trace.padding_mask,
        tokens=trace.tokens,
    )


# The keras-hub fixture preset: a tiny backbone (vocabulary 64) with a tokenizer.
TINY_PRESET = Path(__file__).parent / "fixtures" / "keras_hub_tiny" / "preset"


def write_task_preset(
    directory, kind: str, seed: int, class_names=("negative", "positive")
) -> Path:
    """A keras-hub task preset written to `directory`: the fixture's backbone
    under a random "classifier" (`class_names`) or "masked_lm" head, with the
    fixture's tokenizer, so that a Session builds it and runs text."""
    import distil_explorer as de

    backbone = de.DistilBertBackbone.from_preset(TINY_PRESET)
    if kind == "classifier":
        task = de.DistilBertTextClassifier(
            backbone, num_classes=len(class_names), class_names=class_names
        )
    else:
        task = de.DistilBertMaskedLM(backbone)
    randomized(task, seed).save_to_preset(directory)
    de.DistilBertTokenizer.from_preset(str(TINY_PRESET)).save_to_preset(directory)
    return Path(directory)
