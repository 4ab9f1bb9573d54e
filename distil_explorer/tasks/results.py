"""What a task model predicts, as frozen numpy values (no keras here)."""

from __future__ import annotations

import dataclasses

import numpy as np


def _freeze(value, name: str, array: np.ndarray) -> None:
    view = array.view()
    view.flags.writeable = False
    object.__setattr__(value, name, view)


def _strings(rows) -> tuple[tuple[str, ...], ...] | None:
    if rows is None:
        return None
    return tuple(tuple(str(t) for t in row) for row in rows)


@dataclasses.dataclass(frozen=True, eq=False)
class MaskedPredictions:
    """The top-k tokens a masked LM predicts at each asked-for position.

    One entry per (sequence, position) pair, in row order then position
    order: a text with two [MASK]s gives two entries.

    Attributes:
        rows: int32 (N,). The sequence of each entry.
        positions: int32 (N,). Its position in that sequence.
        top_ids: int32 (N, k). Token ids, most probable first.
        probabilities: float32 (N, k). Their softmax probabilities.
        top_tokens: the token strings of `top_ids`, when a tokenizer was given.
        token_ids: int32 (B, T). The input.

    Examples:
    ```python
    p = distil_explorer.predict_masked(masked_lm, "The [MASK] sat.",
                                       tokenizer=tokenizer)
    p.top(0)  # [("cat", 0.41), ("dog", 0.12), ...]
    ```
    """

    rows: np.ndarray
    positions: np.ndarray
    top_ids: np.ndarray
    probabilities: np.ndarray
    token_ids: np.ndarray
    top_tokens: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        for name, dtype in (
            ("rows", np.int32),
            ("positions", np.int32),
            ("top_ids", np.int32),
            ("probabilities", np.float32),
            ("token_ids", np.int32),
        ):
            _freeze(self, name, np.asarray(getattr(self, name), dtype))
        entries = len(self.rows)
        if self.top_ids.shape != self.probabilities.shape or any(
            len(a) != entries for a in (self.positions, self.top_ids)
        ):
            raise ValueError(
                f"top_ids shape={self.top_ids.shape}, probabilities shape="
                f"{self.probabilities.shape}: allowed: both (N, k) with "
                f"N={entries} entries"
            )
        object.__setattr__(self, "top_tokens", _strings(self.top_tokens))

    def top(self, entry: int = 0) -> list[tuple[str, float]]:
        """(token, probability) pairs of one entry, most probable first (ids
        as text when there are no token strings)."""
        if not 0 <= entry < len(self.rows):
            raise ValueError(
                f"entry={entry}: out of range; allowed: 0 to {len(self.rows) - 1}"
            )
        names = (
            self.top_tokens[entry]
            if self.top_tokens is not None
            else [str(int(i)) for i in self.top_ids[entry]]
        )
        pairs = zip(names, self.probabilities[entry], strict=True)
        return [(name, float(p)) for name, p in pairs]


@dataclasses.dataclass(frozen=True, eq=False)
class ClassProbabilities:
    """A classifier's class probabilities per sequence, with the class names.

    Attributes:
        probabilities: float32 (B, num_classes). Softmax of the logits (or
            the model's own output when its activation makes one).
        logits: float32 (B, num_classes). Before any activation.
        class_names: one str per class ("LABEL_i" when the model has none).

    Examples:
    ```python
    c = distil_explorer.classify(classifier, "Not bad.", tokenizer=tokenizer)
    c.top(0)  # [("positive", 0.93), ("negative", 0.07)]
    c.predicted_names  # ("positive",)
    ```
    """

    probabilities: np.ndarray
    logits: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("probabilities", "logits"):
            _freeze(self, name, np.asarray(getattr(self, name), np.float32))
        names = tuple(str(n) for n in self.class_names)
        if self.probabilities.ndim != 2 or self.probabilities.shape[1] != len(names):
            raise ValueError(
                f"probabilities shape={self.probabilities.shape}: allowed: "
                f"(B, {len(names)}), one column per class name"
            )
        object.__setattr__(self, "class_names", names)

    @property
    def predicted(self) -> np.ndarray:
        """int (B,): the most probable class of each sequence."""
        return self.probabilities.argmax(-1)

    @property
    def predicted_names(self) -> tuple[str, ...]:
        """The most probable class's name, per sequence."""
        return tuple(self.class_names[i] for i in self.predicted)

    def top(self, index: int = 0) -> list[tuple[str, float]]:
        """(class name, probability) of sequence `index`, most probable first."""
        row = self.probabilities[index]
        return [(self.class_names[i], float(row[i])) for i in np.argsort(-row)]


@dataclasses.dataclass(frozen=True, eq=False)
class LayerPredictions:
    """The masked-LM head applied to every layer's hidden states (logit lens).

    Layer 0 is the embeddings output, layer L the last: its predictions are
    the model's own. Padding positions hold id -1, probability 0, rank -1.

    Attributes:
        top_ids: int32 (L + 1, B, T, k). Most probable first.
        probabilities: float32 (L + 1, B, T, k).
        actual_ids: int32 (B, T). The token each position is judged against:
            the one there, or the original one at a masked position.
        actual_rank: int32 (L + 1, B, T). How many tokens the head finds
            more probable than the actual one (0: it is the top-1).
        actual_probability: float32 (L + 1, B, T).
        padding_mask: int32 (B, T).
        tokens: the input's token strings, when the Trace has them.
        top_tokens: the strings of `top_ids` (nested L + 1, B, T, k), when a
            tokenizer was given.
        actual_tokens: the strings of `actual_ids` (nested B, T), when a
            tokenizer was given (at a masked position: the original token).

    Examples:
    ```python
    lens = distil_explorer.layer_predictions(masked_lm, trace, top_k=5)
    lens.top_ids[:, 0, 3, 0]  # top-1 token at position 3, layer by layer
    lens.actual_rank[:, 0, 3]  # where the real token ranks, by layer
    ```
    """

    top_ids: np.ndarray
    probabilities: np.ndarray
    actual_ids: np.ndarray
    actual_rank: np.ndarray
    actual_probability: np.ndarray
    padding_mask: np.ndarray
    tokens: tuple[tuple[str, ...], ...] | None = None
    top_tokens: tuple | None = None
    actual_tokens: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        for name, dtype in (
            ("top_ids", np.int32),
            ("probabilities", np.float32),
            ("actual_ids", np.int32),
            ("actual_rank", np.int32),
            ("actual_probability", np.float32),
            ("padding_mask", np.int32),
        ):
            _freeze(self, name, np.asarray(getattr(self, name), dtype))
        want = self.top_ids.shape
        if len(want) != 4 or self.probabilities.shape != want:
            raise ValueError(
                f"top_ids shape={want}, probabilities shape="
                f"{self.probabilities.shape}: allowed: both (L + 1, B, T, k)"
            )
        for name in ("actual_rank", "actual_probability"):
            if getattr(self, name).shape != want[:3]:
                raise ValueError(
                    f"{name} shape={getattr(self, name).shape}: allowed: {want[:3]}"
                )
        for name in ("actual_ids", "padding_mask"):
            if getattr(self, name).shape != want[1:3]:
                raise ValueError(
                    f"{name} shape={getattr(self, name).shape}: allowed: {want[1:3]}"
                )
        object.__setattr__(self, "tokens", _strings(self.tokens))
        object.__setattr__(self, "actual_tokens", _strings(self.actual_tokens))

    @property
    def num_layers(self) -> int:
        """L: the model's layers (the lens has L + 1 rows, embeddings first)."""
        return self.top_ids.shape[0] - 1
