"""Reading what a person typed into what a workflow runs on.

Text, typed token ids and mappings become model inputs; a preset's tokenizer
is read or the reason there is none is said in one sentence; a text file's
first lines become a corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from distil_explorer.config import backbone_presets


def checked_max_length(max_length: Any, top: int) -> int:
    """`max_length` as an int in 1..`top`; None: `top`."""
    if max_length is None:
        return top
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise ValueError(f"max_length={max_length!r}: allowed: an int, 1..{top}")
    if max_length < 1:
        raise ValueError(f"max_length={max_length}: allowed: 1..{top}")
    return min(int(max_length), top)


def prepared_inputs(
    inputs: Any, limit: int, tokenizer: Any, tokenizer_problem: str | None
) -> Any:
    """What `Session.run` takes (text, ids, or a mapping) as model inputs."""
    if isinstance(inputs, str):
        if tokenizer is None:
            raise ValueError(
                f"text: this backbone has no tokenizer ({tokenizer_problem});"
                " allowed: token ids, or build a preset with a tokenizer"
            )
        return tokenizer.encode_at_most(inputs, limit)
    if isinstance(inputs, Mapping):
        return dict(inputs)
    try:
        items = list(inputs)
    except TypeError:
        raise ValueError(
            f"inputs={type(inputs).__name__}: allowed: text (str), a sequence "
            "of token ids, or a dict of token_ids and padding_mask"
        ) from None
    bad = [
        i for i in items if isinstance(i, bool) or not isinstance(i, (int, np.integer))
    ]
    if not items or bad:
        raise ValueError(
            f"token_ids={items[:8]!r}: allowed: a non-empty sequence of ints"
            + (f" ({bad[0]!r} is not one)" if bad else "")
        )
    ids = np.asarray(items, dtype="int64")[None, :limit].astype("int32")
    return {"token_ids": ids, "padding_mask": np.ones_like(ids)}


def tokenizer_for(preset: str) -> tuple[Any, str | None]:
    """The preset's tokenizer, or (None, one sentence saying why there is none)."""
    from distil_explorer.tokenizer import DistilBertTokenizer

    try:
        return DistilBertTokenizer.from_preset(preset), None
    except (OSError, ValueError, ConnectionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        why = f"{type(error).__name__}: {first}" if first else type(error).__name__
        if preset in backbone_presets:
            return None, f"the tokenizer of {preset} could not be read ({why})"
        return None, f"the tokenizer in {preset} could not be read ({why})"


def first_lines(path: str, count: int | None) -> list[str]:
    """The first `count` non-empty lines of a text file (all with None)."""
    from distil_explorer.corpus.texts import text_source

    start, _ = text_source(path, "text")
    texts = []
    for text in start():
        if count is not None and len(texts) >= count:
            break
        texts.append(text)
    return texts


def first_sequence(trace: Any) -> Any:
    """Sequence 0 of `trace`, padding dropped, as model inputs (an `Encoding`
    with its token strings when the Trace has them)."""
    length = int(trace.padding_mask[0].sum())
    inputs = {
        "token_ids": trace.token_ids[:1, :length],
        "padding_mask": trace.padding_mask[:1, :length],
    }
    if trace.tokens is None:
        return inputs
    from distil_explorer.tokenizer import Encoding

    return Encoding(**inputs, tokens=(trace.tokens[0][:length],))


def corpus_texts(source: Any, count: Any) -> list[str]:
    """The texts a corpus request names: "demo" or a text file, the first `count`.

    Examples:
    ```python
    corpus_texts("demo", 200)  # 200 sentences of the Python documentation
    ```
    """
    from distil_explorer.corpus import demo_corpus

    if count is not None and (
        isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1
    ):
        raise ValueError(f"count={count!r}: allowed: an int >= 1, or None")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(
            f"source={source!r}: allowed: 'demo' or the path of a text file"
        )
    if source == "demo":
        texts = demo_corpus(None if count is None else int(count))
    else:
        texts = first_lines(source, count)
    return texts


def chosen_target(
    target: Any, other_text: Any, tokenizer: Any, tokenizer_problem: str | None
) -> Any:
    """The target callable an attribution request names.

    "cls_norm", "similarity" (with `other_text`, which needs `tokenizer`) or
    a callable of the person's own.
    """
    from distil_explorer.model.targets import cls_norm_target, similarity_target

    if target == "cls_norm":
        chosen = cls_norm_target()
    elif target == "similarity":
        if not isinstance(other_text, str) or not other_text.strip():
            raise ValueError(
                f"other_text={other_text!r}: a similarity target needs a second "
                "text; allowed: a non-empty str"
            )
        if tokenizer is None:
            raise ValueError(
                f"other_text: this backbone has no tokenizer "
                f"({tokenizer_problem}); allowed: the cls_norm target"
            )
        chosen = similarity_target(other_text, tokenizer)
    elif callable(target):
        chosen = target
    else:
        raise ValueError(
            f"target={target!r}: allowed: 'cls_norm', 'similarity' or a callable"
        )
    return chosen


def intervened_inputs(original: Any, position: Any, action: str, tokenizer: Any):
    """Sequence 0 of `original` with the token at `position` masked or removed.

    An `Encoding` (its token strings edited the same way) when the Trace has
    tokens, else a dict of arrays. Masking needs `tokenizer` for [MASK].
    """
    from distil_explorer.analysis import intervention
    from distil_explorer.tokenizer import Encoding

    real = int(original.padding_mask[0].sum())
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise ValueError(f"position={position!r}: allowed: an int, 0..{real - 1}")
    if not 0 <= position < real:
        raise ValueError(f"position={position}: allowed: 0..{real - 1}")
    if action == "remove" and real < 2:
        raise ValueError("remove: the sequence has one token; allowed: mask it instead")
    mask_id = None
    if action == "mask":
        if tokenizer is None:
            raise ValueError(
                "mask: needs a tokenizer for [MASK]; allowed: remove the token"
            )
        mask_id = tokenizer.token_to_id("[MASK]")
    ids = intervention.intervened_inputs(
        original.token_ids[:1, :real], position, action, mask_id
    )
    inputs: Any = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    if original.tokens is not None:
        tokens = list(original.tokens[0][:real])
        if action == "mask":
            tokens[position] = "[MASK]"
        else:
            del tokens[position]
        inputs = Encoding(ids, inputs["padding_mask"], (tuple(tokens),))
    return inputs
