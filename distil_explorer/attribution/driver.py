"""`attribute`: how much each token counts for one number the backbone makes.

The input that gets the credit is each token's embedding vector, the row the
token embedding table gives for its id (before positions are added and the
embeddings LayerNorm runs). The baseline an attribution is measured from is
the same sequence with every real token except [CLS] and [SEP] swapped for
[PAD]'s vector ("pad", the default) or for zeros ("zero"): positions,
[CLS], [SEP] and padding stay as they are, so the baseline is "the same
frame with no words in it", and `target_value - baseline_value` is what the
words added. The gradients come from `distil_explorer.model.gradients`
(Captum on torch, `jax.grad` on jax); `Attribution` is plain numpy.
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

from distil_explorer.attribution.result import BASELINES, METHODS, Attribution

DEFAULT_STEPS = 32
# Captum's Gauss-Legendre setup (numpy's `leggauss`) builds a steps x steps
# matrix and takes its eigenvalues: 8 MB and about a second at 1024 steps,
# 74.5 GiB at 100,000. Past a few hundred steps the rule's error is below
# float32 rounding on these models, so more steps buy nothing.
MAX_STEPS = 1024
BACKENDS = ("torch", "jax")


def attribute(
    backbone,
    inputs: Any,
    target: Any,
    *,
    method: str = "integrated_gradients",
    steps: int = DEFAULT_STEPS,
    tokenizer: Any = None,
    baseline: str = "pad",
) -> Attribution:
    """How much each token's embedding counts for `target`, per sequence.

    Methods (B sequences of T tokens, L layers; a "pass" is one forward or
    backward through the backbone):

    - "gradient_x_input": the gradient of the target with respect to each
      token embedding vector, times that vector, summed over the hidden
      dimension. One forward and one backward.
    - "integrated_gradients": (input - baseline) times the gradient averaged
      along the straight path from the baseline to the input, by
      Gauss-Legendre quadrature with `steps` points (Captum's rule); the
      scores then add up to `target_value - baseline_value` (see `delta`).
      The steps run in chunks sized from the model's memory per sequence
      (`model.gradients.steps_per_chunk`), so memory follows the chunk,
      not `steps`; time follows `steps`.
    - "attention_x_gradient": each attention weight times the gradient of
      the target with respect to it, summed over layers, heads and queries
      onto the key token it weighs. One forward and one backward, keeping
      every layer's (B, heads, T, T) maps.

    Every method also runs the target once on the input and once on the
    baseline (see the module docstring for what the baseline is).

    Args:
        backbone: a float32 `DistilBertBackbone` on the torch or jax backend,
            or a task model (`DistilBertTextClassifier`, `DistilBertMaskedLM`)
            for the task targets (`class_target`, `token_target`).
        inputs: as `capture` takes them: a dict of token_ids and
            padding_mask, an `Encoding`, or text with `tokenizer`.
        target: a callable from the last hidden state (B, T, D) to (B,) in
            `keras.ops`, e.g. `cls_norm_target()` or
            `similarity_target("another text")`.
        method: str. One of `METHODS`.
        steps: int, 1 to `MAX_STEPS` (1024). Integration steps (integrated
            gradients only; checked for every method).
        tokenizer: a `DistilBertTokenizer`, for text; it also names [CLS],
            [SEP] and [PAD]. Without it, the first and last real token of
            each row are taken as [CLS] and [SEP], and [PAD] is id 0 (as in
            every BERT WordPiece vocabulary).
        baseline: "pad" or "zero".

    Examples:
    ```python
    import distil_explorer as de
    backbone = de.DistilBertBackbone.from_preset("all_minilm_l6_v2_en")
    tokenizer = de.DistilBertTokenizer.from_preset("all_minilm_l6_v2_en")
    a = de.attribute(backbone, "The cat sat on the mat.",
                     de.similarity_target("A kitten rests on a rug."),
                     tokenizer=tokenizer)
    a.scores[0], a.delta  # per token; integration error
    ```
    """
    import keras

    from distil_explorer.model.gradients import steps_per_chunk, token_attributions
    from distil_explorer.model.memory import attribution_guard

    model, backbone = backbone, _backbone_of(backbone)
    method, steps, baseline = _checked_options(method, steps, baseline)
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r}: attributions need gradients; allowed: "
            f"{', '.join(BACKENDS)} (KERAS_BACKEND, or a Runner on one of them)"
        )
    _check_backbone(backbone)
    if not callable(target):
        raise ValueError(
            f"target={reprlib.repr(target)}: not callable; allowed: a callable "
            "from the last hidden state (B, T, D) to (B,), cls_norm_target(), "
            "similarity_target(...), class_target(k) or token_target(position, id)"
        )

    def encode(value, own_tokenizer=None):
        return _encoded(backbone, value, own_tokenizer or tokenizer)

    tokens, batch = _encoded_with_tokens(backbone, inputs, tokenizer)
    if hasattr(target, "prepared"):
        # Task targets (class_target, token_target) read the task's head.
        needs_task = getattr(target, "needs_task_model", False)
        target = target.prepared(model if needs_task else backbone, encode)
    ids = np.asarray(batch["token_ids"], np.int32)
    mask = np.asarray(batch["padding_mask"], np.int32)
    replace = _replaced(ids, mask, tokenizer)
    pad = None if baseline == "zero" else _pad_id(tokenizer)
    # The steps run in chunks (jax materializes maps, torch does not).
    chunk = steps_per_chunk(backbone, *ids.shape, steps, maps=backend != "torch")
    with attribution_guard(backbone, ids.shape, method, steps, chunk, backend):
        found = token_attributions(
            backbone, ids, mask, replace, target, method, steps, pad
        )
    return Attribution(
        **found,
        method=method,
        token_ids=ids,
        padding_mask=mask,
        tokens=tokens,
        target=str(getattr(target, "label", getattr(target, "__name__", "target"))),
        steps=steps if method == "integrated_gradients" else 1,
        baseline=baseline,
        backend=backend,
    )


def _checked_options(method: Any, steps: Any, baseline: Any) -> tuple[str, int, str]:
    if method not in METHODS:
        raise ValueError(
            f"method={reprlib.repr(method)}: allowed: {', '.join(METHODS)}"
        )
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(
            f"steps={reprlib.repr(steps)}: allowed: an int >= 1 (default "
            f"{DEFAULT_STEPS})"
        )
    if steps > MAX_STEPS:
        raise ValueError(
            f"steps={steps}: more than {MAX_STEPS}; the Gauss-Legendre setup alone "
            f"grows with steps squared (a {steps} x {steps} matrix) and the "
            f"integration error stops shrinking long before; allowed: an int from "
            f"1 to {MAX_STEPS} (default {DEFAULT_STEPS})"
        )
    if baseline not in BASELINES:
        raise ValueError(
            f"baseline={reprlib.repr(baseline)}: allowed: {', '.join(BASELINES)}"
        )
    return method, int(steps), baseline


def _backbone_of(model):
    """A task model's backbone (its head is reached through the target)."""
    from distil_explorer.tasks.task import Task

    return model.backbone if isinstance(model, Task) else model


def _check_backbone(backbone) -> None:
    from distil_explorer.model.backbone import DistilBertBackbone

    if not isinstance(backbone, DistilBertBackbone):
        raise ValueError(
            f"backbone={type(backbone).__name__}: allowed: a DistilBertBackbone"
        )
    dtype = backbone.dtype_policy.compute_dtype
    if dtype != "float32" or backbone.quantization_modes:
        modes = "+".join(backbone.quantization_modes)
        raise ValueError(
            f"backbone dtype={modes or dtype}: gradients of low-precision weights "
            "are too coarse to add up; allowed: a float32, unquantized backbone"
        )


def _encoded_with_tokens(backbone, inputs, tokenizer):
    from distil_explorer.model.validation import check_inputs
    from distil_explorer.trace import tokens_and_inputs

    tokens, inputs = tokens_and_inputs(
        inputs,
        tokenizer,
        backbone.max_sequence_length,
        "attribute(backbone, text, target, tokenizer=...)",
    )
    check_inputs(inputs, backbone.vocabulary_size, backbone.max_sequence_length)
    return tokens, {k: np.asarray(v) for k, v in inputs.items()}


def _encoded(backbone, inputs, tokenizer) -> dict[str, np.ndarray]:
    return _encoded_with_tokens(backbone, inputs, tokenizer)[1]


def _replaced(ids: np.ndarray, mask: np.ndarray, tokenizer) -> np.ndarray:
    """(B, T) bool: the real tokens the baseline swaps ([CLS], [SEP] stay)."""
    real = mask.astype(bool)
    keep = np.zeros_like(real)
    last = real.sum(1) - 1
    rows = np.arange(len(ids))
    keep[rows, 0] = True
    keep[rows, np.maximum(last, 0)] = True
    if tokenizer is not None:
        special = [tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]")]
        keep |= np.isin(ids, special)
    return real & ~keep


def _pad_id(tokenizer) -> int:
    return 0 if tokenizer is None else int(tokenizer.token_to_id("[PAD]"))
