"""`Attribution`: token attributions of one target, a frozen numpy value.

`attribute` (in `driver`) makes it; nothing here imports a framework.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer._internal.frozen import freeze_arrays, token_rows

METHODS = ("gradient_x_input", "integrated_gradients", "attention_x_gradient")
BASELINES = ("pad", "zero")


@dataclasses.dataclass(frozen=True, eq=False)
class Attribution:
    """Token attributions of one target, as numpy.

    Attributes:
        scores: float32 (B, T). One number per token; padding is exactly 0.
        method: "gradient_x_input", "integrated_gradients" or
            "attention_x_gradient".
        target_value: float32 (B,). The target on the input.
        baseline_value: float32 (B,). The target on the baseline (the same
            for every method, so `delta` reads the same).
        token_ids: int32 (B, T).
        padding_mask: int32 (B, T).
        tokens: the token strings per row, when the input was text.
        target: a label for the target, e.g. "[CLS] norm".
        steps: int. Integration steps (integrated gradients; 1 otherwise).
        baseline: "pad" or "zero".
        backend: the Keras backend it ran on.

    Examples:
    ```python
    a = distil_explorer.attribute(backbone, "The cat sat.", target,
                                  tokenizer=tokenizer)
    a.scores[0]  # one number per token
    a.delta  # scores.sum(-1) - (target_value - baseline_value)
    ```
    """

    scores: np.ndarray
    method: str
    target_value: np.ndarray
    baseline_value: np.ndarray
    token_ids: np.ndarray
    padding_mask: np.ndarray
    tokens: tuple[tuple[str, ...], ...] | None = None
    target: str = ""
    steps: int = 1
    baseline: str = "pad"
    backend: str = ""

    def __post_init__(self) -> None:
        arrays = {
            "scores": np.asarray(self.scores, np.float32),
            "target_value": np.asarray(self.target_value, np.float32),
            "baseline_value": np.asarray(self.baseline_value, np.float32),
            "token_ids": np.asarray(self.token_ids, np.int32),
            "padding_mask": np.asarray(self.padding_mask, np.int32),
        }
        if arrays["scores"].ndim != 2:
            raise ValueError(f"scores shape={arrays['scores'].shape}: allowed: (B, T)")
        batch, length = arrays["scores"].shape
        for name in ("token_ids", "padding_mask"):
            if arrays[name].shape != (batch, length):
                raise ValueError(
                    f"{name} shape={arrays[name].shape}: allowed: ({batch}, {length}),"
                    " like scores"
                )
        for name in ("target_value", "baseline_value"):
            if arrays[name].shape != (batch,):
                raise ValueError(
                    f"{name} shape={arrays[name].shape}: allowed: ({batch},)"
                )
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}: allowed: {', '.join(METHODS)}")
        freeze_arrays(self, arrays)
        if self.tokens is not None:
            tokens = token_rows(self.tokens, batch, length, "scores")
            object.__setattr__(self, "tokens", tokens)

    @property
    def delta(self) -> np.ndarray:
        """float32 (B,): `scores.sum(-1) - (target_value - baseline_value)`.

        Integrated gradients is complete: its scores add up to what the
        words added, so `delta` is its integration error. The other methods
        make no such promise; their `delta` says how far they are from it.
        """
        total = self.scores.astype(np.float64).sum(-1)
        change = self.target_value.astype(np.float64) - self.baseline_value
        return (total - change).astype(np.float32)

    def real_tokens(self, index: int = 0) -> list[str]:
        """The token strings of sequence `index` without padding (ids as text
        when there are no strings)."""
        length = int(self.padding_mask[index].sum())
        if self.tokens is not None:
            return list(self.tokens[index][:length])
        return [str(int(i)) for i in self.token_ids[index][:length]]
