"""`capture`: one forward pass of a backbone, kept whole as a `Trace`.

This module reads what a person passes (text with a tokenizer, an `Encoding`,
or a dict of arrays) and hands the model's capture path the class to build;
the model code itself (`model/capture.py`) knows nothing of where inputs came
from.
"""

from __future__ import annotations

from typing import Any

from distil_explorer.checks import (
    checked_flag,
    checked_inputs,
    checked_selection,
    is_text,
)
from distil_explorer.trace.value import Trace


def capture(
    backbone,
    inputs: Any,
    *,
    tokenizer: Any = None,
    keep_qk: bool = False,
    layers: Any = None,
    heads: Any = None,
    norms: bool = False,
    ablate: Any = None,
) -> Trace:
    """Run `backbone` once and return every hidden state and attention map.

    The capture path runs the backbone's own layers (same variables, no
    copy), computing attention probabilities explicitly where the plain call
    uses fused attention. Inference mode: dropout is off.

    Args:
        backbone: a `DistilBertBackbone`.
        inputs: `{"token_ids": (B, T) ints, "padding_mask": (B, T) 0/1}` as
            numpy arrays, lists or backend tensors; or text (a string or a
            list of strings) together with `tokenizer`; or an `Encoding`.
        tokenizer: a `DistilBertTokenizer`, needed for text. Texts longer
            than the backbone's `max_sequence_length` are truncated.
        keep_qk: bool. Also keep every layer's query and key vectors
            (`Trace.queries`, `Trace.keys`), for the query/key view.
        layers: None, int or list of int. The layers whose attention maps
            to keep (negative counts from the end); None keeps all. Hidden
            states are always kept for every layer: they grow with T, the
            maps with T squared.
        heads: None, int or list of int. The heads to keep in each kept
            layer; None keeps all. At T=512 the base model's maps are 75 MB
            per sequence; `layers=[-1], heads=[0]` keeps 1 MB.
        norms: bool. Also keep `Trace.attention_norms`, the norm-weighted
            maps of the same layers and heads (Kobayashi et al. 2020),
            computed in the same pass from each layer's own value heads and
            output kernel, in float32; 5-15% more time (benchmarks/norms.py).
        ablate: None or a list of (layer, head) pairs. Run with those heads'
            outputs multiplied by 0 before the output projection (Michel et
            al. 2019), so every hidden state and map is the ablated model's;
            `Trace.ablated_heads` says which. None or [] is the plain model,
            bit for bit.

    Raises:
        NotEnoughMemoryError: the maps, hidden states and activations it
            would hold (`model.memory.capture_estimate`) are more than this
            process can get (`set_memory_limit`), checked before anything is
            allocated; or an allocation failed anyway.

    Examples:
    ```python
    trace = capture(backbone, {"token_ids": ids, "padding_mask": mask})
    trace.hidden_states[-1]  # equals backbone(inputs) to 1e-5
    trace = capture(backbone, "The cat sat.", tokenizer=tokenizer)
    trace.tokens  # (("[CLS]", "the", "cat", "sat", ".", "[SEP]"),)
    trace = capture(backbone, inputs, layers=[0, 5], heads=[3])
    trace.attention_layers, trace.attentions.shape[0]  # (0, 5), 2
    trace = capture(backbone, inputs, norms=True)
    trace.attention_norms.shape == trace.attentions.shape  # True
    trace = capture(backbone, inputs, ablate=[(0, 1), (5, 3)])
    trace.ablated_heads  # ((0, 1), (5, 3))
    ```
    """
    from distil_explorer.model.capture import run_capture
    from distil_explorer.model.memory import capture_guard, input_shape

    keep_qk = checked_flag("keep_qk", keep_qk)
    norms = checked_flag("norms", norms)
    tokens, inputs = tokens_and_inputs(
        inputs,
        tokenizer,
        backbone.max_sequence_length,
        "capture(backbone, text, tokenizer=DistilBertTokenizer.from_preset(...))",
    )
    # Asked before anything is allocated (model/memory.py); an allocation
    # that fails anyway is raised as the same NotEnoughMemoryError.
    with capture_guard(
        backbone,
        input_shape(inputs),
        layers=len(checked_selection("layers", layers, backbone.num_layers)),
        heads=len(checked_selection("heads", heads, backbone.num_heads)),
        keep_qk=keep_qk,
        norms=norms,
    ):
        return run_capture(
            backbone,
            inputs,
            Trace,
            keep_qk=keep_qk,
            layers=layers,
            heads=heads,
            tokens=tokens,
            norms=norms,
            ablate=ablate,
        )


def tokens_and_inputs(
    inputs: Any, tokenizer: Any, max_length: int, usage: str
) -> tuple[Any, Any]:
    """(token strings or None, token_ids/padding_mask inputs) from what
    `capture` takes: text (tokenized with `tokenizer`, cut to `max_length`),
    an `Encoding`, or a dict. `usage` shows the call text needs.
    """
    inputs = checked_inputs(inputs)
    if is_text(inputs):
        if tokenizer is None:
            raise ValueError(
                f"inputs: text needs a tokenizer; allowed: {usage} or a dict of "
                "token_ids and padding_mask"
            )
        inputs = tokenizer.encode_at_most(inputs, max_length)
    from distil_explorer.tokenizer import Encoding

    if isinstance(inputs, Encoding):
        return inputs.tokens, inputs.inputs
    return None, inputs


def encoded_inputs(backbone, inputs: Any, tokenizer: Any, usage: str) -> tuple:
    """(token strings or None, {"token_ids", "padding_mask"} as checked numpy).

    What the analyses that run a backbone on their own take: `inputs` as
    `capture` takes them, checked against `backbone`'s vocabulary and length.
    """
    import numpy as np

    from distil_explorer.model.validation import check_inputs

    tokens, inputs = tokens_and_inputs(
        inputs, tokenizer, backbone.max_sequence_length, usage
    )
    check_inputs(inputs, backbone.vocabulary_size, backbone.max_sequence_length)
    return tokens, {k: np.asarray(v, np.int32) for k, v in inputs.items()}
