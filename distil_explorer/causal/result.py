"""`Patching`: which hidden state, at which layer and position, carries what a
target needs; a frozen numpy value made by `patch_activations`."""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer._internal.frozen import freeze_arrays


@dataclasses.dataclass(frozen=True, eq=False)
class Patching:
    """Activation patching (causal tracing) of one clean / corrupted pair.

    Attributes:
        effect: float32 (L + 1, T). Row l (0 = the embeddings' output),
            column t: (target(corrupted run with the clean hidden state l at
            position t patched in) - target(corrupted)) / (target(clean) -
            target(corrupted)). 1: that one state restores the clean value;
            0: it changes nothing. Padding columns are 0.
        clean_value: float. The target on the clean input.
        corrupted_value: float. The target on the corrupted input.
        clean_token_ids, corrupted_token_ids: int32 (T,).
        padding_mask: int32 (T,), shared by both.
        clean_tokens, corrupted_tokens: the token strings, when text was given.
        target: a label for the target, e.g. "[CLS] norm".
        backend: the Keras backend it ran on.
        ablated_heads: (layer, head) pairs switched off in every run
            (`patch_activations(..., ablate=...)`); () for the plain model.

    Examples:
    ```python
    p = distil_explorer.patch_activations(
        backbone, "The cat sat.", "The dog sat.",
        distil_explorer.cls_norm_target(), tokenizer=tokenizer)
    p.effect.shape  # (L + 1, T)
    ```
    """

    effect: np.ndarray
    clean_value: float
    corrupted_value: float
    clean_token_ids: np.ndarray
    corrupted_token_ids: np.ndarray
    padding_mask: np.ndarray
    clean_tokens: tuple[str, ...] | None = None
    corrupted_tokens: tuple[str, ...] | None = None
    target: str = ""
    backend: str = ""
    ablated_heads: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        effect = np.asarray(self.effect, np.float32)
        if effect.ndim != 2:
            raise ValueError(f"effect shape={effect.shape}: allowed: (L + 1, T)")
        length = effect.shape[1]
        arrays = {"effect": effect}
        for name in ("clean_token_ids", "corrupted_token_ids", "padding_mask"):
            arrays[name] = np.asarray(getattr(self, name), np.int32)
            if arrays[name].shape != (length,):
                raise ValueError(
                    f"{name} shape={arrays[name].shape}: allowed: ({length},), "
                    "one per column of effect"
                )
        freeze_arrays(self, arrays)
        for name in ("clean_value", "corrupted_value"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("clean_tokens", "corrupted_tokens"):
            tokens = getattr(self, name)
            if tokens is None:
                continue
            tokens = tuple(str(t) for t in tokens)
            if len(tokens) != length:
                raise ValueError(
                    f"{name}: {len(tokens)} strings for T={length}; allowed: "
                    "one per token"
                )
            object.__setattr__(self, name, tokens)
        pairs = tuple((int(a), int(b)) for a, b in self.ablated_heads)
        object.__setattr__(self, "ablated_heads", pairs)
