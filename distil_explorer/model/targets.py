"""Ready attribution targets: one number per sequence from the last hidden state.

A target is any callable from the last hidden state (B, T, D) to (B,), in
`keras.ops` so that it runs (and differentiates) on every backend. One that
also needs the padding mask says so with `takes_padding_mask = True` and is
called as `target(hidden, padding_mask)`. A target that needs the backbone
first (to embed a second text) has `prepared(backbone, encode)`, which
`attribute` calls once and whose result is the target used.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any

import numpy as np
from keras import ops

from distil_explorer.model.gradients import reference_embedding


@dataclasses.dataclass(frozen=True)
class ClsNormTarget:
    """The L2 norm of the [CLS] (first) token's last hidden state."""

    label = "[CLS] norm"

    def __call__(self, hidden):
        return ops.sqrt(ops.sum(ops.square(ops.cast(hidden[:, 0], "float32")), -1))


@dataclasses.dataclass(frozen=True, eq=False)
class SimilarityTarget:
    """Cosine similarity of mean-pooled embeddings with another text's.

    Mean pooling over the real tokens, [CLS] and [SEP] included, as
    sentence-transformers pools all-MiniLM-L6-v2 (its final normalisation
    does not change a cosine). `reference` (1 or B rows, float32) is the
    other text's pooled embedding, filled in by `prepared`.
    """

    other_inputs: Any
    tokenizer: Any = None
    reference: np.ndarray | None = None
    takes_padding_mask = True

    @property
    def label(self) -> str:
        text = self.other_inputs if isinstance(self.other_inputs, str) else "inputs"
        return f"similarity with {reprlib.repr(text)}"

    def prepared(self, backbone, encode) -> SimilarityTarget:
        """This target with `reference` computed by `backbone`.

        `encode(inputs, tokenizer)` turns `other_inputs` into a dict of
        token_ids and padding_mask (`attribute` passes the one it uses, with
        its own tokenizer when this target has none).
        """
        other = encode(self.other_inputs, self.tokenizer)
        reference = reference_embedding(backbone, other)
        return dataclasses.replace(self, reference=reference)

    def rows(self, start: int, stop: int) -> SimilarityTarget:
        """This target for inputs `start:stop` of a longer list: with one
        reference per input, their references; with one shared, itself."""
        if self.reference is None or self.reference.shape[0] == 1:
            return self
        return dataclasses.replace(self, reference=self.reference[start:stop])

    def __call__(self, hidden, padding_mask):
        if self.reference is None:
            raise ValueError(
                "similarity_target: no reference embedding yet; allowed: pass it "
                "to distil_explorer.attribute, which prepares it with the backbone"
            )
        batch = hidden.shape[0]
        if self.reference.shape[0] not in (1, batch):
            raise ValueError(
                f"similarity_target: other_inputs has {self.reference.shape[0]} "
                f"sequences for {batch} inputs; allowed: 1, or one per input"
            )
        mask = ops.cast(padding_mask, "float32")[..., None]
        pooled = ops.sum(ops.cast(hidden, "float32") * mask, 1) / ops.sum(mask, 1)
        other = ops.convert_to_tensor(self.reference)
        dot = ops.sum(pooled * other, -1)
        norms = ops.sqrt(ops.sum(pooled * pooled, -1) * ops.sum(other * other, -1))
        return dot / norms


def cls_norm_target() -> ClsNormTarget:
    """A target: the norm of the [CLS] token's last hidden state.

    Examples:
    ```python
    a = distil_explorer.attribute(backbone, "The cat sat.",
                                  distil_explorer.cls_norm_target(),
                                  tokenizer=tokenizer)
    ```
    """
    return ClsNormTarget()


def similarity_target(other_inputs: Any, tokenizer: Any = None) -> SimilarityTarget:
    """A target: cosine similarity of mean-pooled embeddings with another text.

    This is how all-MiniLM-L6-v2 (the offline preset) embeds sentences, so
    attributing it answers "which words make these two sentences similar?".

    Args:
        other_inputs: the other text (a str, or one str per input), or a
            dict of token_ids and padding_mask, or an Encoding.
        tokenizer: a `DistilBertTokenizer` for text; None: the one given to
            `attribute`.

    Examples:
    ```python
    target = distil_explorer.similarity_target("A kitten rests on a rug.")
    a = distil_explorer.attribute(backbone, "The cat sat on the mat.", target,
                                  tokenizer=tokenizer)
    ```
    """
    return SimilarityTarget(other_inputs, tokenizer)
